"""on_bad_rows for SQLite and DuckDB sources, through a real daemon (PostgreSQL's:
test_postgres_sources): under "skip" a row holding a value the export cannot hold is left
out and counted (manifest source.skipped_rows, the source/skipped_rows progress counter),
the rows read back are exactly the others, and a resumed export counts each once; under
"fail" (the default) the export still fails naming column and row, never the value."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sluice.client import ExportClient
from sluice.client._errors import SluiceError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk
from tests.integration.helpers import manifest_path, read_export, skipped_rows

pytestmark = pytest.mark.integration

SECRET = "secret-value-never-shown"


def _export(daemon: Daemon, uri: str, **options: Any) -> pb.Export:
    """The finished export (failed or not)."""
    spec = ExportClient.build_spec(
        source=uri, to=str(daemon.exports), dataset=options.pop("dataset", "db"), **options
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        try:
            return client.wait(export_id, timeout=180)
        except SluiceError:
            return client.get(export_id)


def _failed(finished: pb.Export) -> str:
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "FAILED_PRECONDITION", finished.error
    assert SECRET not in finished.error.message
    return finished.error.message


# --- SQLite ---------------------------------------------------------------------------

#: Rows of the SQLite table, and its bad ones by id: spread over batches (1,024 rows)
#: and chunks (1,000), two together, one at a batch's end, the last row.
SQLITE_ROWS = 5000
SQLITE_BAD = {3: "amount", 1023: "price", 1024: "day", 1500: "amount", 1501: "price",
              2999: "day", 4999: "amount"}  # fmt: skip


def _sqlite_value(i: int, column: str, bad: dict[int, str]) -> Any:
    wrong = bad.get(i) == column
    if column == "amount":
        return SECRET if wrong else i * 3
    if column == "price":
        return "12345678901.5" if wrong else f"{i}.25"  # DECIMAL(10,2) overflows
    return "2024-02-30" if wrong else date(2024, 1, 1 + i % 28).isoformat()


def _sqlite_source(path: Path, rows: int, bad: dict[int, str]) -> str:
    with closing(sqlite3.connect(path)) as con, con:
        con.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, amount INTEGER, price DECIMAL(10,2), "
            "day DATE, name TEXT)"
        )
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            [
                (i, *(_sqlite_value(i, c, bad) for c in ("amount", "price", "day")), f"n{i}")
                for i in range(rows)
            ],
        )
    return f"sqlite://{path}"


def test_sqlite_rows_with_values_not_of_their_type_are_skipped_and_counted(
    daemon: Daemon,
) -> None:
    uri = _sqlite_source(daemon.sources / "loose.db", SQLITE_ROWS, SQLITE_BAD)
    finished = _export(
        daemon, uri, table="t", on_bad_rows="skip", chunk_rows=1000, format="parquet",
        report=True,
    )  # fmt: skip
    assert skipped_rows(finished) == len(SQLITE_BAD)
    report = (manifest_path(finished.manifest_uri).parent / "report.html").read_text()
    assert f"<dt>Source rows skipped (on_bad_rows skip)</dt><dd>{len(SQLITE_BAD)}</dd>" in report
    good = [i for i in range(SQLITE_ROWS) if i not in SQLITE_BAD]
    out = read_export(finished.manifest_uri)
    assert out["id"].to_list() == good
    assert out["amount"].to_list() == [i * 3 for i in good]
    assert out["price"].to_list() == [Decimal(f"{i}.25") for i in good]
    assert out["day"].to_list() == [date(2024, 1, 1 + i % 28) for i in good]

    message = _failed(_export(daemon, uri, table="t", format="parquet", dataset="fail"))
    assert "column 'amount'" in message and 'on_bad_rows "skip"' in message, message


def test_the_live_skipped_rows_counter_ends_equal_to_the_manifests(daemon: Daemon) -> None:
    """Rows skipped after the last chunk's rows (the table's last row) are counted in no
    chunk: the last progress event, the finished event, GetExport and GetExport after a
    restart all count them, as the manifest does."""
    uri = _sqlite_source(daemon.sources / "tail.db", SQLITE_ROWS, SQLITE_BAD)
    spec = ExportClient.build_spec(
        source=uri, table="t", to=str(daemon.exports), dataset="tail", on_bad_rows="skip",
        chunk_rows=1000, format="parquet",
    )  # fmt: skip
    progress: list[int] = []
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id, timeout=180):
            if event.HasField("progress"):
                progress.append(event.progress.counters.get("source/skipped_rows", 0))
            if event.HasField("finished"):
                finished = event.finished
    assert progress and progress[-1] == len(SQLITE_BAD), progress
    assert skipped_rows(finished) == len(SQLITE_BAD)
    daemon.restart()
    with ExportClient(daemon.address) as client:
        assert skipped_rows(client.get(export_id)) == len(SQLITE_BAD)


@pytest.mark.slow
def test_a_resumed_sqlite_export_counts_each_skipped_row_once(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Killed after its second chunk, the export resumes after the last journalled key:
    the rows skipped before it are not counted again, those after it are."""
    rows = 60_000
    bad = {i: ("amount", "price", "day")[i % 3] for i in range(7, rows, 997)}
    bad[rows - 1] = "amount"
    slow = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    uri = _sqlite_source(slow.sources / "big.db", rows, bad)
    spec = ExportClient.build_spec(
        source=uri, table="t", to=str(slow.exports), dataset="big", chunk_rows=3000,
        on_bad_rows="skip", format="parquet", level=15,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 2)
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert "resumes after chunk" in slow.log_tail(400)
    assert skipped_rows(finished) == len(bad)
    out = read_export(finished.manifest_uri)
    assert out["id"].to_list() == [i for i in range(rows) if i not in bad]


def _sqlite_amounts(path: Path, amounts: list[Any]) -> str:
    """Table t's DECIMAL(10,2) column stores numbers as numbers (REAL or INTEGER, 15
    digits): text of a long scale reaches the reader through a query's union with a
    TEXT column (the view takes the first SELECT's declared type)."""
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, amount DECIMAL(10,2))")
        con.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, amount TEXT)")
        for i, amount in enumerate(amounts):
            table = "u" if isinstance(amount, str) else "t"
            con.execute(f"INSERT INTO {table} VALUES (?, ?)", (i, amount))
    return f"sqlite://{path}"


_UNION = "SELECT id, amount FROM t UNION ALL SELECT id, amount FROM u"


def test_a_sqlite_decimal_of_a_long_scale_never_turns_another_value_into_null(
    daemon: Daemon,
) -> None:
    """One Decimal type was inferred for the whole batch: a text value of 35 places
    (exactly 1.50) made it Decimal(38, 35), in which 12345678 of the same DECIMAL(10,2)
    column does not fit, and it became NULL, silently, under "fail" and "skip". Each
    value is brought to the declared scale alone: exact ones export, one that would be
    rounded is a bad row."""
    amounts = [12345678, "1.50000000000000000000000000000000000", 99999999.99,
               "0.100000000000000000000000000000000", -7]  # fmt: skip
    want = [Decimal("12345678.00"), Decimal("1.50"), Decimal("99999999.99"), Decimal("0.10"),
            Decimal("-7.00")]  # fmt: skip
    uri = _sqlite_amounts(daemon.sources / "scales.db", amounts)
    for on_bad_rows in ("fail", "skip"):
        finished = _export(
            daemon, uri, query=_UNION, order_by=["id"], format="parquet",
            on_bad_rows=on_bad_rows, dataset=on_bad_rows,
        )  # fmt: skip
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        assert read_export(finished.manifest_uri)["amount"].to_list() == want

    inexact = "1.50000000000000000000000000000000001"
    uri = _sqlite_amounts(daemon.sources / "inexact.db", [*amounts, inexact, 5])
    skipped = _export(
        daemon, uri, query=_UNION, order_by=["id"], format="parquet", on_bad_rows="skip",
        dataset="s2",
    )  # fmt: skip
    assert skipped_rows(skipped) == 1
    out = read_export(skipped.manifest_uri)
    assert out["id"].to_list() == [0, 1, 2, 3, 4, 6]
    assert out["amount"].to_list() == [*want, Decimal("5.00")]
    failed = _export(daemon, uri, query=_UNION, order_by=["id"], format="parquet", dataset="f2")
    message = _failed(failed)
    assert "column 'amount', row 6:" in message and "rounding" in message, message


def test_sqlite_times_that_convert_alone_but_not_together_fail_without_the_skip_hint(
    daemon: Daemon,
) -> None:
    """A TIMESTAMP column holding times with and without a zone offset: each converts
    alone, not together, so under "skip" no row is left out and the read fails; it
    told the user to use on_bad_rows "skip", which was on."""
    path = daemon.sources / "mixed.db"
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, ts TIMESTAMP)")
        con.executemany(
            "INSERT INTO t VALUES (?, ?)",
            [(1, "2024-01-02 03:04:05"), (2, "2024-01-02 03:04:05+02:00")],
        )
    message = _failed(
        _export(daemon, f"sqlite://{path}", table="t", format="parquet", on_bad_rows="skip")
    )
    assert "column 'ts'" in message and "not together" in message, message
    assert "on_bad_rows" not in message, message


# --- DuckDB ---------------------------------------------------------------------------


def test_duckdb_rows_with_infinities_or_huge_numbers_are_skipped_and_counted(
    daemon: Daemon,
) -> None:
    path = daemon.sources / "edges.duckdb"
    largest = 10**38 - 1
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP, h HUGEINT, days DATE[], closes TIME)"
        )
        con.execute(
            "INSERT INTO t SELECT g, TIMESTAMP '2024-01-01' + g * INTERVAL 1 MINUTE, g, "
            "[DATE '2024-01-01'], TIME '12:00' FROM range(3000) r(g)"
        )
        con.execute("UPDATE t SET ts = 'infinity' WHERE id IN (5, 2047)")
        con.execute(f"UPDATE t SET h = {largest + 1} WHERE id = 2048")
        con.execute(f"UPDATE t SET h = {-largest} WHERE id = 10")  # fits
        con.execute("UPDATE t SET days = [DATE '2024-01-01', 'infinity'] WHERE id = 2999")
        con.execute("UPDATE t SET closes = '24:00:00' WHERE id = 0")
    bad = {0, 5, 2047, 2048, 2999}
    uri = f"duckdb://{path}"
    finished = _export(
        daemon, uri, table="t", on_bad_rows="skip", chunk_rows=1000, format="parquet"
    )
    assert skipped_rows(finished) == len(bad)
    out = read_export(finished.manifest_uri)
    assert out["id"].to_list() == [i for i in range(3000) if i not in bad]
    assert out.filter(out["id"] == 10)["h"].to_list() == [Decimal(-largest)]

    message = _failed(_export(daemon, uri, table="t", format="parquet", dataset="fail"))
    assert "column 'ts', row 6:" in message and 'on_bad_rows "skip"' in message, message
