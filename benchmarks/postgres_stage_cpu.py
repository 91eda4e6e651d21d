"""PostgreSQL source: CPU seconds per stage of Sluice's read path, in one process.

    python -m benchmarks.postgres_stage_cpu [--rows 1000000] [--repeat 3]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills the table of
benchmarks/postgres_source_bench.py (numbers, numeric, text, timestamptz, jsonb) and
measures CPU seconds (time.process_time around each stage, which run one after the
other here; a busy machine changes the waiting, not the counts):

- server: the PostgreSQL backend's own CPU (its process's user+system time) producing
  the COPY data: the index scan in key order and the ::text casts (numeric, jsonb);
- driver: ADBC's COPY BINARY stream decoded into Arrow batches (the SQL Sluice sends);
- frames: those batches into Polars frames with the planned types (numeric from its
  exact text into Decimal), as postgres_reading does;
- parquet / jsonl+zstd: the frames written by Polars (an estimate of the encoder's
  share, without the chunking and digests of the real pipeline).

Prints one Markdown row per repeat; compare runs of two builds alternately.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import zstandard

from benchmarks.postgres_bench_table import bench_target, planned_read
from benchmarks.postgres_source_bench import _fill
from sluice.server.pipeline import database_source, postgres_reading
from sluice.server.pipeline.postgres_source import PostgresTarget
from tests.servers.postgres import start_postgres

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("server", "driver", "frames", "parquet", "jsonl+zstd")


def _stages(target: PostgresTarget, rows: int) -> dict[str, float]:
    read, schema, sql, params = planned_read(target)
    import adbc_driver_postgresql.dbapi as adbc
    from psycopg.conninfo import make_conninfo

    params_ = database_source.postgres_source.connection_params(
        read.server or target, snapshot_reads=True
    )
    spent = {"server": 0.0, "driver": 0.0, "frames": 0.0, "parquet": 0.0, "jsonl+zstd": 0.0}
    count = 0
    with adbc.connect(make_conninfo(**params_)) as con, con.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
        assert row is not None
        backend = psutil.Process(int(row[0]))
        before = backend.cpu_times()
        cursor.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(postgres_reading.BATCH_HINT_BYTES)}
        )
        cursor.execute(postgres_reading.inline(sql, params))
        reader = cursor.fetch_record_batch()
        while True:
            start = time.process_time()
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            spent["driver"] += time.process_time() - start
            start = time.process_time()
            arrow = postgres_reading._unwrapped(batch)
            frame = postgres_reading._typed(pl.from_arrow(arrow), schema)
            spent["frames"] += time.process_time() - start
            count += frame.height
            start = time.process_time()
            frame.write_parquet(io.BytesIO())
            spent["parquet"] += time.process_time() - start
            start = time.process_time()
            zstandard.ZstdCompressor(level=3).compress(frame.write_ndjson().encode())
            spent["jsonl+zstd"] += time.process_time() - start
        after = backend.cpu_times()
        spent["server"] = after.user + after.system - before.user - before.system
    assert count == rows, (count, rows)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = _fill(server, args.rows)
        target = bench_target(server, url)
        print(f"{args.rows:,} rows, thread CPU seconds per stage\n")
        print("| run | " + " | ".join(STAGES) + " |\n|---|" + "---:|" * len(STAGES))
        for run in range(1, args.repeat + 1):
            spent: dict[str, Any] = _stages(target, args.rows)
            cells = " | ".join(f"{spent[k]:.2f}" for k in STAGES)
            print(f"| {run} | {cells} |", flush=True)
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
