"""The benchmark table as Sluice plans to read it, shared by the PostgreSQL CPU scripts
(postgres_driver_cpu, postgres_backend_cpu, postgres_stage_cpu, postgres_connectorx_ab):
the target a daemon would build for it, and the SELECT its reader would send."""

from __future__ import annotations

from typing import Any

from sluice.server.pipeline import database_source, postgres_reading, postgres_source
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.locations import PostgresAddress
from tests.servers.postgres import PostgresServer


def bench_target(server: PostgresServer, url: str) -> PostgresTarget:
    """The target of the `bench` table that benchmarks.postgres_source_bench._fill made
    at `url` on the test `server` (tests.servers.postgres)."""
    address = PostgresAddress("127.0.0.1", server.port, url.rsplit("/", 1)[1])
    profile = PostgresProfile(hosts=(f"127.0.0.1:{server.port}",), user=server.user)
    return PostgresTarget(address, "bench", profile)


def planned_read(target: PostgresTarget) -> tuple[Any, Any, str, list[Any]]:
    """(the planned read, its schema, its SELECT, the SELECT's parameters)."""
    read = database_source.plan_read("postgresql", str(target.address), "bench", "", (), target)
    schema = database_source.read_schema(read)
    sql, params = postgres_source.select_sql(
        read.server or target, database_source._pg_relation(read), list(schema.names()),
        read.order_by, database_source._pg_filters(read), 0,
    )  # fmt: skip
    return read, schema, sql, params


def planned_select(target: PostgresTarget) -> str:
    """The SELECT Sluice's reader sends for the whole table, its values inlined."""
    _, _, sql, params = planned_read(target)
    return postgres_reading.inline(sql, params)
