"""CPU of reading SQLite and DuckDB sources with and without their resume key (issue 17).

A resumable SQLite read of a table keyed by a TIMESTAMP, a DECIMAL or the rowid carries
a hidden copy of each stored key (database_keys.resume_columns), encoded in Python per
row; this measures what that adds to a read of every column (`time.process_time`, the
reading thread is the only one), beside the same read without it and beside a table
keyed by an INTEGER PRIMARY KEY (no hidden column). For DuckDB it sets the read Sluice does
(`con.sql(...).to_arrow_reader`) beside the DB-API result path it replaced
(`con.execute(...)`, which DuckDB warns copies the rows once more).

    .venv/bin/python -m benchmarks.database_key_cpu                      # 1M rows, 3 rounds
    .venv/bin/python -m benchmarks.database_key_cpu --rows 50000 --rounds 1   # a quick look

Writes benchmarks/results/database_key_cpu.md (every round listed; cases alternate
within a round, so a busy machine slows all of them alike).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from sluice.server.pipeline.database_keys import SQLITE_ROWID, resume_columns
from sluice.server.pipeline.database_source import DatabaseRead, read_frames, read_schema

BATCH_ROWS = 65_536
RESULT = Path(__file__).parent / "results" / "database_key_cpu.md"


def _sqlite(folder: Path, rows: int) -> dict[str, DatabaseRead]:
    path = folder / "keys.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE by_id (id INTEGER PRIMARY KEY, amount REAL, name TEXT)")
    con.execute("CREATE TABLE by_time (at TIMESTAMP PRIMARY KEY, amount REAL, name TEXT)")
    con.execute("CREATE TABLE by_price (price DECIMAL(14, 2) PRIMARY KEY, amount REAL, name TEXT)")
    con.execute("CREATE TABLE by_rowid (amount REAL, name TEXT)")
    start = 1_700_000_000
    for table, key in (
        ("by_id", lambda n: n),
        ("by_time", lambda n: datetime.fromtimestamp(start + n, UTC).isoformat(sep=" ")[:26]),
        ("by_price", lambda n: n * 0.25),
    ):
        con.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?)",
            ((key(n), n * 1.5, f"name {n}") for n in range(rows)),
        )
    con.executemany(
        "INSERT INTO by_rowid VALUES (?, ?)", ((n * 1.5, f"name {n}") for n in range(rows))
    )
    con.commit()
    con.close()
    orders = {"by_id": "id", "by_time": "at", "by_price": "price", "by_rowid": SQLITE_ROWID}
    return {
        table: DatabaseRead("sqlite", str(path), "", table, "", (key,), unique_order=True)
        for table, key in orders.items()
    }


def _read_cpu(read: DatabaseRead, with_key: bool) -> float:
    schema = read_schema(read)
    columns = schema.names()  # every column, the key too, as an export of the table
    if with_key:
        columns += [c for c in resume_columns("sqlite", read.order_by, schema) if c not in columns]
    started = time.process_time()
    for _ in read_frames(read, schema, columns, BATCH_ROWS, 0):
        pass
    return time.process_time() - started


def _duckdb_cpu(path: Path, via_sql: bool) -> float:
    con = duckdb.connect(str(path), read_only=True)
    query = "SELECT * FROM t ORDER BY id"
    started = time.process_time()
    result = con.sql(query) if via_sql else con.execute(query)
    reader = result.to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        pl.from_arrow(batch)
    spent = time.process_time() - started
    con.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    cases: dict[str, Callable[[], float]] = {}
    with tempfile.TemporaryDirectory(prefix="database-key-cpu-") as folder:
        reads = _sqlite(Path(folder), args.rows)
        for table, read in reads.items():
            if table != "by_id":
                cases[f"sqlite {table}, no key column"] = lambda r=read: _read_cpu(r, False)
            cases[f"sqlite {table}, resume key"] = lambda r=read: _read_cpu(r, True)
        ddb = Path(folder) / "keys.duckdb"
        with duckdb.connect(str(ddb)) as con:
            con.execute(
                "CREATE TABLE t AS SELECT range AS id, range * 1.5 AS amount, "
                f"'name ' || range AS name FROM range({args.rows})"
            )
        cases["duckdb con.sql (Sluice)"] = lambda: _duckdb_cpu(ddb, True)
        cases["duckdb con.execute (before)"] = lambda: _duckdb_cpu(ddb, False)
        runs: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, case in cases.items():
                runs[name].append(case())
    lines = [
        f"# database_key_cpu: {args.rows:,} rows, {args.rounds} round(s), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "CPU seconds of the reading thread (time.process_time), batch rows "
        f"{BATCH_ROWS:,}; median and every round.",
        "",
        "| case | median CPU s | rounds |",
        "|---|---:|---|",
    ]
    for name, values in runs.items():
        shown = ", ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {name} | {statistics.median(values):.3f} | {shown} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
