"""SQLite and DuckDB files as sources, through a real daemon: types round trip, a query,
ids read by the database, bad inputs named, confinement, and resume after SIGKILL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client._errors import SluiceError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk, run_cli
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

ROWS = 50


def _row(i: int) -> tuple[Any, ...]:
    """id, amount, name, created_at, payload, price; every third row has NULLs."""
    if i % 3 == 2:
        return (i, None, None, None, None, None)
    return (
        i,
        i * 1.5,
        f"name {i} é",
        datetime(2024, 1, 1 + i % 28, 12, i % 60, 5),
        bytes([i % 256, 0, 255]),
        Decimal(f"{i}.{i % 100:02d}"),
    )


def _expected(rows: int = ROWS) -> pl.DataFrame:
    values = [_row(i) for i in range(rows)]
    return pl.DataFrame(
        values,
        schema={
            "id": pl.Int64,
            "amount": pl.Float64,
            "name": pl.String,
            "created_at": pl.Datetime("us"),
            "payload": pl.Binary,
            "price": pl.Decimal(10, 2),
        },
        orient="row",
    )


def make_sqlite(path: Path, rows: int = ROWS) -> str:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, amount REAL, name TEXT, "
        "created_at TIMESTAMP, payload BLOB, price DECIMAL(10,2))"
    )
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i, a, n, None if t is None else t.isoformat(sep=" "), p, None if d is None else str(d))
            for i, a, n, t, p, d in (_row(i) for i in reversed(range(rows)))
        ],
    )
    con.commit()
    con.close()
    return f"sqlite://{path}"


def make_duckdb(path: Path, rows: int = ROWS) -> str:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE events (id BIGINT PRIMARY KEY, amount DOUBLE, name VARCHAR, "
        "created_at TIMESTAMP, payload BLOB, price DECIMAL(10,2))"
    )
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [_row(i) for i in reversed(range(rows))],
    )
    con.close()
    return f"duckdb://{path}"


MAKERS: dict[str, Callable[[Path, int], str]] = {"sqlite": make_sqlite, "duckdb": make_duckdb}


def _database(daemon: Daemon, kind: str, rows: int = ROWS) -> str:
    path = daemon.sources / f"shop-{kind}-{rows}.{'db' if kind == 'sqlite' else 'duckdb'}"
    if path.exists():
        return f"{kind}://{path}"
    return MAKERS[kind](path, rows)


def _export(daemon: Daemon, uri: str, **options: Any) -> pb.Export:
    spec = ExportClient.build_spec(
        source=uri, to=str(daemon.exports), dataset=options.pop("dataset", "db"), **options
    )
    with ExportClient(daemon.address) as client:
        return client.wait(client.create(spec).id, timeout=120)


def _rejected(daemon: Daemon, uri: str, **options: Any) -> tuple[str, str]:
    """(status code name, message) of a refused CreateExport."""
    spec = ExportClient.build_spec(source=uri, to=str(daemon.exports), dataset="db", **options)
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as caught:
        client.create(spec)
    return caught.value.code, str(caught.value)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_table_round_trips_with_faithful_types(daemon: Daemon, kind: str, fmt: str) -> None:
    columns = [] if fmt == "parquet" else ["id", "amount", "name", "created_at", "price"]
    finished = _export(daemon, _database(daemon, kind), table="events", format=fmt, columns=columns)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    exported = read_export(finished.manifest_uri)
    expected = _expected()
    if fmt == "parquet":
        assert exported.schema == expected.schema
        assert exported.equals(expected)
    else:
        # JSON text: numbers, text and NULLs compare directly, in primary key order.
        assert exported["id"].to_list() == list(range(ROWS))
        assert exported["name"].to_list() == expected["name"].to_list()
        assert exported["amount"].to_list() == expected["amount"].to_list()
        assert exported["created_at"].null_count() == expected["created_at"].null_count()
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["source"]["format"] == kind
    assert manifest["source"]["table"] == "events"
    assert manifest["source"]["order_by"] == ["id"]
    types = {f["name"]: f["type"] for f in manifest["schema"]}
    assert types["price"] == "decimal128(10, 2)"
    assert types["created_at"].startswith("timestamp[us")
    if fmt == "parquet":
        assert types["payload"] in {"binary", "large_binary", "binary_view"}


def test_bytes_to_a_text_format_are_refused_before_the_export(daemon: Daemon) -> None:
    code, message = _rejected(daemon, _database(daemon, "sqlite"), table="events", format="jsonl")
    assert code == "INVALID_ARGUMENT"
    assert "spec.output.format" in message and "payload" in message


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_query_with_where_through_the_cli(daemon: Daemon, kind: str) -> None:
    uri = _database(daemon, kind)
    done = run_cli(
        daemon,
        "export", "create", "--source", uri, "--to", str(daemon.exports), "--dataset", "q",
        "--query", "SELECT id, name FROM events WHERE id >= 40 AND name IS NOT NULL;",
        "--order-by", "id", "--format", "parquet", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifests = sorted((daemon.exports / "q").glob("*/manifest.json"))
    exported = read_export(f"file://{manifests[-1]}")
    assert exported["id"].to_list() == [i for i in range(40, ROWS) if i % 3 != 2]
    assert exported.columns == ["id", "name"]


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_ids_are_read_by_the_database(daemon: Daemon, kind: str) -> None:
    finished = _export(
        daemon, _database(daemon, kind), table="events", ids=["7", "3", "44"], format="parquet"
    )
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert read_export(finished.manifest_uri)["id"].to_list() == [3, 7, 44]
    # Pushed down: the source held three rows for this export, not the whole table.
    assert finished.progress.source_rows_done == 3


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_time_range_and_where_terms_are_read_by_the_database(daemon: Daemon, kind: str) -> None:
    """An export of some rows reads those rows: the source's row count for the export
    (source_rows_done) is the rows the database handed over."""
    uri = _database(daemon, kind)
    finished = _export(
        daemon, uri, table="events", columns=["id", "created_at"], time_column="created_at",
        since=datetime(2024, 1, 10, tzinfo=UTC), until=datetime(2024, 1, 20, tzinfo=UTC),
    )  # fmt: skip
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    in_range = [i for i in range(ROWS) if i % 3 != 2 and 9 <= i % 28 <= 18]
    assert read_export(finished.manifest_uri)["id"].to_list() == in_range
    assert finished.progress.source_rows_done == len(in_range)
    # Integer terms go to the database; the float term stays with the pipeline.
    finished = _export(
        daemon, uri, table="events", where="id >= 10 AND id < 31 AND amount > 3", format="parquet"
    )
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert read_export(finished.manifest_uri)["id"].to_list() == [
        i for i in range(10, 31) if i % 3 != 2
    ]
    assert finished.progress.source_rows_done == 21
    # One user's rows: text equality is read by the database too.
    finished = _export(daemon, uri, table="events", where="name = 'name 13 é'", format="parquet")
    assert read_export(finished.manifest_uri)["id"].to_list() == [13]
    assert finished.progress.source_rows_done == 1


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_bad_inputs_are_named(daemon: Daemon, kind: str, tmp_path: Path) -> None:
    uri = _database(daemon, kind)
    invalid = "INVALID_ARGUMENT"
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (uri, {}, invalid, "spec.source.table"),
        (uri, {"table": "events", "query": "SELECT 1"}, invalid, "spec.source.table"),
        (uri, {"table": "nope"}, invalid, "spec.source.table"),
        (uri, {"table": "events", "columns": ["ghost"]}, invalid, "ghost"),
        (uri, {"table": "events", "order_by": ["ghost"]}, invalid, "spec.source.order_by"),
        (uri, {"query": "DELETE FROM events", "order_by": ["id"]}, invalid, "spec.source.query"),
        (uri, {"query": "SELECT 1; DROP TABLE events", "order_by": ["id"]}, invalid, "query"),
        (uri, {"query": "SELECT * FROM events"}, "FAILED_PRECONDITION", "order_by"),
        (f"{kind}://{daemon.sources}/missing.db", {"table": "t"}, invalid, "does not exist"),
        (f"{kind}://relative.db", {"table": "t"}, invalid, "spec.source.uri"),
    ]
    for source, options, code, named in cases:
        got, message = _rejected(daemon, source, **options)
        assert (got, named in message) == (code, True), (options, message)
    # A file that is not a database, and the table is still there afterwards.
    junk = daemon.sources / f"junk.{kind}"
    junk.write_text("id,name\n1,a\n" * 100)
    got, message = _rejected(daemon, f"{kind}://{junk}", table="events")
    assert got == invalid and "spec.source.uri" in message, message
    assert _export(daemon, uri, table="events", format="parquet").state == pb.EXPORT_STATE_SUCCEEDED


def test_database_outside_the_roots_and_as_destination_refused(
    daemon: Daemon, tmp_path: Path
) -> None:
    outside = make_sqlite(tmp_path / "outside.db")
    code, message = _rejected(daemon, outside, table="events")
    assert code == "INVALID_ARGUMENT"
    assert "outside the source roots this server allows" in message
    # A symlink inside the roots to a database outside them is refused too.
    link = daemon.sources / "link.db"
    link.symlink_to(tmp_path / "outside.db")
    code, message = _rejected(daemon, f"sqlite://{link}", table="events")
    assert "outside the source roots this server allows" in message
    assert str(tmp_path / "outside.db") not in message
    spec = ExportClient.build_spec(
        source=_database(daemon, "sqlite"),
        table="events",
        to=f"sqlite://{daemon.exports}/out.db",
        dataset="db",
    )
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as caught:
        client.create(spec)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "spec.destination.uri" in str(caught.value)
    assert not (tmp_path / "outside.db-journal").exists()


@pytest.mark.parametrize(
    ("reader", "order"),
    [
        ("read_text('{path}')", "filename"),
        ("read_csv('{path}', header = false)", "column0"),
        ("read_csv('http://127.0.0.1:9/x.csv')", "name"),
    ],
)
def test_a_duckdb_query_reads_nothing_but_its_database(
    daemon: Daemon, tmp_path: Path, reader: str, order: str
) -> None:
    """DuckDB's table functions would read any file the daemon can (or a URL): a
    `--query` over an allowed database must not reach past the allowed roots."""
    secret = tmp_path / "outside.csv"
    secret.write_text("name\nsecret-outside-the-roots\n")
    query = "SELECT * FROM " + reader.format(path=secret)
    code, message = _rejected(daemon, _database(daemon, "duckdb"), query=query, order_by=[order])
    assert code == "INVALID_ARGUMENT", message
    assert "secret-outside-the-roots" not in message
    assert "secret-outside-the-roots" not in daemon.log_path.read_text()


RESUME_ROWS = 60_000


@pytest.mark.slow
def test_sigkill_mid_export_of_a_table_resumes_exactly_once(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Rows are read in primary key order and each chunk journals its last key, so the
    restarted run reads after it: every row once, none twice."""
    slow = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    uri = make_sqlite(slow.sources / "big.db", RESUME_ROWS)
    spec = ExportClient.build_spec(
        source=uri,
        table="events",
        columns=["id", "amount", "name", "created_at", "price"],
        to=str(slow.exports),
        dataset="big",
        level=15,
        chunk_rows=3000,
    )
    export_id = create_and_kill_after_chunk(slow, spec, 2)
    # Rows below the resume position go between the runs: the resumed read continues
    # after the last journalled key (WHERE id > last id), so none is skipped or repeated.
    with sqlite3.connect(slow.sources / "big.db") as writer:
        writer.execute("DELETE FROM events WHERE id < 100")
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert "resumes after chunk" in slow.log_tail(400)
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(RESUME_ROWS))
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["totals"]["records"] == RESUME_ROWS
    assert len(manifest["chunks"]) == RESUME_ROWS // 3000


@pytest.mark.slow
def test_sigkill_mid_export_resumes_after_a_timestamp_and_decimal_key(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """DuckDB: a key of a timestamp and a decimal (journalled as ISO and exact text) is
    read back as its own types, so the restarted run reads after it: every row once."""
    slow = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    path = slow.sources / "keyed.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE keyed (happened TIMESTAMPTZ, amount DECIMAL(18, 6), n BIGINT, "
            "PRIMARY KEY (happened, amount))"
        )
        con.execute(
            "INSERT INTO keyed SELECT TIMESTAMPTZ '2024-01-01 00:00:00.25+00' "
            "+ (n // 3) * INTERVAL '1.000001 second', (n % 3 - 1) * 1.500000, n "
            f"FROM range({RESUME_ROWS // 2}) t(n)"
        )
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}", table="keyed", to=str(slow.exports), dataset="keyed",
        level=15, chunk_rows=2000,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 1)
    # The first 100 rows go: a resume by row position would now skip 100 rows.
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM keyed WHERE n < 100")
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert "resumes after chunk" in slow.log_tail(400)
    assert read_export(finished.manifest_uri)["n"].to_list() == list(range(RESUME_ROWS // 2))


@pytest.mark.slow
def test_rows_committed_during_an_export_are_not_in_it(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """One read transaction per run: a writer committing (SQLite WAL mode, where readers
    do not block writers) while the export runs changes nothing the export holds."""
    slow = daemon_factory("wal", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    path = slow.sources / "live.db"
    uri = make_sqlite(path, RESUME_ROWS)
    writer = sqlite3.connect(path)
    assert writer.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    spec = ExportClient.build_spec(
        source=uri,
        table="events",
        columns=["id", "name"],
        to=str(slow.exports),
        dataset="live",
        level=15,
        chunk_rows=3000,
    )
    with ExportClient(slow.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed"):
                break
        # Mid-export: new rows at both ends of the key order, and an early row changed.
        writer.execute("INSERT INTO events (id, name) VALUES (-1, 'new'), (999999, 'new')")
        writer.execute(f"UPDATE events SET name = 'changed' WHERE id = {RESUME_ROWS - 1}")
        writer.commit()
        assert client.get(export_id).state == pb.EXPORT_STATE_RUNNING, "finished too soon"
        finished = client.wait(export_id, timeout=300)
    writer.close()
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert load_manifest(finished.manifest_uri)["totals"]["records"] == RESUME_ROWS
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(RESUME_ROWS))
    assert "changed" not in exported["name"].to_list()


def test_a_sqlite_value_not_of_its_declared_type_fails_naming_the_column(daemon: Daemon) -> None:
    path = daemon.sources / "loose.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, amount INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(1, 10), (2, "secret-text"), (3, 30)])
    con.commit()
    con.close()
    with pytest.raises(SluiceError) as caught:
        _export(daemon, f"sqlite://{path}", table="t")
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    assert "column 'amount' is not of type Int64" in str(caught.value)
    assert "secret-text" not in str(caught.value)


def _refused_value(daemon: Daemon, uri: str, **options: Any) -> str:
    """The message of an export that fails on a value the export cannot hold."""
    with pytest.raises(SluiceError) as caught:
        _export(daemon, uri, **options)
    assert caught.value.code == "FAILED_PRECONDITION", caught.value
    return str(caught.value)


def _duckdb_file(daemon: Daemon, name: str, *statements: str) -> str:
    path = daemon.sources / f"{name}.duckdb"
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)
    return f"duckdb://{path}"


def test_duckdb_infinite_times_and_dates_are_refused_naming_column_and_row(
    daemon: Daemon,
) -> None:
    """DuckDB's infinities are the largest numbers of their types: written as they are,
    they were times no reader can take (and failed INTERNAL in text formats). TIME
    '24:00:00' became NULL."""
    uri = _duckdb_file(
        daemon, "infinite",
        "CREATE TABLE t (id INT PRIMARY KEY, d DATE, ts TIMESTAMP, tz TIMESTAMPTZ, "
        "ns TIMESTAMP_NS, days DATE[], nested STRUCT(stamp TIMESTAMP), closes TIME)",
        "INSERT INTO t VALUES (1, '2020-01-01', '2020-01-01', '2020-01-01', '2020-01-01', "
        "['2020-01-01'], {'stamp': '2020-01-01'}, '23:59:59.999999'), (2, 'infinity', "
        "'-infinity', 'infinity', '-infinity', ['2020-01-01', 'infinity'], "
        "{'stamp': '-infinity'}, '24:00:00')",
    )  # fmt: skip
    for column, fmt in [("d", "parquet"), ("ts", "jsonl"), ("tz", "parquet"), ("ns", "csv"),
                        ("days", "parquet"), ("nested", "parquet"),
                        ("closes", "parquet")]:  # fmt: skip
        message = _refused_value(daemon, uri, table="t", columns=["id", column], format=fmt)
        assert f"column {column!r}, row 2:" in message, message
        assert ("24:00:00" if column == "closes" else "infinity") in message, message


def test_duckdb_types_without_a_faithful_arrow_form_are_refused_at_create(
    daemon: Daemon,
) -> None:
    """UHUGEINT went through decimal128 (2^127 and up became negative), VARINT failed
    INTERNAL, TIMETZ lost its offset, BIT came out as DuckDB's internal bytes."""
    for column_type in ("UHUGEINT", "VARINT", "TIMETZ", "BIT"):
        uri = _duckdb_file(
            daemon, f"type-{column_type}", f"CREATE TABLE t (id INT PRIMARY KEY, v {column_type})"
        )
        code, message = _rejected(daemon, uri, table="t", format="parquet")
        assert code == "INVALID_ARGUMENT", message
        assert "column 'v' holds" in message and "CAST(column AS VARCHAR)" in message, message


def test_duckdb_hugeint_past_38_digits_is_refused_naming_column_and_row(daemon: Daemon) -> None:
    """HUGEINT is read as decimal128(38, 0): a 39-digit value does not fit its precision."""
    largest = 10**38 - 1
    uri = _duckdb_file(
        daemon, "huge",
        "CREATE TABLE fits (id INT PRIMARY KEY, h HUGEINT)",
        f"INSERT INTO fits VALUES (1, {-largest}), (2, {largest})",
        "CREATE TABLE big (id INT PRIMARY KEY, h HUGEINT)",
        f"INSERT INTO big VALUES (1, 1), (2, {largest + 1})",
    )  # fmt: skip
    done = _export(daemon, uri, table="fits", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["h"].to_list() == [Decimal(-largest), Decimal(largest)]
    message = _refused_value(daemon, uri, table="big", format="parquet")
    assert "column 'h', row 2:" in message and "38 digits" in message, message


def test_duckdb_table_in_the_default_schema_takes_its_own_primary_key(daemon: Daemon) -> None:
    """`--table t` is main.t; a primary key of archive.t does not make main.t's ids unique."""
    uri = _duckdb_file(
        daemon, "two-schemas",
        "CREATE TABLE t (id INT, v INT)",
        "INSERT INTO t VALUES (1, 10), (1, 11), (2, 20)",
        "CREATE SCHEMA archive",
        "CREATE TABLE archive.t (id INT PRIMARY KEY)",
    )  # fmt: skip
    for table in ("t", "main.t"):
        code, message = _rejected(daemon, uri, table=table, format="parquet")
        assert code == "FAILED_PRECONDITION" and "has no primary key" in message, message
    done = _export(daemon, uri, table="archive.t", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error


def test_sqlite_numeric_without_precision_is_float64_and_never_rounds(daemon: Daemon) -> None:
    """NUMERIC (and other numeric-affinity types) without a precision is Float64, from
    its declaration alone (as REAL): an integer a float would round (past 2^53:
    9007199254740993 became 9007199254740992.0) fails naming the column and the row."""
    path = daemon.sources / "ledger.db"
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE ints (id INTEGER PRIMARY KEY, account_no NUMERIC, n MONEY)")
        con.execute("INSERT INTO ints VALUES (1, 9007199254740992, 1), (2, NULL, 2)")
        con.execute("CREATE TABLE mixed (id INTEGER PRIMARY KEY, account_no DECIMAL)")
        con.execute("INSERT INTO mixed VALUES (1, 0.1), (2, 3), (3, 9007199254740993)")
    done = _export(daemon, f"sqlite://{path}", table="ints", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    exported = read_export(done.manifest_uri)
    assert exported.schema["account_no"] == pl.Float64 and exported.schema["n"] == pl.Float64
    assert exported["account_no"].to_list() == [9007199254740992.0, None]
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("UPDATE ints SET account_no = 9007199254740993 WHERE id = 2")
    for table, row in (("ints", 2), ("mixed", 3)):
        message = _refused_value(daemon, f"sqlite://{path}", table=table, format="parquet")
        assert f"column 'account_no', row {row}:" in message and "a float" in message, message
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("DELETE FROM mixed WHERE id = 3")
    done = _export(daemon, f"sqlite://{path}", table="mixed", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    exported = read_export(done.manifest_uri)
    assert exported.schema["account_no"] == pl.Float64
    assert exported["account_no"].to_list() == [0.1, 3.0]


@pytest.mark.parametrize("declared", ["NUMERIC", "DECIMAL", "MONEY"])
def test_a_sqlite_numeric_column_keeps_its_type_when_a_value_becomes_a_float(
    daemon: Daemon, declared: str
) -> None:
    """An unsized NUMERIC was typed by scanning its values (Int64 while it held integers
    only): one UPDATE to 10.25 changed the column's type between nights, and the keyed
    chain sent every row as changed. The declaration alone gives the type."""
    path = daemon.sources / f"chain-{declared}.db"
    with closing(sqlite3.connect(path)) as con, con:
        con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, amount {declared})")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, i * 10) for i in range(1, 6)])
    uri, dataset = f"sqlite://{path}", f"chain-{declared}"
    full = _export(
        daemon, uri, table="t", dataset=dataset, format="parquet",
        incremental=pb.Incremental(mode="full", key=["id"]),
    )  # fmt: skip
    assert full.state == pb.EXPORT_STATE_SUCCEEDED, full.error
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("UPDATE t SET amount = 10.25 WHERE id = 1")
    night = _export(
        daemon, uri, table="t", dataset=dataset, format="parquet",
        incremental=pb.Incremental(mode="incremental", key=["id"]),
    )  # fmt: skip
    assert night.state == pb.EXPORT_STATE_SUCCEEDED, night.error
    assert load_manifest(night.manifest_uri)["incremental"]["changes"] == {
        "inserted": 0, "updated": 1, "deleted": 0, "unchanged": 4
    }  # fmt: skip
    sent = read_export(night.manifest_uri)
    assert sent.select("id", "amount").rows() == [(1, 10.25)]
    assert sent.schema["amount"] == read_export(full.manifest_uri).schema["amount"] == pl.Float64


def test_sqlite_decimal_values_that_would_be_rounded_are_refused(daemon: Daemon) -> None:
    """DECIMAL(10,2) holding 9.999 or 1.005 was rounded (10.00, 1.00): a value that does
    not fit its declared type fails naming the column and the row."""
    path = daemon.sources / "amounts.db"
    for bad in (9.999, 1.005, "12345678901.5", 0.1 + 0.2 + 0.001):
        path.unlink(missing_ok=True)
        with closing(sqlite3.connect(path)) as con, con:
            con.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount DECIMAL(10,2))")
            con.executemany("INSERT INTO amounts VALUES (?, ?)", [(1, 1.5), (2, 10), (3, bad)])
        message = _refused_value(daemon, f"sqlite://{path}", table="amounts", format="parquet")
        assert "column 'amount', row 3:" in message and "Decimal" in message, (bad, message)
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("DELETE FROM amounts WHERE id = 3")
    done = _export(daemon, f"sqlite://{path}", table="amounts", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["amount"].to_list() == [Decimal("1.50"), Decimal("10.00")]


def test_sqlite_decimal_values_stored_as_floats_export_at_their_scale(daemon: Daemon) -> None:
    """SQLite stores DECIMAL(10,2) arithmetic as REAL floats: 0.1+0.2 is
    0.30000000000000004 and 1.1*3 is 3.3000000000000003, which were refused as
    'rounded' while they are 0.30 and 3.30 but for the float's last bit (while 9.999
    or 0.1+0.2+0.001 is still refused)."""
    path = daemon.sources / "float-amounts.db"
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount DECIMAL(10,2))")
        con.execute(
            "INSERT INTO amounts VALUES (1, 19.99*3), (2, 0.1+0.2), (3, 1.10), (4, 1.1*3),"
            " (5, -0.1-0.2), (6, 0.7+0.1), (7, 99999999.99)"
        )
    done = _export(daemon, f"sqlite://{path}", table="amounts", format="parquet")
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    assert read_export(done.manifest_uri)["amount"].to_list() == [
        Decimal("59.97"), Decimal("0.30"), Decimal("1.10"), Decimal("3.30"),
        Decimal("-0.30"), Decimal("0.80"), Decimal("99999999.99"),
    ]  # fmt: skip


def test_a_locked_sqlite_database_is_unavailable_not_invalid(daemon: Daemon) -> None:
    uri = _database(daemon, "sqlite")
    writer = sqlite3.connect(uri.removeprefix("sqlite://"), isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        code, message = _rejected(daemon, uri, table="events", format="parquet")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == "UNAVAILABLE", message
    assert "locked" in message


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_an_order_by_with_tied_rows_fails_naming_it(daemon: Daemon, kind: str) -> None:
    """A resumed run reads `WHERE key > last key`, which would skip rows tied with the
    last journalled key: an order_by under which two rows tie (here names, which repeat,
    and NULLs, which sort together) fails the export naming spec.source.order_by, on a
    table and on a query; unique columns export as before."""
    uri = _database(daemon, kind)
    for source in ({"table": "events"}, {"query": "SELECT * FROM events"}):
        with pytest.raises(SluiceError) as caught:
            _export(daemon, uri, order_by=["name"], format="parquet", **source)
        assert caught.value.code == "FAILED_PRECONDITION", caught.value
        assert "spec.source.order_by (name) is not unique" in str(caught.value)
        done = _export(daemon, uri, order_by=["name", "id"], format="parquet", **source)
        assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
        assert sorted(read_export(done.manifest_uri)["id"].to_list()) == list(range(ROWS))


def test_an_integer_term_on_a_sqlite_decimal_column_keeps_every_row_the_pipeline_keeps(
    daemon: Daemon,
) -> None:
    """SQLite holds DECIMAL(10,2) values as binary floats or integers, in any spelling
    ("10.0" is stored as 10): `price >= 10` and `price = 10` keep every row the pipeline
    keeps (a value the pipeline would have to round is refused, see
    test_sqlite_decimal_values_that_would_be_rounded_are_refused)."""
    path = daemon.sources / "prices.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE prices (id INTEGER PRIMARY KEY, price DECIMAL(10,2))")
    con.executemany(
        "INSERT INTO prices VALUES (?, ?)",
        [(1, 10.00), (2, "10.0"), (3, 9.5), (4, 10.25), (5, 12)],
    )
    con.commit()
    con.close()
    for where, expected in (("price >= 10", [1, 2, 4, 5]), ("price = 10", [1, 2])):
        done = _export(daemon, f"sqlite://{path}", table="prices", where=where, format="parquet")
        assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
        exported = read_export(done.manifest_uri)
        assert exported["id"].to_list() == expected, where
        assert exported["price"].to_list()[0] == Decimal("10.00")


def test_ids_on_a_sqlite_decimal_column_keep_every_row_the_pipeline_keeps(
    daemon: Daemon,
) -> None:
    """Ids are pushed into SQLite only where SQLite compares them as the pipeline does:
    not on a DECIMAL column (stored as binary floats, rounded by the pipeline; sqlite3
    cannot even bind a Decimal, which failed the export INTERNAL)."""
    path = daemon.sources / "stamped.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE stamped (n INTEGER PRIMARY KEY, price DECIMAL(10,2), at TIMESTAMP)")
    con.executemany(
        "INSERT INTO stamped VALUES (?, ?, ?)",
        [(1, 10.0, "2024-01-05T10:00:00"), (2, 3.5, "2024-01-05 11:00:00")],
    )
    con.commit()
    con.close()
    for column, ids in (("price", ["10"]), ("n", ["1"])):
        done = _export(
            daemon, f"sqlite://{path}", table="stamped", id_column=column, ids=ids,
            format="parquet",
        )  # fmt: skip
        assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
        assert read_export(done.manifest_uri)["n"].to_list() == [1], column


@pytest.mark.parametrize("cursor", ["price", "created_at"])
@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_an_increment_of_a_database_continues_from_a_decimal_or_datetime_watermark(
    daemon: Daemon, kind: str, cursor: str
) -> None:
    """The watermark's literals (a Decimal as text, a datetime from its integer) filter a
    database's rows exactly: the next increment sends only the new row, and counts the
    rows whose cursor is null."""
    path = daemon.sources / f"cursor-{kind}-{cursor}.{'db' if kind == 'sqlite' else 'duckdb'}"
    uri = MAKERS[kind](path, ROWS)
    dataset = f"cursor-{kind}-{cursor}"
    full = _export(
        daemon, uri, table="events", dataset=dataset, format="parquet",
        incremental=pb.Incremental(mode="full", cursor=cursor),
    )  # fmt: skip
    assert full.state == pb.EXPORT_STATE_SUCCEEDED, full.error
    watermark = load_manifest(full.manifest_uri)["watermark"]["value"]
    assert watermark == ("49.49" if cursor == "price" else "2024-01-28T12:27:05")
    added = (ROWS, 0.5, "new", "2024-02-01 00:00:00", b"x", "49.50")
    if kind == "sqlite":
        with closing(sqlite3.connect(path)) as con, con:
            con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", added)
    else:
        with duckdb.connect(str(path)) as con:
            con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", added)
    night = _export(
        daemon, uri, table="events", dataset=dataset, format="parquet",
        incremental=pb.Incremental(mode="incremental", cursor=cursor),
    )  # fmt: skip
    assert night.state == pb.EXPORT_STATE_SUCCEEDED, night.error
    assert read_export(night.manifest_uri)["id"].to_list() == [ROWS]
    manifest = load_manifest(night.manifest_uri)
    assert manifest["incremental"]["rows_without_cursor"] == len(range(2, ROWS, 3))


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_control_character_in_a_database_path_is_invalid_argument(
    daemon: Daemon, kind: str
) -> None:
    """A %00 (or another control character) in a sqlite:// / duckdb:// path is decoded
    only after the checks: it reached the driver (INTERNAL). It is the caller's mistake,
    named by its field, without echoing the path."""
    uri = _database(daemon, kind)
    for escaped in ("%00", "%0A", "%1b"):
        code, message = _rejected(daemon, f"{uri}{escaped}x", table="events")
        assert code == "INVALID_ARGUMENT", message
        assert "spec.source.uri" in message and "control character" in message, message
        assert "shop-" not in message, message


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_where_with_a_comment_is_not_pushed_down(daemon: Daemon, kind: str) -> None:
    """The pipeline reads `--` as a comment (the rest of the line is no term); the
    database was sent the commented-out term as a filter, and left out rows the
    pipeline keeps."""
    uri = _database(daemon, kind)
    where = "id < 10 -- AND name = 'name 4 é'"
    pushed = _export(daemon, uri, table="events", where=where, format="parquet")
    alone = _export(daemon, uri, table="events", where=f"({where}\n) OR id < 0", format="parquet")
    assert read_export(alone.manifest_uri)["id"].to_list() == list(range(10))
    assert read_export(pushed.manifest_uri)["id"].to_list() == list(range(10))


def test_a_locked_duckdb_file_is_unavailable_without_the_other_process(daemon: Daemon) -> None:
    """Another process holding a DuckDB file open for writing (its application running)
    is a condition that passes, like a locked SQLite file: UNAVAILABLE, without the
    driver's text, which names the other process's program and PID."""
    uri = _database(daemon, "duckdb")
    path = uri.removeprefix("duckdb://")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, sys; c = duckdb.connect({path!r}); print('open', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        code, message = _rejected(daemon, uri, table="events", format="parquet")
    finally:
        holder.kill()
        holder.wait()
    assert code == "UNAVAILABLE", message
    assert "locked" in message, message
    assert "PID" not in message and str(holder.pid) not in message, message
    assert sys.executable not in message and "python" not in message, message
