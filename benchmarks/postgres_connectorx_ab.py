"""PostgreSQL source: ADBC's driver (as Sluice reads) beside connectorx, client CPU A/B.

    pip install connectorx   # not a dependency: the evaluation below rejected it
    python -m benchmarks.postgres_connectorx_ab [--rows 1000000] [--repeat 3] [--slow-consumer S]

Starts a throwaway PostgreSQL, fills the table of benchmarks/postgres_source_bench.py and
reads Sluice's planned SELECT (database_source) in a fresh process per read, alternately:

- `adbc`: ADBC's COPY BINARY batches (4 MiB hint) to Arrow, nothing else;
- `adbc typed`: those made into Polars frames of the planned schema (as postgres_reading);
- `cx`: connectorx `read_sql(..., return_type="arrow_stream")` of the same SELECT with
  jsonb cast to text (connectorx re-serialises jsonb through serde_json: not exact);
- `cx typed`: those made into frames of the planned schema;
- `cx csv` / `cx csv typed`: the same with connectorx's `protocol="csv"` (COPY CSV).

Each read reports the process's CPU seconds (getrusage: every thread, the Rust reader's
too) from just before the query to the last batch, wall seconds and VmHWM.
`--slow-consumer` sleeps per batch: connectorx's stream feeds an unbounded channel.

Issue 17 (2026-12, connectorx 0.4.6, ADBC 1.13.0, 2 shared cores): connectorx costs MORE
client CPU, 0.60-0.67 s per 1M rows against ADBC's 0.32-0.41 (10M: 6.3-6.6 s against
3.6-3.7); reading `id` alone costs it 0.36 s against 0.10, since rust-postgres' sync
BinaryCopyOutIter runs a tokio block_on per row (perf); protocol="csv" costs 0.75. Its
memory follows the consumer's lag (10M rows, 0.1 s per batch: VmHWM 652 MiB, ADBC 244).
So it was not adopted (the README of benchmarks/ has the rest of the evaluation).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks.postgres_bench_table import bench_target, planned_read
from benchmarks.postgres_source_bench import _fill
from sluice.server.pipeline import postgres_reading
from sluice.server.pipeline.postgres_source import PostgresTarget
from tests.servers.postgres import start_postgres

ROOT = Path(__file__).resolve().parent.parent

_READER = """
import os, resource, sys, time
from benchmarks._proc import high_water_mark
import polars as pl, pyarrow as pa
from sluice.server.pipeline import postgres_reading
url, which, sql, schema_text, batch_rows, pause = sys.argv[1:7]
schema = pl.Schema(eval(schema_text, vars(pl)))
batch_rows, pause = int(batch_rows), float(pause)
if which.startswith("adbc"):
    import adbc_driver_postgresql.dbapi as adbc
else:
    import connectorx as cx
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
typed = which.endswith("typed")
cpu0, wall0, rows = cpu(), time.perf_counter(), 0
if which.startswith("adbc"):
    con = adbc.connect(url); cursor = con.cursor()
    cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(4 << 20)})
    cursor.execute(sql)
    batches = cursor.fetch_record_batch()
else:
    protocol = "csv" if "csv" in which else "binary"
    batches = cx.read_sql(
        url, sql, return_type="arrow_stream", batch_size=batch_rows, protocol=protocol
    )
for batch in batches:
    if typed:
        frame = postgres_reading._typed(pl.from_arrow(postgres_reading._unwrapped(batch)), schema)
        rows += frame.height
    else:
        rows += batch.num_rows
    if pause:
        time.sleep(pause)
print(rows, cpu() - cpu0, time.perf_counter() - wall0, high_water_mark(os.getpid()))
"""


def _sql(target: PostgresTarget) -> tuple[str, str, str]:
    """(Sluice's SELECT, connectorx's SELECT, the planned schema's repr)."""
    _, schema, sql, params = planned_read(target)
    sluice = postgres_reading.inline(sql, params)
    # jsonb in its binary form is decoded by connectorx through serde_json (not exact).
    cx = sluice.replace('"doc" FROM', '"doc"::text AS "doc" FROM', 1)
    assert cx != sluice, sluice
    return sluice, cx, repr(dict(schema.items()))


def _read(url: str, which: str, sql: str, schema: str, batch_rows: int, pause: float) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _READER, url, which, sql, schema, str(batch_rows), str(pause)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    rows, cpu, wall, hwm = done.stdout.split()
    return f"{float(cpu):.2f} / {float(wall):.2f} / {int(hwm) >> 20} ({rows})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--slow-consumer", type=float, default=0.0, help="seconds per batch")
    parser.add_argument("--only", default="adbc,adbc typed,cx,cx typed")
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = _fill(server, args.rows)
        sluice, cx, schema = _sql(bench_target(server, url))
        print(f"sluice: {sluice}\ncx:     {cx}\nschema: {schema}", flush=True)
        which = args.only.split(",")
        print("\nclient CPU s / wall s / VmHWM MiB (rows)\n")
        print("| run | " + " | ".join(which) + " |\n|---|" + "---:|" * len(which), flush=True)
        for run in range(1, args.repeat + 1):
            cells = []
            for name in which:
                sql = cx if name.startswith("cx") else sluice
                cells.append(_read(url, name, sql, schema, args.batch_rows, args.slow_consumer))
            print(f"| {run} | {' | '.join(cells)} |", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
