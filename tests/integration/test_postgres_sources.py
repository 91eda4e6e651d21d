"""PostgreSQL databases as sources, through a real daemon and a real PostgreSQL: every
mapped type round trips, the snapshot is recorded and holds against a writer, ids are
read by the database, bad inputs and server failures are named (never the password),
and a SIGKILLed export resumes exactly once."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from sluice.client import ExportClient
from sluice.client._errors import SluiceError
from sluice.server.pipeline.postgres_reading import read_frames
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.locations import PostgresAddress
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk, free_port, run_cli
from tests.integration.helpers import load_manifest, read_export, skipped_rows
from tests.interrupted_reads import BackgroundRead
from tests.servers.held_connections import HeldConnections, HeldStatement
from tests.servers.postgres import PostgresServer
from tests.stopped_reads import SLEEPING_RANGES
from tests.waiting import cancelled_within

pytestmark = pytest.mark.integration

PASSWORD = "s3cr3t-pg-Pa55"
PROFILE = "shop"

TYPES_DDL = """
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE everything (
    id int8 PRIMARY KEY,
    small int2, normal int4, flag bool, f4 float4, f8 float8,
    price numeric(12, 3), loose numeric, label varchar(20), body text, code char(3),
    raw bytea, day date, at_time time, naive timestamp, aware timestamptz,
    doc json, docb jsonb, ident uuid, span interval, tags text[], scores int4[],
    feeling mood
)
"""
AWARE = datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=UTC)
TYPE_ROW = (
    1, -7, 123456, True, 1.5, 2.25,
    Decimal("123456789.125"), Decimal("3.14159265358979323846264338327950288"),
    "label é", "body\nline", "abc",
    b"\x00\xff\x10", date(2024, 2, 29), clock(13, 14, 15, 500000),
    datetime(2024, 1, 2, 3, 4, 5, 6), AWARE,
    '{"b": 1, "a": [true, null]}', '{"z": 1, "a": "x"}',
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "1 year 2 mons 3 days 04:05:06.5", ["x", "y, z"], [1, None, 3],
    "busy",
)  # fmt: skip


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Iterator[tuple[PostgresServer, str]]:
    """A fresh database and its name; a login role `reader` with a password can read it,
    while the cluster's own (trust) role owns it."""
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    _require_password_for("reader", postgres_server)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') "
            "THEN CREATE ROLE reader LOGIN; END IF; END$$"
        )
        con.execute(f"ALTER ROLE reader PASSWORD '{PASSWORD}'".encode())
        con.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO reader")
    yield postgres_server, name


def _require_password_for(role: str, server: PostgresServer) -> None:
    """The test cluster trusts everyone; the `reader` role must give its password."""
    hba = server.workdir / "data" / "pg_hba.conf"
    line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(line + text)
        with psycopg.connect(server.url(), autocommit=True) as con:
            con.execute("SELECT pg_reload_conf()")


def _profile(port: int, **extra: Any) -> dict[str, object]:
    return {
        "kind": "postgresql",
        "hosts": [f"127.0.0.1:{port}"],
        "user": "reader",
        "password_ref": "env:TEST_PG_READER_PASSWORD",
        **extra,
    }


@pytest.fixture
def pg_daemon(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> Daemon:  # type: ignore[no-untyped-def]
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    profiles = {
        PROFILE: _profile(server.port),
        "slow": _profile(server.port, statement_timeout=0.3),
        "wrong": {**_profile(server.port), "password_ref": "env:TEST_PG_WRONG_PASSWORD"},
        "closed": _profile(0, hosts=[f"127.0.0.1:{_closed_port()}"]),
    }
    monkeypatch.setenv("TEST_PG_WRONG_PASSWORD", "not-" + PASSWORD)
    daemon: Daemon = daemon_factory("pg", batch_rows=1024, source_profiles=profiles)
    daemon.start()
    return daemon


_CLOSED = free_port()


def _closed_port() -> int:
    return _CLOSED


def _uri(pg: tuple[PostgresServer, str], port: int | None = None) -> str:
    server, name = pg
    return f"postgresql://127.0.0.1:{port or server.port}/{name}"


def _sql(pg: tuple[PostgresServer, str], *statements: str, rows: list[Any] | None = None) -> None:
    server, name = pg
    with psycopg.connect(server.url(name), autocommit=True) as con:
        for statement in statements:
            con.execute(statement.encode())


def _export(daemon: Daemon, uri: str, **options: Any) -> pb.Export:
    options.setdefault("source_profile", PROFILE)
    spec = ExportClient.build_spec(
        source=uri, to=str(daemon.exports), dataset=options.pop("dataset", "pg"), **options
    )
    with ExportClient(daemon.address) as client:
        return client.wait(client.create(spec).id, timeout=120)


def _rejected(daemon: Daemon, uri: str, **options: Any) -> tuple[str, str]:
    options.setdefault("source_profile", PROFILE)
    spec = ExportClient.build_spec(source=uri, to=str(daemon.exports), dataset="pg", **options)
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as caught:
        client.create(spec)
    return caught.value.code, str(caught.value)


def test_every_mapped_type_round_trips(pg_daemon: Daemon, pg: tuple[PostgresServer, str]) -> None:
    server, name = pg
    with psycopg.connect(server.url(name), autocommit=True) as con:
        con.execute(TYPES_DDL.encode())
        placeholders = ", ".join(["%s"] * len(TYPE_ROW))
        con.execute(f"INSERT INTO everything VALUES ({placeholders})".encode(), TYPE_ROW)
        con.execute(
            b"INSERT INTO everything (id) VALUES (2)"  # every other column NULL
        )
    finished = _export(pg_daemon, _uri(pg), table="public.everything", format="parquet")
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    exported = read_export(finished.manifest_uri)
    expected_types = {
        "id": pl.Int64, "small": pl.Int16, "normal": pl.Int32, "flag": pl.Boolean,
        "f4": pl.Float32, "f8": pl.Float64, "price": pl.Decimal(12, 3), "loose": pl.String,
        "label": pl.String, "body": pl.String, "code": pl.String, "raw": pl.Binary,
        "day": pl.Date, "at_time": pl.Time, "naive": pl.Datetime("us"),
        "aware": pl.Datetime("us", "UTC"), "doc": pl.String, "docb": pl.String,
        "ident": pl.String, "span": pl.String, "tags": pl.List(pl.String),
        "scores": pl.List(pl.Int32), "feeling": pl.String,
    }  # fmt: skip
    assert dict(exported.schema) == expected_types
    first = exported.row(0, named=True)
    assert first["price"] == Decimal("123456789.125")
    assert first["loose"] == "3.14159265358979323846264338327950288"  # exact text
    assert first["aware"] == AWARE
    assert first["naive"] == datetime(2024, 1, 2, 3, 4, 5, 6)
    assert first["raw"] == b"\x00\xff\x10"
    assert first["doc"] == '{"b": 1, "a": [true, null]}'  # json keeps its text
    assert first["docb"] == '{"a": "x", "z": 1}'  # jsonb's normal form
    assert first["ident"] == "12345678-1234-5678-1234-567812345678"
    assert first["span"] == "P1Y2M3DT4H5M6.5S"  # ISO 8601: months stay months
    assert first["tags"] == ["x", "y, z"] and first["scores"] == [1, None, 3]
    assert first["at_time"] == clock(13, 14, 15, 500000) and first["day"] == date(2024, 2, 29)
    assert first["feeling"] == "busy" and first["code"] == "abc" and first["f4"] == 1.5
    assert exported.row(1, named=True) == {n: (2 if n == "id" else None) for n in exported.columns}
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["source"]["format"] == "postgresql"
    assert manifest["source"]["uri"] == _uri(pg)
    assert manifest["source"]["order_by"] == ["id"]
    snapshot = manifest["source"]["snapshot"]
    assert snapshot["snapshot"].count(":") == 2  # xmin:xmax:xip-list
    assert datetime.fromisoformat(snapshot["database_time"]).tzinfo is not None
    types = {f["name"]: f["type"] for f in manifest["schema"]}
    assert types["price"] == "decimal128(12, 3)"
    assert types["aware"].startswith("timestamp[us, tz=UTC")
    assert PASSWORD not in Path(pg_daemon.log_path).read_text()


def _make_events(pg: tuple[PostgresServer, str], rows: int) -> None:
    _sql(
        pg,
        "CREATE TABLE events (id int8 PRIMARY KEY, user_id int4, name text, at timestamptz)",
        f"INSERT INTO events SELECT g, g % 10, 'name ' || g, "
        f"timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' "
        f"FROM generate_series(0, {rows - 1}) g",
        "CREATE INDEX ON events (user_id)",
        "ANALYZE events",
    )


def _refused_value(daemon: Daemon, uri: str, **options: Any) -> str:
    """The message of an export that fails on a value the export cannot hold."""
    with pytest.raises(SluiceError) as caught:
        _export(daemon, uri, **options)
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    return str(caught.value)


def test_infinite_times_and_dates_are_refused_naming_column_and_row(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """'infinity' and '-infinity' (a common "valid until forever") have no Arrow time or
    date: they were written as wrapped numbers (infinity sorting before -infinity), and
    failed INTERNAL in text formats. The export fails naming the column and the row; the
    query the message suggests reads them as NULL."""
    _sql(
        pg,
        "CREATE TABLE contracts (id int PRIMARY KEY, valid_to timestamptz, ends date, "
        "naive timestamp, stamps timestamptz[])",
        "INSERT INTO contracts VALUES (1, '2030-01-01', '2030-01-01', '2030-01-01', "
        "'{2030-01-01}'), (2, 'infinity', '-infinity', '-infinity', "
        "'{2030-01-01,infinity}'), (3, '2031-01-01', NULL, NULL, NULL)",
    )
    for column, fmt in [("valid_to", "parquet"), ("valid_to", "jsonl"), ("ends", "csv"),
                        ("naive", "parquet"), ("stamps", "parquet")]:  # fmt: skip
        message = _refused_value(
            pg_daemon, _uri(pg), table="contracts", columns=["id", column], format=fmt
        )
        assert f"column {column!r}, row 2:" in message, message
        assert "infinity" in message and "isfinite" in message, message
    query = "SELECT id, CASE WHEN isfinite(valid_to) THEN valid_to END AS valid_to FROM contracts"
    done = _export(pg_daemon, _uri(pg), query=query, order_by=["id"], format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["valid_to"].to_list() == [
        datetime(2030, 1, 1, tzinfo=UTC), None, datetime(2031, 1, 1, tzinfo=UTC)
    ]  # fmt: skip


def test_an_infinite_cursor_fails_naming_the_column_not_internal(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    _sql(
        pg,
        "CREATE TABLE subs (id int PRIMARY KEY, updated_at timestamptz)",
        "INSERT INTO subs SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute' "
        "FROM generate_series(1, 5) g",
        "INSERT INTO subs VALUES (99, 'infinity')",
    )
    message = _refused_value(
        pg_daemon, _uri(pg), table="subs", format="parquet",
        incremental=pb.Incremental(mode="full", cursor="updated_at"),
    )  # fmt: skip
    assert "column 'updated_at', row 6:" in message, message


def test_time_24_00_is_refused_and_a_scale_above_the_precision_is_read(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """time '24:00:00' is past any time of day Arrow holds (it became NULL); numeric(2,5)
    (scale above precision, PostgreSQL 15) was planned as Decimal(2,5), which no value
    fits: it is Decimal(5,5)."""
    _sql(
        pg,
        "CREATE TABLE edge (id int PRIMARY KEY, closes time, tiny numeric(2,5))",
        "INSERT INTO edge VALUES (1, '23:59:59.999999', 0.00012), (2, '24:00:00', -0.00099)",
    )
    message = _refused_value(pg_daemon, _uri(pg), table="edge", columns=["id", "closes"])
    assert "column 'closes', row 2:" in message and "24:00:00" in message, message
    done = _export(pg_daemon, _uri(pg), table="edge", columns=["id", "tiny"], format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    exported = read_export(done.manifest_uri)
    assert exported.schema["tiny"] == pl.Decimal(5, 5)
    assert exported["tiny"].to_list() == [Decimal("0.00012"), Decimal("-0.00099")]


def test_multi_dimensional_arrays_and_other_lower_bounds_are_refused(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A list holds one dimension from 1: '{{1,2},{3,4}}' was flattened to [1,2,3,4] and
    '[0:2]={7,8,9}' lost its bounds. The export fails naming the column and the row."""
    _sql(
        pg,
        "CREATE TABLE grids (id int PRIMARY KEY, cells int4[], pairs text[], "
        "prices numeric(6,2)[], lb int4[])",
        "INSERT INTO grids VALUES (1, '{1,2}', '{a}', '{1.5}', '{7}'), (2, '{}', '{}', "
        "'{}', '{}'), (3, '{{1,2},{3,4}}', '{{a,b},{c,d}}', '{{1.5,2},{3,4}}', "
        "'[0:2]={7,8,9}')",
    )
    for column in ("cells", "pairs", "prices", "lb"):
        message = _refused_value(
            pg_daemon, _uri(pg), table="grids", columns=["id", column], format="parquet"
        )
        assert f"column {column!r}, row 3:" in message and "dimension" in message, message
    _sql(pg, "DELETE FROM grids WHERE id = 3")
    done = _export(pg_daemon, _uri(pg), table="grids", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["cells"].to_list() == [[1, 2], []]


def test_a_primary_key_with_inheritance_children_is_not_taken_as_unique(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A parent's primary key does not cover its inheritance children's rows (a SELECT
    reads both): ids repeat, so the key is not proof that the order never ties; the
    reader checks the keys instead and fails on the tie, naming the children and the
    query that tells their rows apart (which exports them all)."""
    _sql(
        pg,
        "CREATE TABLE measurements (id int8 PRIMARY KEY, v int)",
        "CREATE TABLE measurements_2023 () INHERITS (measurements)",
        "CREATE TABLE measurements_2024 () INHERITS (measurements)",
        "INSERT INTO measurements VALUES (1, 10), (2, 20)",
        "INSERT INTO measurements_2023 VALUES (1, 11), (2, 21)",
    )
    hint = (
        "inheritance children (measurements_2023, measurements_2024)",
        '--query "SELECT tableoid::regclass::text AS part, * FROM measurements"',
        '" --order-by part,id (spec.source.query',
    )
    message = _refused_value(pg_daemon, _uri(pg), table="measurements", format="parquet")
    assert "spec.source.order_by (id) is not unique" in message, message
    assert all(part in message for part in hint), message
    code, message = _rejected(pg_daemon, _uri(pg), table="measurements", order_by=["id"])
    assert code == "FAILED_PRECONDITION" and "not unique" in message, message
    assert all(part in message for part in hint), message
    done = run_cli(
        pg_daemon,
        "export", "create", "--source", _uri(pg), "--source-profile", PROFILE,
        "--to", str(pg_daemon.exports), "--dataset", "inherited", "--format", "parquet",
        "--query", "SELECT tableoid::regclass::text AS part, * FROM measurements",
        "--order-by", "part,id", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = sorted((pg_daemon.exports / "inherited").glob("*/manifest.json"))[-1]
    assert read_export(f"file://{manifest}").rows() == [
        ("measurements", 1, 10), ("measurements", 2, 20),
        ("measurements_2023", 1, 11), ("measurements_2023", 2, 21),
    ]  # fmt: skip
    _sql(pg, "DELETE FROM measurements_2023")
    done = _export(pg_daemon, _uri(pg), table="measurements", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["id"].to_list() == [1, 2]


def test_query_and_where_through_the_cli(pg_daemon: Daemon, pg: tuple[PostgresServer, str]) -> None:
    _make_events(pg, 100)
    done = run_cli(
        pg_daemon,
        "export", "create", "--source", _uri(pg), "--source-profile", PROFILE,
        "--to", str(pg_daemon.exports), "--dataset", "q",
        "--query", "SELECT id, name FROM events WHERE name LIKE 'name 9%';",
        "--order-by", "id", "--format", "parquet", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifests = sorted((pg_daemon.exports / "q").glob("*/manifest.json"))
    exported = read_export(f"file://{manifests[-1]}")
    assert exported["id"].to_list() == [9, *list(range(90, 100))]
    assert exported.columns == ["id", "name"]


def test_ids_are_read_by_the_database(pg_daemon: Daemon, pg: tuple[PostgresServer, str]) -> None:
    _make_events(pg, 500)
    finished = _export(pg_daemon, _uri(pg), table="events", ids=["7", "3", "444"])
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert read_export(finished.manifest_uri)["id"].to_list() == [3, 7, 444]
    # Pushed down: the database handed over three rows, not the table.
    assert finished.progress.source_rows_done == 3


def test_progress_totals_are_the_planners_estimate(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    # The total comes from EXPLAIN (no COUNT(*) scan before the read): exact for an
    # analyzed unchanged table, and for ids on the primary key.
    _make_events(pg, 500)
    before = _scans_settled(pg, "events")
    finished = _export(pg_daemon, _uri(pg), table="events")
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    # The export scanned the table only to read it (the statistics of a backend are
    # flushed when it ends, at most a second after its connection closed): the key's
    # min and max (two index scans) and one scan per key range, one range for each of
    # the default two read connections. A COUNT(*) before the read would be a fifth.
    assert _scans_settled(pg, "events") - before == 2 + 2
    assert finished.progress.source_rows_total == 500
    assert finished.progress.source_rows_done == 500
    finished = _export(pg_daemon, _uri(pg), table="events", ids=["7", "3", "444"])
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert finished.progress.source_rows_total == 3


def _scans_settled(pg: tuple[PostgresServer, str], table: str) -> int:
    """Sequential plus index scans of `table` so far, once the count stopped changing."""
    server, name = pg
    seen: list[int] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(seen) < 3 or len(set(seen[-3:])) > 1):
        with psycopg.connect(server.url(name), autocommit=True) as con:
            row = con.execute(
                "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                "WHERE relname = %s",
                (table,),
            ).fetchone()
        seen.append(int(row[0]) if row else 0)
        time.sleep(0.5)
    return seen[-1]


def test_a_time_range_is_read_by_the_database(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    _make_events(pg, 500)  # one row a minute from 2024-01-01 00:00 UTC
    finished = _export(
        pg_daemon, _uri(pg), table="events",
        since=datetime(2024, 1, 1, 1, tzinfo=UTC), until=datetime(2024, 1, 1, 2, tzinfo=UTC),
        time_column="at",
    )  # fmt: skip
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(60, 120))
    assert finished.progress.source_rows_done == 60


def test_simple_where_terms_are_read_by_the_database(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    _make_events(pg, 500)  # user_id = id % 10, indexed
    finished = _export(pg_daemon, _uri(pg), table="events", where="user_id = 3 AND id >= 100")
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(103, 500, 10))
    assert finished.progress.source_rows_done == 40  # read by the database: 40 rows
    # An OR is evaluated by the pipeline alone: the same rows, the whole table read.
    finished = _export(pg_daemon, _uri(pg), table="events", where="user_id = 3 OR id < 0")
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(3, 500, 10))
    assert finished.progress.source_rows_done == 494  # position of the last match + 1


def test_bad_inputs_are_named(pg_daemon: Daemon, pg: tuple[PostgresServer, str]) -> None:
    _make_events(pg, 10)
    _sql(pg, "CREATE TABLE hidden (id int PRIMARY KEY)", "REVOKE ALL ON hidden FROM reader")
    server, name = pg
    uri = _uri(pg)
    invalid = "INVALID_ARGUMENT"
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (f"postgresql://reader:{PASSWORD}@127.0.0.1:{server.port}/{name}", {"table": "events"},
         invalid, "password_ref"),
        (uri + "?sslmode=disable", {"table": "events"}, invalid, "spec.source.uri"),
        (uri, {"table": "events", "source_profile": ""}, invalid, "spec.source.profile"),
        (uri, {"table": "events", "source_profile": "ghost"}, invalid, "unknown source profile"),
        (_uri(pg, port=1), {"table": "events"}, invalid, "may not be used for"),
        (uri, {}, invalid, "spec.source.table"),
        (uri, {"table": "nope"}, invalid, "no table 'nope'"),
        (uri, {"table": "events", "columns": ["ghost"]}, invalid, "ghost"),
        (uri, {"table": "events", "order_by": ["ghost"]}, invalid, "spec.source.order_by"),
        (uri, {"query": "DELETE FROM events", "order_by": ["id"]}, invalid, "spec.source.query"),
        (uri, {"query": "SELECT 1; DROP TABLE events", "order_by": ["id"]}, invalid, "query"),
        (uri, {"query": "SELECT ghost FROM events", "order_by": ["id"]}, invalid, "ghost"),
        (uri, {"query": "SELECT * FROM events"}, "FAILED_PRECONDITION", "order_by"),
        (uri, {"table": "hidden"}, "PERMISSION_DENIED", "permission denied"),
        (uri, {"table": "events", "source_profile": "wrong"}, "FAILED_PRECONDITION",
         "refused the source profile's credentials"),
        (_uri(pg, port=_closed_port()), {"table": "events", "source_profile": "closed"},
         "UNAVAILABLE", "unreachable"),
    ]  # fmt: skip
    for source, options, code, named in cases:
        got, message = _rejected(pg_daemon, source, **options)
        assert (got, named in message) == (code, True), (options, message)
        assert PASSWORD not in message
    assert PASSWORD not in Path(pg_daemon.log_path).read_text()
    # The table is still there: nothing above wrote.
    assert _export(pg_daemon, uri, table="events").state == pb.EXPORT_STATE_SUCCEEDED


def test_a_query_is_one_read_only_select_refused_before_the_database(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """PostgreSQL's own parser checks a query before any of it is sent: the database's
    log (it logs every statement that fails) never sees the refused ones."""
    _make_events(pg, 10)
    server, _ = pg
    marker = "marker_7f3a"
    cases = [
        (f"SELECT 1 AS id; DELETE FROM events WHERE name = '{marker}'", "one statement"),
        (f"SELECT id FROM events;;DROP TABLE {marker}", "one statement"),
        (f"WITH gone AS (DELETE FROM events RETURNING id AS {marker}) SELECT id FROM gone",
         "only read"),
        (f"SELECT id INTO {marker} FROM events", "SELECT INTO"),
        (f"SELECT id AS {marker} FROM events FOR UPDATE", "lock"),
        (f"SELECT id AS {marker} FROM", "not valid PostgreSQL SQL"),
    ]  # fmt: skip
    for query, says in cases:
        code, message = _rejected(pg_daemon, _uri(pg), query=query, order_by=["id"])
        assert (code, "spec.source.query" in message, says in message) == (
            "INVALID_ARGUMENT",
            True,
            True,
        ), (query, message)
    assert marker not in (server.workdir / "server.log").read_text()
    assert _export(pg_daemon, _uri(pg), table="events").state == pb.EXPORT_STATE_SUCCEEDED


def test_an_incremental_query_needs_a_look_back(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A query's rows carry no xmin, so late commits below the watermark can only be
    caught by a look-back (a safety lag): without one, INVALID_ARGUMENT naming it."""
    _make_events(pg, 10)
    query = "SELECT id, at FROM events"
    for mode in ("full", "incremental"):
        finished = _export(
            pg_daemon, _uri(pg), query=query, order_by=["id"], dataset="q",
            incremental=pb.Incremental(mode=mode, cursor="at", lookback_seconds=60),
        )  # fmt: skip
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    code, message = _rejected(
        pg_daemon, _uri(pg), query=query, order_by=["id"],
        incremental=pb.Incremental(mode="incremental", cursor="at"),
    )  # fmt: skip
    assert code == "INVALID_ARGUMENT" and "spec.incremental.lookback" in message, message


def test_a_statement_timeout_fails_the_export_naming_it(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    query = "SELECT g AS id, pg_sleep(0.05) AS slept FROM generate_series(1, 40) g"
    with pytest.raises(SluiceError) as caught:
        _export(pg_daemon, _uri(pg), query=query, order_by=["id"], source_profile="slow")
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "statement_timeout" in str(caught.value) and _uri(pg) in str(caught.value)


def test_a_statement_timeout_while_rows_stream_is_named(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """The timeout strikes while the COPY streams rows (a sleep at row 15,000 of wide
    rows): FAILED_PRECONDITION naming statement_timeout, not retried as a lost
    connection (which would only time out again)."""
    query = (
        "SELECT g AS id, repeat('x', 400) AS pad,"
        " pg_sleep(CASE WHEN g = 15000 THEN 1 ELSE 0 END) AS slept"
        " FROM generate_series(1, 60000) g"
    )
    with pytest.raises(SluiceError) as caught:
        _export(pg_daemon, _uri(pg), query=query, order_by=["id"], source_profile="slow")
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "statement_timeout" in str(caught.value) and _uri(pg) in str(caught.value)


BIG = 60_000
#: Rows of the table read during writes: about 50 MB of heap, so 6 or more key ranges
#: of RANGE_BYTES on 2 connections. The first connection can read ahead into its second
#: range at most (2 batches) while the consumer waits for the held second connection's
#: first range, so its third range is read after the writes: READ COMMITTED there shows.
FROZEN_ROWS = 120_000


@pytest.mark.slow
def test_rows_committed_during_an_export_are_not_in_it(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """One snapshot per run, on every connection: inserts, updates and deletes committed
    after the run took its snapshot, in every key range, are all out of the export,
    which equals the table as of that snapshot. They are committed while the run's
    second read connection is held before it reaches the server (a proxy holds every
    connection opened after pg_export_snapshot): a connection reading in a snapshot of
    its own (not adopting the exported one), or any statement reading READ COMMITTED,
    would see them, however fast or slow the machine."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    _sql(
        pg,
        "CREATE TABLE frozen (id int8 PRIMARY KEY, n int4 NOT NULL, body text)",
        # Even keys only: the writes insert odd keys inside every range.
        f"INSERT INTO frozen SELECT g * 2, 0, repeat('z', 400) "
        f"FROM generate_series(0, {FROZEN_ROWS - 1}) g",
        "ANALYZE frozen",
    )
    last = (FROZEN_ROWS - 1) * 2
    spread = range(1_000, last, 7_918)  # even keys in every range
    with HeldConnections(server.port, b"pg_export_snapshot") as gate:
        profile = _profile(0, hosts=[f"127.0.0.1:{gate.port}"])
        daemon = daemon_factory(
            "frozen", batch_rows=1024, postgres_read_connections=2,
            source_profiles={PROFILE: profile},
        )  # fmt: skip
        daemon.start()
        spec = ExportClient.build_spec(
            source=_uri(pg, gate.port), source_profile=PROFILE, table="frozen", level=1,
            chunk_rows=10_000, to=str(daemon.exports), dataset="frozen",
        )  # fmt: skip
        with ExportClient(daemon.address) as client:
            export_id = client.create(spec).id
            assert gate.marked.wait(60), "the run never exported its snapshot"
            _sql(
                pg,
                "INSERT INTO frozen VALUES (-7, 1, 'new'), "
                + ", ".join(f"({key + 1}, 1, 'new')" for key in spread)
                + f", ({last + 9}, 1, 'new')",
                "UPDATE frozen SET n = 1, body = 'changed' WHERE id IN "
                f"({', '.join(str(key + 2) for key in spread)})",
                f"DELETE FROM frozen WHERE id IN ({', '.join(str(key) for key in spread)})",
            )
            gate.release()
            finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    # The test's own premise: ranges on both connections, the second one opened after
    # the snapshot was exported (so it ran no statement before the writes).
    log = daemon.log_tail(400)
    ranges = re.search(r"reading \S+ in (\d+) key ranges on 2 connections", log)
    assert ranges is not None and int(ranges[1]) >= 6, log
    assert gate.opened_after_marker >= 1
    with psycopg.connect(server.url(pg[1])) as con:
        now = con.execute("SELECT count(*), sum(n) FROM frozen").fetchone()
    assert now == (FROZEN_ROWS + 2, 2 * len(spread) + 2), "the writes did not land"
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(0, last + 1, 2))
    assert exported["n"].unique().to_list() == [0]
    assert exported["body"].unique().to_list() == ["z" * 400]


@pytest.mark.slow
def test_rows_committed_between_the_snapshot_and_the_read_of_a_one_connection_run_are_not_in_it(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A run reading on one connection takes its snapshot with its first statement (the
    one the manifest records) and reads with a later COPY: writes committed between the
    two, while a proxy holds the COPY before it reaches the server, are out of the
    export. A transaction that is not REPEATABLE READ would read them at the COPY."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    _sql(
        pg,
        "CREATE TABLE frozen1 (id int8 PRIMARY KEY, n int4 NOT NULL)",
        "INSERT INTO frozen1 SELECT g * 2, 0 FROM generate_series(0, 999) g",
    )
    with HeldStatement(server.port, b"TO STDOUT") as gate:
        daemon = daemon_factory(
            "frozen1", postgres_read_connections=1,
            source_profiles={PROFILE: _profile(gate.port)},
        )  # fmt: skip
        daemon.start()
        spec = ExportClient.build_spec(
            source=_uri(pg, gate.port), source_profile=PROFILE, table="frozen1",
            to=str(daemon.exports), dataset="frozen1",
        )  # fmt: skip
        with ExportClient(daemon.address) as client:
            export_id = client.create(spec).id
            assert gate.marked.wait(60), "the run never sent its COPY"
            _sql(
                pg,
                "INSERT INTO frozen1 VALUES (1, 1), (5001, 1)",
                "UPDATE frozen1 SET n = 1 WHERE id = 10",
                "DELETE FROM frozen1 WHERE id = 20",
            )
            gate.release()
            finished = client.wait(export_id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    with psycopg.connect(server.url(pg[1])) as con:
        now = con.execute("SELECT count(*), sum(n) FROM frozen1").fetchone()
    assert now == (1001, 3), "the writes did not land"
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(0, 2000, 2))
    assert exported["n"].unique().to_list() == [0]


@pytest.mark.slow
def test_sigkill_mid_export_resumes_after_the_last_key_exactly_once(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    slow = daemon_factory(
        "slow", batch_rows=1024, pipeline_queue_depth=2,
        source_profiles={PROFILE: _profile(server.port)},
    )  # fmt: skip
    slow.start()
    _make_events(pg, BIG)
    spec = ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, table="events",
        to=str(slow.exports), dataset="big", level=15, chunk_rows=3000,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 2)
    # Between the runs, rows below the resume position go and come: a resume by row
    # position (OFFSET) would now skip 100 rows; by key (WHERE id > last id) none.
    _sql(pg, "DELETE FROM events WHERE id < 100", "INSERT INTO events (id) VALUES (-5)")
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert "resumes after chunk" in slow.log_tail(400)
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(BIG))
    assert load_manifest(finished.manifest_uri)["totals"]["records"] == BIG


#: Key types beside int8, each with values whose order follows n (uuid's does not):
#: microseconds, negative numbers and trailing zeros included.
KEY_TYPES = {
    "timestamptz": "timestamptz '2024-01-01 00:00:00.5+00' + n * interval '1.000001 second'",
    "timestamp": "timestamp '1999-12-31 23:00:00' + n * interval '0.100001 second'",
    "time": "time '00:00:00' + n * interval '2.000010 second'",
    "numeric(20, 6)": "(n - 5000) * 1.100000",
    "numeric": "(n - 5000) / 7.0",
    "uuid": "md5(n::text)::uuid",
}
KEYED_ROWS = 24_000


@pytest.mark.slow
@pytest.mark.parametrize("key_type", list(KEY_TYPES))
def test_sigkill_mid_export_resumes_after_a_key_of_any_type_exactly_once(
    daemon_factory,
    pg: tuple[PostgresServer, str],
    monkeypatch: pytest.MonkeyPatch,
    key_type: str,
) -> None:  # type: ignore[no-untyped-def]
    """The resumed run reads `WHERE key > last key` with the journalled key read back as
    its own type (times, decimals, uuids), so every row comes once."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    slow = daemon_factory(
        "slow", batch_rows=1024, pipeline_queue_depth=2,
        source_profiles={PROFILE: _profile(server.port)},
    )  # fmt: skip
    slow.start()
    _sql(
        pg,
        f"CREATE TABLE keyed (k {key_type} PRIMARY KEY, n int8 NOT NULL)",
        f"INSERT INTO keyed SELECT {KEY_TYPES[key_type]}, n "
        f"FROM generate_series(0, {KEYED_ROWS - 1}) n",
    )
    spec = ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, table="keyed",
        to=str(slow.exports), dataset="keyed", level=15, chunk_rows=2000,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 1)
    # The first 100 keys go: a resume by row position would now skip 100 rows.
    _sql(pg, "DELETE FROM keyed WHERE k IN (SELECT k FROM keyed ORDER BY k LIMIT 100)")
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert "resumes after chunk" in slow.log_tail(400)
    # In key order, which is n's order for every type but uuid.
    exported = read_export(finished.manifest_uri)["n"].to_list()
    assert (sorted(exported) if key_type == "uuid" else exported) == list(range(KEYED_ROWS))


@pytest.mark.parametrize("lookback", [0, 30])
def test_a_row_committed_late_below_the_watermark_is_in_the_next_export(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str], lookback: int
) -> None:
    """A transaction opens before export N and inserts a row whose cursor is below N's
    watermark, then commits after N: N+1 holds it (the parent's snapshot did not see it),
    with and without a look-back."""
    server, name = pg
    _sql(
        pg,
        "CREATE TABLE orders (id int8 PRIMARY KEY, updated_at timestamptz NOT NULL)",
        "INSERT INTO orders SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval "
        "'1 minute' FROM generate_series(1, 10) g",
    )
    late = psycopg.connect(server.url(name))  # a long transaction, open across export N
    late.execute("INSERT INTO orders VALUES (100, timestamptz '2024-01-01 00:05+00')")

    def export(mode: str) -> pb.Export:
        incremental = pb.Incremental(mode=mode, cursor="updated_at", lookback_seconds=lookback)
        return _export(
            pg_daemon, _uri(pg), table="orders", dataset="orders", incremental=incremental
        )

    first = export("full")
    assert first.state == pb.EXPORT_STATE_SUCCEEDED, first.error
    assert read_export(first.manifest_uri)["id"].to_list() == list(range(1, 11))
    late.commit()
    late.close()
    _sql(pg, "INSERT INTO orders VALUES (101, timestamptz '2024-01-01 00:11+00')")
    second = export("incremental")
    assert second.state == pb.EXPORT_STATE_SUCCEEDED, second.error
    expected = [100, 101] if not lookback else [10, 100, 101]
    assert sorted(read_export(second.manifest_uri)["id"].to_list()) == expected
    watermark = load_manifest(second.manifest_uri)["watermark"]
    assert watermark["value"].startswith("2024-01-01T00:11")
    # And nothing is taken twice from here on: a third export is empty (no look-back).
    if not lookback:
        third = export("incremental")
        assert third.state == pb.EXPORT_STATE_SUCCEEDED, third.error
        assert load_manifest(third.manifest_uri)["totals"]["records"] == 0


WIDE_ROWS = 200_000


def _wide_table_spec(pg: tuple[PostgresServer, str], daemon: Daemon, dataset: str) -> pb.ExportSpec:
    """A table `wide` of WIDE_ROWS rows (int8 key, 120-char text) and the spec of its
    export in 10,000-row chunks: about a second of reading, in four key ranges."""
    _sql(
        pg,
        "CREATE TABLE wide (id int8 PRIMARY KEY, body text)",
        f"INSERT INTO wide SELECT g, repeat('x', 120) FROM generate_series(0, {WIDE_ROWS - 1}) g",
    )
    return ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, table="wide", level=1, chunk_rows=10_000,
        to=str(daemon.exports), dataset=dataset,
    )  # fmt: skip


def _range_reads(admin: psycopg.Connection[Any], application_name: str) -> list[int]:
    """The backends (oldest first) reading key ranges for `application_name`: the
    ranges' COPYs, not the plan's or the snapshot's statements."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
        "AND query LIKE 'COPY (SELECT %%ORDER BY%%' ORDER BY backend_start",
        [application_name],
    ).fetchall()
    return [row[0] for row in rows]


@contextlib.contextmanager
def _frozen_while_reading(
    daemon: Daemon, admin: psycopg.Connection[Any], application_name: str, connections: int
) -> Iterator[list[int]]:
    """Once `connections` range reads are open, the daemon frozen (SIGSTOP) for the
    block, which gets their backends: the export cannot finish reading meanwhile,
    however busy the machine."""
    assert daemon.process is not None
    deadline = time.monotonic() + 60
    while len(_range_reads(admin, application_name)) < connections:
        assert time.monotonic() < deadline, "the reading connections never opened"
        time.sleep(0.005)
    daemon.process.send_signal(signal.SIGSTOP)
    try:
        yield _range_reads(admin, application_name)
    finally:
        daemon.process.send_signal(signal.SIGCONT)


@pytest.mark.slow
@pytest.mark.parametrize("connections", [1, 2])
def test_a_connection_lost_mid_export_is_retried_after_the_last_row(
    daemon_factory,
    pg: tuple[PostgresServer, str],
    monkeypatch: pytest.MonkeyPatch,
    connections: int,
) -> None:  # type: ignore[no-untyped-def]
    """The server ends a reading session mid-export (a failover, an admin): the read
    continues after the last row it handed on; every row once, the export succeeds and
    the daemon lives on. With 2 read connections, the one that joined the snapshot
    (reading the second and fourth key ranges) is the one lost, whether it is sending
    COPY data, blocked on a full socket, or idle between its ranges: ADBC drivers before
    1.11 aborted the whole daemon on some of those (apache/arrow-adbc#3878)."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    profile = _profile(server.port, application_name="sluice-lost")
    slow = daemon_factory(
        "lost", batch_rows=1024, pipeline_queue_depth=2, source_profiles={PROFILE: profile},
        postgres_read_connections=connections,
    )  # fmt: skip
    slow.start()
    spec = _wide_table_spec(pg, slow, "lost")
    with (
        ExportClient(slow.address) as client,
        psycopg.connect(server.url(), autocommit=True) as admin,
    ):
        export_id = client.create(spec).id
        with _frozen_while_reading(slow, admin, "sluice-lost", connections) as copying:
            assert len(copying) == connections, admin.execute(
                "SELECT pid, state, left(query, 60) FROM pg_stat_activity "
                "WHERE application_name = 'sluice-lost'"
            ).fetchall()
            ended = admin.execute("SELECT pg_terminate_backend(%s)", [copying[-1]]).fetchone()
            assert ended is not None and ended[0] is True
        try:
            finished = client.wait(export_id, timeout=120)
        except SluiceError:
            assert slow.process is not None and slow.process.poll() is None, (
                f"the daemon died: {slow.log_tail(3)}"
            )
            raise
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(WIDE_ROWS))
    assert exported["body"].str.len_chars().min() == 120
    assert "continuing after its last row" in slow.log_tail(400)


def _wait_for_a_chunk(client: ExportClient, export_id: str) -> None:
    deadline = time.monotonic() + 60
    while client.get(export_id).progress.chunks < 1:
        assert time.monotonic() < deadline, client.get(export_id)
        time.sleep(0.005)


#: Rows of `wide` ending 'infinity' (a value the export cannot hold): in the first
#: batch, spread over the read, and the last but one.
WIDE_BAD = {1, 2, *range(997, WIDE_ROWS, 9973), WIDE_ROWS - 2}


@pytest.mark.slow
def test_a_connection_lost_mid_export_under_skip_leaves_out_each_bad_row_once(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """on_bad_rows "skip" and a reading session ended mid-export: the read continues
    after the last row it handed on, and the bad rows before the break and after it are
    each left out and counted once; every other row is read back once."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    slow = daemon_factory(
        "lostskip", batch_rows=1024, pipeline_queue_depth=2,
        source_profiles={PROFILE: _profile(server.port, application_name="sluice-lostskip")},
    )  # fmt: skip
    slow.start()
    spec = _wide_table_spec(pg, slow, "lostskip")
    spec.source.on_bad_rows = "skip"
    _sql(
        pg,
        "ALTER TABLE wide ADD COLUMN ends date DEFAULT date '2030-01-01'",
        f"UPDATE wide SET ends = 'infinity' WHERE id IN ({', '.join(map(str, WIDE_BAD))})",
    )
    with (
        ExportClient(slow.address) as client,
        psycopg.connect(server.url(), autocommit=True) as admin,
    ):
        export_id = client.create(spec).id
        _wait_for_a_chunk(client, export_id)  # rows handed on before the break
        with _frozen_while_reading(slow, admin, "sluice-lostskip", 1):
            # The reading session, sending COPY data or between two key ranges.
            ended = admin.execute(
                "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'sluice-lostskip'"
            ).fetchone()
            assert ended is not None and ended[0] is True
        finished = client.wait(export_id, timeout=120)
    good = [i for i in range(WIDE_ROWS) if i not in WIDE_BAD]
    assert skipped_rows(finished) == len(WIDE_BAD)
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == good
    assert {str(day) for day in exported["ends"].to_list()} == {"2030-01-01"}
    retried = re.search(
        r"read failed at row (\d+) .*continuing after its last row", slow.log_tail(400)
    )
    assert retried is not None, slow.log_tail(20)
    # The rows handed on before the break: bad rows on both sides of it.
    last_before = good[int(retried.group(1)) - 1]
    assert min(WIDE_BAD) < last_before < max(WIDE_BAD), retried.group(0)


@pytest.mark.slow
def test_a_parallel_read_hands_on_the_rows_of_a_single_connection_read(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Several connections in one snapshot, reading key ranges: the same records in the
    same order as one connection (negative keys, gaps, a far outlier, a where filter,
    many chunks)."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    rows = 120_000
    _sql(
        pg,
        "CREATE TABLE spread (id int8 PRIMARY KEY, body text, n int4)",
        f"INSERT INTO spread SELECT g * 3 - 50000, repeat('y', g % 200), g % 7 "
        f"FROM generate_series(0, {rows - 2}) g",
        # A far outlier: ranges follow the key's histogram, not its min..max.
        "INSERT INTO spread VALUES (1000000000000000, 'far', 1)",
        "ANALYZE spread",
    )
    exported: dict[tuple[int, str], pl.DataFrame] = {}
    for connections in (1, 2, 3):
        daemon = daemon_factory(
            f"par{connections}", batch_rows=1024, postgres_read_connections=connections,
            source_profiles={PROFILE: _profile(server.port)},
        )  # fmt: skip
        daemon.start()
        for where in ("", "n <> 3"):
            finished = _export(
                daemon, _uri(pg), table="spread", where=where, chunk_rows=20_000,
                dataset=f"spread{connections}{where != ''}",
            )  # fmt: skip
            assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
            exported[connections, where] = read_export(finished.manifest_uri)
        # A query ordered by the same key is read on one connection: nothing proves a
        # query's key NOT NULL (a NULL key is in no range) or indexed.
        finished = _export(
            daemon, _uri(pg), query="SELECT id, body, n FROM spread WHERE n <> 3",
            order_by=["id"], chunk_rows=20_000, dataset=f"query{connections}",
        )  # fmt: skip
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        exported[connections, "query"] = read_export(finished.manifest_uri)
        if connections > 1:
            log = daemon.log_tail(400)
            assert log.count(f"key ranges on {connections} connections") == 2, log
        daemon.stop()
    for where, expected in (("", rows), ("n <> 3", rows - len(range(3, rows - 1, 7)))):
        single = exported[1, where]
        assert single.height == expected
        assert single["id"].is_sorted()
        for connections in (2, 3):
            assert exported[connections, where].equals(single)
    for connections in (1, 2, 3):
        assert exported[connections, "query"].equals(exported[1, "n <> 3"])


def test_a_cancelled_parallel_read_closes_every_connection(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Cancelled mid-read, an export reading on 2 connections closes both: no session of
    its application_name is left on the server."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    profile = _profile(server.port, application_name="sluice-cancel")
    slow = daemon_factory(
        "cancel", batch_rows=1024, pipeline_queue_depth=1, source_profiles={PROFILE: profile},
        postgres_read_connections=2,
    )  # fmt: skip
    slow.start()
    _sql(
        pg,
        "CREATE TABLE wide (id int8 PRIMARY KEY, body text)",
        "INSERT INTO wide SELECT g, repeat('x', 120) FROM generate_series(0, 199999) g",
    )
    spec = ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, table="wide", level=19, chunk_rows=5_000,
        to=str(slow.exports), dataset="cancel",
    )  # fmt: skip

    def sessions() -> int:
        return _backends(server, "sluice-cancel")

    with ExportClient(slow.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed"):
                break
            assert not event.HasField("finished"), "finished before the cancel"
        assert sessions() == 2
        client.cancel(export_id)
        with pytest.raises(SluiceError) as caught:
            client.wait(export_id, timeout=120)
    assert caught.value.code == "CANCELLED", caught.value
    deadline = time.monotonic() + 15
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions() == 0


def _backends(server: PostgresServer, application_name: str, *, sleeping: bool = False) -> int:
    """The server's sessions of `application_name` (only those running a pg_sleep
    statement, with `sleeping`)."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND (NOT %s OR state = 'active' AND query LIKE '%%pg_sleep%%')",
            (application_name, sleeping),
        ).fetchone()
    return int(row[0]) if row else 0


def _sleeping_export(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Daemon, str, Callable[[], int]]:  # type: ignore[no-untyped-def]
    """A daemon running an export of a query that sleeps a minute before its first row,
    its id, and a count of the server's backends running that statement (once it runs)."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    profile = _profile(server.port, application_name="sluice-sleeper")
    daemon = daemon_factory("sleeper", batch_rows=1024, source_profiles={PROFILE: profile})
    daemon.start()
    _sql(
        pg,
        "CREATE TABLE t (id int8 PRIMARY KEY, body text)",
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g",
    )
    query = "SELECT t.id, t.body FROM t CROSS JOIN pg_sleep(60) ORDER BY t.id"
    spec = ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, query=query, order_by=["id"],
        to=str(daemon.exports), dataset="sleeper",
    )  # fmt: skip

    def sleeping() -> int:
        return _backends(server, "sluice-sleeper", sleeping=True)

    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        deadline = time.monotonic() + 30
        while not sleeping() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sleeping() == 1, "the statement never ran"
        assert client.get(export_id).state == pb.EXPORT_STATE_RUNNING
    return daemon, export_id, sleeping


def _left_running(sleeping: Callable[[], int], daemon: Daemon) -> None:
    """The statement ends on the server within seconds, and the daemon never took its
    cancel for a failure."""
    deadline = time.monotonic() + 5
    while sleeping() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleeping() == 0, "the statement still runs on the server"
    # The cancelled statement is the stop, not a failure: neither a statement timeout
    # nor a lost connection read again, and the reader ended rather than was left.
    log = daemon.log_path.read_text()
    for symptom in ("statement_timeout", "read failed", "did not end", "could not cancel"):
        assert symptom not in log, symptom


def test_a_cancel_stops_a_statement_that_has_not_returned_a_row_yet(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A query that sleeps a minute before its first row: the cancel cancels the
    statement on the server at once (it used to run to its end first), the export is
    CANCELLED within seconds and its backend no longer runs the statement."""
    daemon, export_id, sleeping = _sleeping_export(daemon_factory, pg, monkeypatch)
    with ExportClient(daemon.address) as client:
        cancelled_within(client, export_id, timeout=120)
    _left_running(sleeping, daemon)


def test_a_shutdown_stops_a_statement_that_has_not_returned_a_row_yet(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The same statement and a graceful shutdown: the daemon stops within seconds (it
    used to wait out its 10 s grace and leave the statement running on the server),
    and the export continues at the next start."""
    daemon, export_id, sleeping = _sleeping_export(daemon_factory, pg, monkeypatch)
    stopping_at = time.monotonic()
    assert daemon.stop() == 0
    took = time.monotonic() - stopping_at
    assert took < 5, f"stopped {took:.1f}s after SIGTERM"
    _left_running(sleeping, daemon)
    daemon.start()
    with ExportClient(daemon.address) as client:
        state = client.get(export_id).state
    assert state in (pb.EXPORT_STATE_QUEUED, pb.EXPORT_STATE_RUNNING), state


def test_a_cancel_stops_the_statement_of_every_parallel_read_connection(
    pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key ranges read on 2 connections, each range's statement sleeping a minute before
    its first row: one cancel cancels both statements at once, the read ends with
    Interrupted (not a statement timeout, not a lost connection) and no session of its
    application_name is left."""
    server, name = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    profile = PostgresProfile(**_profile(server.port, application_name="sluice-ranges"))
    address = PostgresAddress("127.0.0.1", server.port, name)
    target = PostgresTarget(address, PROFILE, profile, read_connections=2)
    ranged = SLEEPING_RANGES
    cancels = StatementCancels()
    schema = pl.Schema({"id": pl.Int64()})

    def sessions(state: str = "") -> int:
        return _backends(server, "sluice-ranges", sleeping=state == "active")

    reading = BackgroundRead(
        lambda: read_frames(target, "SELECT 1", [], schema, 1024, ranged, cancels)
    )
    deadline = time.monotonic() + 30
    while sessions("active") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions("active") == 2, "the two range statements never ran together"
    reading.cancelled_within(cancels, 3)
    deadline = time.monotonic() + 5
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions() == 0


def test_keyed_increments_work_on_a_table(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """Key index, record diff and tombstones work on a database source unchanged."""
    _make_events(pg, 50)

    def export(mode: str) -> dict[str, Any]:
        incremental = pb.Incremental(mode=mode, key=["id"])
        finished = _export(
            pg_daemon, _uri(pg), table="events", dataset="keyed", incremental=incremental
        )
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        return load_manifest(finished.manifest_uri)

    first = export("full")
    assert first["incremental"]["changes"]["inserted"] == 50
    _sql(
        pg,
        "DELETE FROM events WHERE id IN (3, 4)",
        "UPDATE events SET name = 'renamed' WHERE id = 7",
        "INSERT INTO events (id, name) VALUES (50, 'new')",
    )
    second = export("incremental")
    assert second["incremental"]["changes"] == {
        "inserted": 1, "updated": 1, "deleted": 2, "unchanged": 47
    }  # fmt: skip
    assert second["tombstones"]["records"] == 2


def test_delete_refuses_the_parent_a_running_key_pass_reads(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """`export delete A` while key-only increment C, planned on A, is in its key pass
    (held there by an advisory lock every row waits for): refused naming C, which then
    commits on A, with the tombstones of the rows deleted since. A deleted A failed C
    on A's missing index.arrows."""
    _make_events(pg, 50)
    _sql(
        pg,
        "CREATE FUNCTION gate(id int8) RETURNS bool LANGUAGE plpgsql VOLATILE AS $$ BEGIN "
        "PERFORM pg_advisory_lock_shared(7331); PERFORM pg_advisory_unlock_shared(7331); "
        "RETURN true; END $$",
    )
    query = "SELECT id, name FROM events WHERE gate(id)"

    def spec(mode: str) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=_uri(pg), source_profile=PROFILE, to=str(pg_daemon.exports),
            dataset="gated", query=query, order_by=["id"],
            incremental=pb.Incremental(mode=mode, key=["id"]),
        )  # fmt: skip

    server, name = pg
    with ExportClient(pg_daemon.address) as client:
        parent = client.wait(client.create(spec("full")).id, timeout=120).id
        _sql(pg, "DELETE FROM events WHERE id IN (3, 4)")
        with psycopg.connect(server.url(name), autocommit=True) as gate:
            gate.execute("SELECT pg_advisory_lock(7331)")
            increment = client.create(spec("incremental")).id

            def waiting() -> int:
                found = gate.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objid = 7331 AND NOT granted"
                ).fetchone()
                return int(found[0]) if found else 0

            deadline = time.monotonic() + 120
            while not waiting() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert waiting(), "the increment never reached its key pass"
            refused = run_cli(pg_daemon, "export", "delete", parent)
        assert refused.returncode == 1, refused.stdout
        assert parent in refused.stderr and increment in refused.stderr, refused.stderr
        done = client.wait(increment, timeout=120)
    manifest = load_manifest(done.manifest_uri)
    assert manifest["parent_export_id"] == parent
    assert manifest["tombstones"]["records"] == 2
    assert (pg_daemon.exports / "gated" / parent / "manifest.json").exists()


def test_column_names_with_percent_signs_are_names_not_placeholders(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A "%" in a column name never reads as a parameter placeholder: the export reads
    the named columns, and a pushed-down value stays a value."""
    _sql(
        pg,
        'CREATE TABLE odd (id int PRIMARY KEY, "rate %s" text, "pct %" int)',
        "INSERT INTO odd SELECT n, 'r' || n, n * 10 FROM generate_series(1, 20) AS n",
    )
    finished = _export(pg_daemon, _uri(pg), table="odd", where="\"rate %s\" = 'r7'", ids=["7", "8"])
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    out = read_export(finished.manifest_uri)
    assert out.to_dicts() == [{"id": 7, "rate %s": "r7", "pct %": 70}]


def test_a_table_ordered_by_columns_that_are_not_unique_is_refused(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A resumed run reads `WHERE key > last key`, which skips rows tied with the last
    journalled key: an order_by the catalog cannot prove unique (no unique index, or one
    that lets NULLs repeat) is refused at CreateExport; a unique NOT NULL index is taken."""
    _sql(
        pg,
        "CREATE TABLE visits (id int8 PRIMARY KEY, day int4 NOT NULL, code text, "
        "ref text NOT NULL UNIQUE, alt text UNIQUE)",
        "INSERT INTO visits SELECT g, g / 3, 'c' || g, 'r' || g, 'a' || g "
        "FROM generate_series(1, 30) g",
    )
    for order_by in (["day"], ["alt"], ["code", "day"]):
        code, message = _rejected(pg_daemon, _uri(pg), table="visits", order_by=order_by)
        assert code == "FAILED_PRECONDITION", message
        assert "spec.source.order_by" in message and "not unique" in message
    for order_by in (["ref"], ["day", "id"], ["id"]):
        done = _export(pg_daemon, _uri(pg), table="visits", order_by=order_by, dataset="v")
        assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
        exported = read_export(done.manifest_uri)
        assert sorted(exported["id"].to_list()) == list(range(1, 31))


def test_a_query_whose_order_by_ties_fails_naming_it(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A query's order cannot be proven unique from the catalog: the reader checks the
    keys as they come, and two rows sharing one fail the export naming order_by (a
    resumed run would have skipped the rows tied with the last journalled key)."""
    _sql(pg, "CREATE TABLE pairs (id int8 PRIMARY KEY, grp int4 NOT NULL)")
    _sql(pg, "INSERT INTO pairs SELECT g, g / 2 FROM generate_series(1, 5000) g")
    with pytest.raises(SluiceError) as caught:
        _export(pg_daemon, _uri(pg), query="SELECT * FROM pairs", order_by=["grp"])
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "spec.source.order_by (grp) is not unique" in str(caught.value)
    done = _export(pg_daemon, _uri(pg), query="SELECT * FROM pairs", order_by=["grp", "id"])
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["id"].to_list() == list(range(1, 5001))


def test_binary_read_text_types_equal_the_databases_own_text(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """json and jsonb are read in their binary forms, numeric(p,s) as text: each exported
    value equals what PostgreSQL's own text output gives (jsonb's normal form, json's text
    as stored, numeric's exact value), also for unicode, escapes, big and small numbers
    and a query source; a NaN in numeric(p,s) fails naming the column."""
    _sql(
        pg,
        "CREATE TABLE texts (id int PRIMARY KEY, amount numeric(38, 10), small numeric(5, 2),"
        " doc json, docb jsonb)",
        "INSERT INTO texts VALUES"
        " (1, 1234567890123456789012345678.0123456789, -0.01,"
        """ '{ "é" : "\\u00e9\\n\\"q\\"" ,"n": 1.50e3 }',"""
        """ '{"z": [1.50e3, -0.0], "a": {"é": "\\t"}}'),"""
        " (2, -0.0000000001, 0, '[]', '\"text\"'), (3, 0, 999.99, 'null', 'null'),"
        " (4, NULL, NULL, NULL, NULL)",
    )
    server, name = pg
    with psycopg.connect(server.url(name)) as con:
        expected = [
            {"id": i, "amount": None if a is None else Decimal(a),
             "small": None if s is None else Decimal(s), "doc": d, "docb": b}
            for i, a, s, d, b in con.execute(
                b"SELECT id, amount::text, small::text, doc::text, docb::text"
                b" FROM texts ORDER BY id"
            )
        ]  # fmt: skip
    sources = ({"table": "texts"}, {"query": "SELECT * FROM texts", "order_by": ["id"]})
    for n, options in enumerate(sources):
        finished = _export(pg_daemon, _uri(pg), format="parquet", dataset=f"t{n}", **options)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        assert read_export(finished.manifest_uri).to_dicts() == expected
    _sql(pg, "INSERT INTO texts VALUES (5, 'NaN', 1, NULL, NULL)")
    with pytest.raises(SluiceError) as caught:
        _export(pg_daemon, _uri(pg), table="texts", format="parquet", dataset="nan")
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "column 'amount' does not fit" in str(caught.value)


def test_numeric_of_up_to_18_digits_round_trips_exactly(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """numeric(p,s) of the sizes money and counts use (p <= 18: what fits an int64
    unscaled) comes back exact in its Decimal(p,s): each precision's extremes,
    negatives, zero, NULL, scale 0, as the key, in an array; for a table and a query
    source; a NaN fails naming the column. (Guards any change of how the driver reads
    numeric: its version, a binary or scaled reading.)"""
    _sql(
        pg,
        "CREATE TABLE scaled (id numeric(18, 0) PRIMARY KEY, wide numeric(18, 6),"
        " cents numeric(12, 2), tiny numeric(1, 1), whole numeric(5, 0), list numeric(4, 2)[])",
        "INSERT INTO scaled VALUES"
        " (-999999999999999999, 999999999999.999999, -9999999999.99, 0.9, -99999,"
        "  '{1.25,NULL,-99.99}'),"
        " (0, -999999999999.999999, 0, -0.9, 0, '{}'),"
        " (1, 0.000001, 0.01, 0, 99999, NULL),"
        " (999999999999999999, NULL, NULL, NULL, NULL, NULL)",
    )
    server, name = pg
    with psycopg.connect(server.url(name)) as con:
        cursor = con.execute(b"SELECT * FROM scaled ORDER BY id")
        columns = [c.name for c in cursor.description or ()]
        expected = [dict(zip(columns, row, strict=True)) for row in cursor]
    assert expected[0]["wide"] == Decimal("999999999999.999999")
    types = {
        "id": pl.Decimal(18, 0), "wide": pl.Decimal(18, 6), "cents": pl.Decimal(12, 2),
        "tiny": pl.Decimal(1, 1), "whole": pl.Decimal(5, 0), "list": pl.List(pl.Decimal(4, 2)),
    }  # fmt: skip
    sources = ({"table": "scaled"}, {"query": "SELECT * FROM scaled", "order_by": ["id"]})
    for n, options in enumerate(sources):
        finished = _export(pg_daemon, _uri(pg), format="parquet", dataset=f"s{n}", **options)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        exported = read_export(finished.manifest_uri)
        assert dict(exported.schema) == types
        assert exported.to_dicts() == expected
        manifest_types = {
            f["name"]: f["type"] for f in load_manifest(finished.manifest_uri)["schema"]
        }
        assert manifest_types["wide"] == "decimal128(18, 6)"
    _sql(pg, "INSERT INTO scaled VALUES (2, 'NaN', 1, NULL, NULL, NULL)")
    with pytest.raises(SluiceError) as caught:
        _export(pg_daemon, _uri(pg), table="scaled", format="parquet", dataset="nan")
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "column 'wide' does not fit" in str(caught.value)


def _keepalive_timers(pid: int, port: int) -> dict[str, tuple[int, int]]:
    """(timer kind, clock ticks until it fires) of each TCP socket (by inode) process
    `pid` holds to 127.0.0.1:`port`, as the kernel reports them (/proc/net/tcp: kind 2
    is the keepalive timer, 1 a retransmission's while data awaits its ack; ticks are
    hundredths of a second)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                sockets.add(link[len("socket:[") : -1])
    timers = {}
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        remote_port = int(fields[2].split(":")[1], 16)
        kind, ticks = fields[5].split(":")
        if remote_port == port and fields[9] in sockets:
            timers[fields[9]] = (int(kind, 16), int(ticks, 16))
    return timers


@pytest.mark.slow
def test_every_connection_to_postgresql_notices_a_silent_server_within_a_minute(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A server gone without a reset (a failover moving its address, a partition) must
    not leave a read or the job store waiting for TCP's two-hour default: each of the
    daemon's sockets to PostgreSQL (job store pool and LISTEN, the export's reads) has
    its keepalive timer at 30 s or less, as the kernel reports it."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    daemon = daemon_factory(
        "alive", batch_rows=1024, pipeline_queue_depth=2, job_store=server.new_database(),
        source_profiles={PROFILE: _profile(server.port, application_name="sluice-alive")},
        postgres_read_connections=2,
    )  # fmt: skip
    daemon.start()
    spec = _wide_table_spec(pg, daemon, "alive")
    assert daemon.process is not None
    with (
        ExportClient(daemon.address) as client,
        psycopg.connect(server.url(), autocommit=True) as admin,
    ):
        export_id = client.create(spec).id
        with _frozen_while_reading(daemon, admin, "sluice-alive", 2):
            # A socket whose last write awaits its ack shows that timer instead: the
            # frozen daemon sends nothing more, so each settles on its keepalive timer.
            deadline = time.monotonic() + 5
            timers = _keepalive_timers(daemon.process.pid, server.port)
            while any(kind != 2 for kind, _ in timers.values()) and time.monotonic() < deadline:
                time.sleep(0.05)
                timers = _keepalive_timers(daemon.process.pid, server.port)
        finished = client.wait(export_id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    # Job store: a pooled connection and the LISTEN one; the export: two reads.
    assert len(timers) >= 4, timers
    assert all(kind == 2 and 0 < ticks <= 30 * 100 for kind, ticks in timers.values()), timers


def test_a_daemon_with_a_postgresql_profile_loads_the_driver_before_it_serves(
    daemon_factory,
) -> None:  # type: ignore[no-untyped-def]
    """The first PostgreSQL export of a fresh daemon does not pay for importing the
    driver (about half a second): it is loaded before the daemon serves, and only where
    a postgresql profile makes it usable."""

    def loaded(daemon: Daemon) -> bool:
        assert daemon.process is not None
        maps = Path(f"/proc/{daemon.process.pid}/maps").read_text()
        return "adbc_driver_manager/_lib" in maps and "pglast/parser" in maps

    with_profile = daemon_factory(
        "preload", source_profiles={PROFILE: _profile(free_port())}
    )  # fmt: skip
    with_profile.start()
    without = daemon_factory("no-preload")
    without.start()
    assert loaded(with_profile)
    assert not loaded(without)


def test_a_late_row_without_a_cursor_is_sent_and_not_counted_as_never_sent(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A row with a null cursor committed after export N (its snapshot did not see it)
    is sent by N+1 as a late row: not counted in incremental.rows_without_cursor."""
    server, name = pg
    _sql(
        pg,
        "CREATE TABLE tickets (id int8 PRIMARY KEY, updated_at timestamptz)",
        "INSERT INTO tickets SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval "
        "'1 minute' FROM generate_series(1, 10) g",
        "INSERT INTO tickets VALUES (50, NULL)",
    )
    late = psycopg.connect(server.url(name))  # a long transaction, open across export N
    late.execute("INSERT INTO tickets VALUES (100, NULL)")

    def export(mode: str) -> pb.Export:
        incremental = pb.Incremental(mode=mode, cursor="updated_at")
        return _export(
            pg_daemon, _uri(pg), table="tickets", dataset="tickets", incremental=incremental
        )

    first = export("full")
    assert first.state == pb.EXPORT_STATE_SUCCEEDED, first.error
    late.commit()
    late.close()
    second = export("incremental")
    assert second.state == pb.EXPORT_STATE_SUCCEEDED, second.error
    assert read_export(second.manifest_uri)["id"].to_list() == [100]
    assert "rows_without_cursor" not in load_manifest(second.manifest_uri)["incremental"]


def test_a_named_postgresql_source_lists_its_columns(  # type: ignore[no-untyped-def]
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ListSources reads a named source's schema as an export of it would: a
    postgresql:// source with its source profile (it said "cannot be read
    (INVALID_ARGUMENT)", looking the profile up among the storage profiles)."""
    server, _ = pg
    _sql(pg, "CREATE TABLE listed (id bigint PRIMARY KEY, note text)")
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    daemon: Daemon = daemon_factory(
        "pg-named",
        source_profiles={PROFILE: _profile(server.port)},
        sources={"listed": {"uri": _uri(pg), "profile": PROFILE, "table": "listed"}},
    )
    daemon.start()
    with ExportClient(daemon.address) as client:
        (source,) = client.sources()
        finished = client.wait(
            client.create(
                ExportClient.build_spec(source_name="listed", to=str(daemon.exports), dataset="l")
            ).id,
            timeout=120,
        )
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert source.error == ""
    assert [(c.name, c.type) for c in source.columns] == [("id", "int64"), ("note", "large_string")]


#: Rows holding a value the export cannot hold, by id, and the column holding it:
#: spread over batches (1,024 rows) and chunks, two together, the last row.
BAD_ROWS = {1: "valid_to", 1023: "closes", 1024: "cells", 1025: "price", 2500: "ends",
            3998: "price", 3999: "valid_to"}  # fmt: skip
_BAD_VALUES = {"valid_to": "'infinity'", "ends": "'-infinity'", "closes": "'24:00:00'",
               "cells": "'{{1,2},{3,4}}'", "price": "'NaN'"}  # fmt: skip


def _contracts_with_bad_rows(pg: tuple[PostgresServer, str], rows: int) -> None:
    _sql(
        pg,
        "CREATE TABLE contracts (id int8 PRIMARY KEY, valid_to timestamptz, ends date, "
        "closes time, cells int4[], price numeric(8, 2), note text)",
        "INSERT INTO contracts SELECT g, timestamptz '2030-01-01 00:00+00' + g * interval "
        "'1 hour', date '2030-01-01' + g, time '12:00', ARRAY[g, g + 1], g + 0.5, "
        f"repeat('x', 200) FROM generate_series(0, {rows - 1}) g",
        *(
            f"UPDATE contracts SET {column} = {_BAD_VALUES[column]} WHERE id = {key}"
            for key, column in BAD_ROWS.items()
        ),
        "ANALYZE contracts",
    )


def _skips_the_bad_rows(
    daemon: Daemon, pg: tuple[PostgresServer, str], rows: int, **options: Any
) -> None:
    finished = _export(daemon, _uri(pg), on_bad_rows="skip", format="parquet", **options)
    good = [i for i in range(rows) if i not in BAD_ROWS]
    assert skipped_rows(finished) == len(BAD_ROWS)
    out = read_export(finished.manifest_uri)
    assert out["id"].to_list() == good
    assert out["price"].to_list() == [Decimal(f"{i}.50") for i in good]
    assert out["cells"].to_list() == [[i, i + 1] for i in good]


def test_rows_holding_values_the_export_cannot_hold_are_skipped_and_counted(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """on_bad_rows "skip" leaves out a row with an infinite time or date, time 24:00, a
    multi-dimensional array or a NaN numeric(p,s) and counts it, from a table and from
    a query; "fail" (the default) fails naming the first one's column and row."""
    _contracts_with_bad_rows(pg, 4000)
    _skips_the_bad_rows(pg_daemon, pg, 4000, table="contracts", chunk_rows=1000)
    _skips_the_bad_rows(
        pg_daemon, pg, 4000, query="SELECT * FROM contracts WHERE id >= 0", order_by=["id"],
        chunk_rows=1000, dataset="query",
    )  # fmt: skip
    message = _refused_value(pg_daemon, _uri(pg), table="contracts", dataset="fail")
    named = re.search(r"column '(\w+)', row (\d+):", message)
    assert named is not None and 'on_bad_rows "skip"' in message, message
    assert BAD_ROWS[int(named.group(2)) - 1] == named.group(1), message


@pytest.mark.slow
def test_a_parallel_read_skips_and_counts_the_same_rows(
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Key ranges read on two connections leave out and count the same rows."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    daemon = daemon_factory(
        "par", batch_rows=1024, postgres_read_connections=2,
        source_profiles={PROFILE: _profile(server.port)},
    )  # fmt: skip
    daemon.start()
    _contracts_with_bad_rows(pg, 100_000)
    _skips_the_bad_rows(daemon, pg, 100_000, table="contracts", chunk_rows=20_000)
    assert "key ranges on 2 connections" in daemon.log_tail(400)
