"""A caller's query that fails on the data, and source columns of types that cannot be
exported, through a real daemon: FAILED_PRECONDITION or INVALID_ARGUMENT naming the
cause (never a value), not INTERNAL, and the daemon keeps serving."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

SENTINEL = "alice.sentinel@example.com"


def _failed(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=120)
    return failed.value.export


def test_a_where_that_fails_on_the_rows_is_a_failed_precondition(daemon: Daemon) -> None:
    source = daemon.sources / "people.parquet"
    pl.DataFrame({"id": [1, 2], "email": [SENTINEL, "u2@x.io"]}).write_parquet(source)
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="cast",
        where="CAST(email AS INT) > 0",
    )
    with ExportClient(daemon.address) as client:
        failed = _failed(client, spec)
    assert failed.error.code == "FAILED_PRECONDITION"
    assert "InvalidOperationError" in failed.error.message
    assert "spec.query.where" in failed.error.message
    assert SENTINEL not in failed.error.message
    assert SENTINEL.encode() not in daemon.log_path.read_bytes()
    assert daemon.healthy()


@pytest.mark.parametrize("read", ["query", "view"])
def test_a_duckdb_source_that_fails_on_the_rows_is_a_failed_precondition(
    daemon: Daemon, read: str
) -> None:
    path = daemon.sources / f"people-{read}.duckdb"
    cast = "SELECT id, CAST(email AS INTEGER) AS n FROM t"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, email VARCHAR)")
        con.execute(f"INSERT INTO t VALUES (1, '{SENTINEL}'), (2, '7')")
        con.execute(f"CREATE VIEW v AS {cast}")
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}",
        **({"query": cast} if read == "query" else {"table": "v"}),  # type: ignore[arg-type]
        order_by=["id"],
        to=str(daemon.exports),
        dataset="duck",
    )
    with ExportClient(daemon.address) as client:
        failed = _failed(client, spec)
    assert failed.error.code == "FAILED_PRECONDITION"
    assert "ConversionException" in failed.error.message
    # Worded by what was read: a view is not the caller's query.
    assert f"spec.source.{'query' if read == 'query' else 'table'}" in failed.error.message
    assert ("in spec.source.query fails" in failed.error.message) == (read == "query")
    assert SENTINEL not in failed.error.message
    assert daemon.healthy()


@pytest.mark.parametrize(
    ("column", "unreadable"),
    [
        ("u UNION(a INTEGER, b VARCHAR)", "UNION"),
        ("s STRUCT(x INTEGER, gap INTERVAL[])", "INTERVAL"),
        ("a STRUCT(x INTEGER[2], gap INTERVAL[2])", "INTERVAL"),
        # An ENUM's members are data: the type is never quoted whole.
        (f"e STRUCT(kind ENUM('{SENTINEL}', 'b'), gap INTERVAL)", "INTERVAL"),
    ],
)
def test_a_duckdb_column_of_an_unreadable_type_is_refused_when_planning(
    daemon: Daemon, column: str, unreadable: str
) -> None:
    path = daemon.sources / f"{unreadable}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {column})")
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}", table="t", to=str(daemon.exports), dataset="types"
    )
    with ExportClient(daemon.address) as client, pytest.raises(InvalidArgumentError) as refused:
        client.create(spec)
    assert refused.value.violations[0].field == "spec.source.table"
    assert repr(column.split()[0]) in str(refused.value) and unreadable in str(refused.value)
    assert SENTINEL not in str(refused.value)
    assert daemon.healthy()
