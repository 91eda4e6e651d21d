"""Resume of SQLite sources after SIGKILL, through a real daemon, by key not position:
tables keyed by a TIMESTAMP (text in two spellings, so SQLite's order is not time
order), by a DECIMAL (integers and binary floats) and by the rowid (no primary key).
Rows before the last journalled key are deleted between the runs, which would shift a
resume by row position: the export still holds every row exactly once, in the order
SQLite's ORDER BY gives. A DuckDB key that cannot be compared back exactly (a DOUBLE)
fails the resumed run FAILED_PRECONDITION naming spec.source.order_by instead."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import create_and_kill_after_chunk
from tests.integration.helpers import load_manifest, read_export

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 40_000
CHUNK_ROWS = 2_000
DELETED = 150


def _timestamp_table(con: sqlite3.Connection) -> tuple[str, str]:
    """Times spelled with "T" on odd rows and a space on even ones: SQLite sorts the
    text, so within a day every space-spelled time comes before every "T" one."""
    con.execute("CREATE TABLE timed (happened TIMESTAMP PRIMARY KEY, n INTEGER)")
    start = datetime(2024, 1, 1, 0, 0, 0, 250000)
    con.executemany(
        "INSERT INTO timed VALUES (?, ?)",
        [
            ((start + timedelta(seconds=7 * n)).isoformat(sep="T" if n % 2 else " "), n)
            for n in reversed(range(ROWS))
        ],
    )
    return "timed", "happened"


def _decimal_table(con: sqlite3.Connection) -> tuple[str, str]:
    """Prices as SQLite keeps a DECIMAL: whole ones as integers, the rest as floats."""
    con.execute("CREATE TABLE priced (price DECIMAL(12, 3) PRIMARY KEY, n INTEGER)")
    con.executemany(
        "INSERT INTO priced VALUES (?, ?)",
        [(str(n * 0.25 - 5000), n) for n in reversed(range(ROWS))],
    )
    return "priced", "price"


def _rowid_table(con: sqlite3.Connection) -> tuple[str, str]:
    """No primary key: read in rowid order, which is no column the export reads."""
    con.execute("CREATE TABLE plain (n INTEGER, label TEXT)")
    con.executemany("INSERT INTO plain VALUES (?, ?)", [(n, f"row {n}") for n in range(ROWS)])
    return "plain", "_rowid_"


TABLES: dict[str, Callable[[sqlite3.Connection], tuple[str, str]]] = {
    "timestamp": _timestamp_table,
    "decimal": _decimal_table,
    "rowid": _rowid_table,
}


@pytest.mark.parametrize("key", sorted(TABLES))
def test_sigkill_then_rows_deleted_before_the_last_key_every_row_once(
    daemon_factory,  # type: ignore[no-untyped-def]
    key: str,
) -> None:
    slow = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    path: Path = slow.sources / f"{key}.db"
    with sqlite3.connect(path) as con:
        table, order = TABLES[key](con)
        expected = [n for (n,) in con.execute(f"SELECT n FROM {table} ORDER BY {order}")]
    con.close()
    if key == "timestamp":
        assert expected != sorted(expected), "SQLite's order of the text is the time order"
    spec = ExportClient.build_spec(
        source=f"sqlite://{path}", table=table, to=str(slow.exports), dataset=key,
        level=15, chunk_rows=CHUNK_ROWS,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 1)
    # The first rows in the key order, journalled before the crash, go: a resume by row
    # position would now skip as many rows that were never exported.
    with sqlite3.connect(path) as con:
        gone = expected[:DELETED]
        con.executemany(f"DELETE FROM {table} WHERE n = ?", [(n,) for n in gone])
    con.close()
    slow.start()
    with ExportClient(slow.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert "resumes after chunk" in slow.log_tail(400)
    exported = read_export(finished.manifest_uri)["n"].to_list()
    assert exported == expected
    assert load_manifest(finished.manifest_uri)["totals"]["records"] == ROWS


def test_a_key_that_cannot_be_compared_back_fails_the_resumed_run_naming_it(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """A DuckDB table ordered by a DOUBLE: no exact text for the journalled key, so the
    restarted run refuses to continue by row position, and says what to do."""
    slow = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    slow.start()
    path = slow.sources / "floats.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE measured AS SELECT CAST(range AS DOUBLE) / 2 AS reading, "
            f"range AS n FROM range({ROWS})"
        )
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}", table="measured", order_by=["reading"],
        to=str(slow.exports), dataset="floats", level=15, chunk_rows=CHUNK_ROWS,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(slow, spec, 1)
    slow.start()
    with ExportClient(slow.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    assert "spec.source.order_by: this export cannot continue exactly" in str(failed.value)
    assert "export it again as a new export" in str(failed.value)
