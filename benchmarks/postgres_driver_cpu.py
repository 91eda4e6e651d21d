"""PostgreSQL source: what ADBC's decoding CPU is made of, one variant at a time.

    python -m benchmarks.postgres_driver_cpu [--rows 1000000] [--repeat 3] [--hold]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills the table of
benchmarks/postgres_source_bench.py and drains each variant's COPY through ADBC's driver
(`cursor.fetch_record_batch()`, nothing else), measuring the client's CPU seconds
(time.process_time: every thread of this process) and the backend's (psutil). Variants
run alternately within each repeat, so a busy machine hits them alike; CPU counts, not
wall time.

- `sluice`: the SELECT Sluice sends (database_source's planned read), 4 MiB batches;
- `hint 16M` / `hint 64M`: the same with a larger `batch_size_hint_bytes`;
- `prefetched`: the same read through the read-ahead thread postgres_reading uses;
- one column beside `id` each (`id` alone, `amount`, `name`, `at`, `doc` (jsonb binary),
  `price::text`, `price` numeric binary, `(price*100)::int8` scaled, and that with NaN
  read as int8's largest value): the share of each.

`--hold` waits for Enter after filling (the URL is printed), to point `py-spy record
--native` or `perf record` at a process reading a variant.
"""

from __future__ import annotations

import argparse
import sys
import time

import psutil

from benchmarks.postgres_bench_table import bench_target, planned_select
from benchmarks.postgres_source_bench import _fill
from sluice.server.pipeline import postgres_reading
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.pipeline.prefetch import prefetched
from tests.servers.postgres import start_postgres

MIB = 1024 * 1024
_ONE = "SELECT id, {} FROM bench AS sluice_source ORDER BY sluice_source.id"


def _variants(target: PostgresTarget) -> dict[str, tuple[str, int, bool]]:
    """name -> (SQL, batch hint bytes, through the read-ahead thread)."""
    sluice = planned_select(target)
    hint = postgres_reading.BATCH_HINT_BYTES
    variants = {
        "sluice": (sluice, hint, False),
        "hint 16M": (sluice, 16 * MIB, False),
        "hint 64M": (sluice, 64 * MIB, False),
        "prefetched": (sluice, hint, True),
        "id": ("SELECT id FROM bench AS sluice_source ORDER BY sluice_source.id", hint, False),
    }
    nan_guarded = "CASE WHEN price = 'NaN' THEN 9223372036854775807 ELSE (price*100)::int8 END"
    scaled = ("price::text", "price", "(price*100)::int8", nan_guarded)
    for column in ("amount", "name", "at", "doc", *scaled):
        variants[column] = (_ONE.format(column), hint, False)
    return variants


def _drain(url: str, sql: str, hint: int, ahead: bool) -> tuple[float, float, int]:
    """(client CPU s, backend CPU s, rows) of ADBC reading `sql`."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as con, con.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
        assert row is not None
        backend = psutil.Process(int(row[0]))
        before = backend.cpu_times()
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(hint)})
        start = time.process_time()
        cursor.execute(sql)
        rows = 0
        batches = cursor.fetch_record_batch()
        if ahead:
            with prefetched(batches, postgres_reading.DRIVER_BATCHES_AHEAD, "bench") as items:
                rows = sum(batch.num_rows for batch in items)
        else:
            rows = sum(batch.num_rows for batch in batches)
        client = time.process_time() - start
        after = backend.cpu_times()
    return client, after.user + after.system - before.user - before.system, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = _fill(server, args.rows)
        variants = _variants(bench_target(server, url))
        if args.hold:
            print(url, flush=True)
            for name, (sql, _, _) in variants.items():
                print(f"- {name}: {sql}", flush=True)
            input("Enter to go on ")
        import adbc_driver_postgresql

        version = adbc_driver_postgresql.__version__
        print(f"\n{args.rows:,} rows, ADBC {version} read only: client CPU s / backend CPU s\n")
        print("| run | " + " | ".join(variants) + " |\n|---|" + "---:|" * len(variants))
        for run in range(1, args.repeat + 1):
            cells = []
            for sql, hint, ahead in variants.values():
                client, backend, rows = _drain(url, sql, hint, ahead)
                assert rows == args.rows, (rows, args.rows)
                cells.append(f"{client:.2f} / {backend:.2f}")
            print(f"| {run} | {' | '.join(cells)} |", flush=True)
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
