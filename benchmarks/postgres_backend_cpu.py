"""PostgreSQL source: the backend's CPU seconds for each way of asking for the rows.

    python -m benchmarks.postgres_backend_cpu [--rows 1000000] [--repeat 3]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills the table of
benchmarks/postgres_source_bench.py and runs each COPY below on a connection of its own
(in a REPEATABLE READ READ ONLY transaction, as Sluice reads), draining the COPY data
with psycopg without decoding it. The number is that backend's own CPU (user+system from
/proc/PID/stat, via psutil) before/after the COPY: a busy machine changes the waiting,
not the count.

- sluice: the SELECT Sluice sends today (database_source's planned read).
- no-casts: the same, numeric and jsonb in their binary forms (no ::text output functions).
- seq-scan: Sluice's SELECT without ORDER BY (a sequential scan, no index).
- seq-no-casts: neither.
- duckdb: DuckDB's postgres_scan, one range of pages (`WHERE ctid BETWEEN ...`), raw types.

Then, per column read two ways (`price::text` / `price` numeric(12,2), `doc::text` /
`doc` jsonb), ADBC decoding the COPY into Arrow: the client's CPU (process_time) and the
backend's, since a cast the backend saves may cost the driver more.

Prints one Markdown row per repeat for each table.
"""

from __future__ import annotations

import argparse
import sys
import time

import psutil
import psycopg

from benchmarks.postgres_bench_table import bench_target, planned_select
from benchmarks.postgres_source_bench import _fill
from sluice.server.pipeline.postgres_source import PostgresTarget
from tests.servers.postgres import start_postgres

COLUMNS = '"id", "amount", "price", "name", "at", "doc"'
_RAW = f"SELECT {COLUMNS} FROM public.bench"


def _queries(target: PostgresTarget) -> dict[str, str]:
    sluice = planned_select(target)
    seq = sluice.split(" ORDER BY ")[0]
    return {
        "sluice": sluice,
        "no-casts": f"{_RAW} AS sluice_source ORDER BY sluice_source.id",
        "seq-scan": seq,
        "seq-no-casts": _RAW,
        "duckdb": f"{_RAW} WHERE ctid BETWEEN '(0,0)'::tid AND '(4294967295,0)'::tid",
    }


def _backend_cpu(url: str, sql: str) -> tuple[float, int]:
    """The backend's CPU seconds for COPY (sql) TO STDOUT (FORMAT binary), and the bytes."""
    with psycopg.connect(url) as con:
        con.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = con.execute(b"SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = psutil.Process(int(row[0]))
        before = backend.cpu_times()
        size = 0
        with con.cursor() as cursor:
            copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT binary)".encode()
            with cursor.copy(copy_sql) as copy:
                for block in copy:
                    size += len(block)
        after = backend.cpu_times()
        con.rollback()
    return after.user + after.system - before.user - before.system, size


COLUMN_READS = {
    "price::text": "SELECT id, price::text FROM bench",
    "price": "SELECT id, price FROM bench",
    "doc::text": "SELECT id, doc::text FROM bench",
    "doc": "SELECT id, doc FROM bench",
}


def _driver_and_backend_cpu(url: str, sql: str) -> tuple[float, float]:
    """(client CPU of ADBC decoding the rows into Arrow, the backend's CPU) for `sql`."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as con, con.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
        assert row is not None
        backend = psutil.Process(int(row[0]))
        before = backend.cpu_times()
        cursor.execute(sql)
        start = time.process_time()
        for _batch in cursor.fetch_record_batch():
            pass
        client = time.process_time() - start
        after = backend.cpu_times()
    return client, after.user + after.system - before.user - before.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--show-sql", action="store_true")
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = _fill(server, args.rows)
        queries = _queries(bench_target(server, url))
        if args.show_sql:
            for name, sql in queries.items():
                print(f"- {name}: `{sql}`")
        print(f"\n{args.rows:,} rows, backend CPU seconds per COPY (bytes sent)\n")
        print("| run | " + " | ".join(queries) + " |\n|---|" + "---:|" * len(queries))
        for run in range(1, args.repeat + 1):
            cells = []
            for sql in queries.values():
                seconds, size = _backend_cpu(url, sql)
                cells.append(f"{seconds:.2f} ({size / 1e6:.0f} MB)")
            print(f"| {run} | {' | '.join(cells)} |", flush=True)
        print("\nADBC decoding one column (and id): client CPU s / backend CPU s\n")
        print("| run | " + " | ".join(COLUMN_READS) + " |\n|---|" + "---:|" * len(COLUMN_READS))
        for run in range(1, args.repeat + 1):
            pairs = [_driver_and_backend_cpu(url, sql) for sql in COLUMN_READS.values()]
            cells = [f"{client:.2f} / {server:.2f}" for client, server in pairs]
            print(f"| {run} | {' | '.join(cells)} |", flush=True)
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
