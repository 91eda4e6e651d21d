"""PostgreSQL source: Sluice end to end beside the driver read paths and `psql \\copy`.

    python -m benchmarks.postgres_source_bench [--rows 1000000] [--scale 10]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills a table of numbers,
text, timestamps and jsonb, and measures on the same machine in the same run:

- `psql \\copy (SELECT ...) TO file CSV`: the floor (no Arrow, no encoding work);
- the read paths Sluice chose between: ADBC's COPY BINARY Arrow batches, psycopg 3's
  server-side binary cursor (rows/s and peak RSS of a fresh process each);
- Sluice through a fresh daemon: table -> Parquet and -> JSONL+zstd (rows/s, the
  daemon's peak RSS), at 1x and SCALEx rows for the memory check.

DuckDB's postgres_scan (the `duckdb-ext-postgres` package) and dlt's sql_database, the
issue's other peers, are not in this script yet.
Prints one Markdown table. Needs a quiet machine for numbers worth comparing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

from benchmarks.export_bench import RssSampler
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer, start_postgres

_READER = """
import resource, sys, time
import polars as pl
url, which = sys.argv[1], sys.argv[2]
sql = "SELECT id, amount, price::text, name, at, doc::text FROM bench ORDER BY id"
start = time.perf_counter(); rows = 0
if which == "adbc":
    import adbc_driver_postgresql.dbapi as dbapi
    with dbapi.connect(url) as con, con.cursor() as cur:
        cur.execute(sql)
        for batch in cur.fetch_record_batch():
            rows += pl.from_arrow(batch).height
else:
    import psycopg
    with psycopg.connect(url) as con, con.cursor(name="b", binary=True) as cur:
        cur.execute(sql)
        while batch := cur.fetchmany(50_000):
            rows += pl.DataFrame(list(zip(*batch)), orient="col").height
seconds = time.perf_counter() - start
print(rows, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _fill(server: PostgresServer, rows: int) -> str:
    url = server.new_database()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            b"CREATE TABLE bench (id int8 PRIMARY KEY, amount float8, price numeric(12,2), "
            b"name text, at timestamptz, doc jsonb)"
        )
        con.execute(
            f"INSERT INTO bench SELECT g, g * 0.5, g / 7.0, 'name ' || g, "
            f"timestamptz '2024-01-01' + g * interval '1 second', "
            f"jsonb_build_object('g', g, 'tag', 'x') FROM generate_series(1, {rows}) g".encode()
        )
        con.execute(b"VACUUM ANALYZE bench")
    return url


def _reader(url: str, which: str) -> tuple[int, float, int]:
    done = subprocess.run(
        [sys.executable, "-c", _READER, url, which], capture_output=True, text=True, check=True
    )
    rows, seconds, rss = done.stdout.split()
    return int(rows), float(seconds), int(rss)


def _psql_copy(server: PostgresServer, url: str, folder: Path) -> tuple[float, int]:
    psql = shutil.which("psql") or str(
        Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1])
    )
    out = folder / "floor.csv"
    start = time.perf_counter()
    process = subprocess.Popen(
        [psql, url, "-c", f"\\copy (SELECT * FROM bench ORDER BY id) TO '{out}' CSV"],
        stdout=subprocess.DEVNULL,
    )
    with RssSampler(process.pid) as sampler:
        process.wait()
    return time.perf_counter() - start, sampler.peak


def _sluice(
    server: PostgresServer, url: str, folder: Path, fmt: str, compression: str
) -> tuple[float, int]:
    daemon = Daemon(
        root=folder / f"daemon-{fmt}",
        settings={
            "source_profiles": {
                "bench": {
                    "kind": "postgresql",
                    "hosts": [f"127.0.0.1:{server.port}"],
                    "user": server.user,
                }
            }
        },
    )
    daemon.start()
    try:
        spec = ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{server.port}/{url.rsplit('/', 1)[1]}",
            source_profile="bench", table="bench", to=str(daemon.exports), dataset="bench",
            format=fmt, compression=compression,
        )  # fmt: skip
        assert daemon.process is not None
        with RssSampler(daemon.process.pid) as sampler, ExportClient(daemon.address) as client:
            start = time.perf_counter()
            finished = client.wait(client.create(spec).id, timeout=3600)
            seconds = time.perf_counter() - start
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        return seconds, sampler.peak
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    server = start_postgres()
    lines = ["| case | rows | seconds | rows/s | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
    try:
        with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
            folder = Path(tmp)
            for rows in (args.rows, args.rows * args.scale) if args.scale > 1 else (args.rows,):
                url = _fill(server, rows)
                cases: list[tuple[str, float, int]] = []
                cases.append(("psql \\copy CSV (floor)", *_psql_copy(server, url, folder)))
                for which in ("adbc", "psycopg"):
                    _, seconds, rss = _reader(url, which)
                    cases.append((f"read only: {which}", seconds, rss))
                for fmt, compression in (("parquet", "none"), ("jsonl", "zstd")):
                    seconds, rss = _sluice(server, url, folder, fmt, compression)
                    cases.append((f"sluice -> {fmt}+{compression}", seconds, rss))
                for name, seconds, rss in cases:
                    lines.append(
                        f"| {name} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | "
                        f"{rss / 2**20:.0f} |"
                    )
    finally:
        server.stop()
    lines.append(
        f"\nDuckDB postgres_scan and dlt: not measured yet (machine: {psutil.cpu_count()} CPUs)."
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
