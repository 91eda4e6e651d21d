"""PostgreSQL source: Sluice end to end beside DuckDB, dlt and `psql \\copy`.

    make bench-postgres              # 1M and 10M rows -> results/postgres_source.md
    python -m benchmarks.postgres_source_bench [--rows 1000000] [--scale 10] [--out FILE]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills a table of numbers,
text, timestamps and jsonb, and measures on the same machine in the same run:

- `psql \\copy (SELECT ...) TO file CSV`: the floor (no Arrow, no encoding work);
- the read paths Sluice chose between: ADBC's COPY BINARY Arrow batches, psycopg 3's
  server-side binary cursor (rows/s and peak RSS of a fresh process each);
- Sluice through a fresh daemon: table -> Parquet and -> JSONL+zstd (rows/s, the
  daemon's peak RSS and CPU seconds);
- DuckDB's postgres extension (`COPY (SELECT * FROM postgres_scan(...)) TO ...` Parquet
  and JSON+zstd, from the `duckdb-ext-postgres` wheel in its own virtual environment,
  PEER_VENV) and dlt's `sql_table` with the pyarrow backend (Parquet, JSONL+gzip), each
  in a fresh process (benchmarks/postgres_peers.py);

all at 1x and SCALEx rows: memory should be flat. Prints a Markdown table with each
case's throughput and peak RSS as a ratio to Sluice's of the same output, and writes
it to --out. Needs a quiet machine for numbers worth comparing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from benchmarks.export_bench import RssSampler
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer, start_postgres

ROOT = Path(__file__).resolve().parent.parent
#: The virtual environment holding DuckDB and the postgres extension built for it
#: (`make bench-postgres` makes it: the wheel pins an older DuckDB than the project's).
PEER_VENV = ROOT / "benchmarks" / ".venv-pg-duckdb"
#: (case name, peer, output) per peer; output pairs a peer with Sluice's case.
PEER_CASES = (
    ("duckdb postgres_scan -> parquet", "duckdb-parquet", "parquet"),
    ("duckdb postgres_scan -> json+zstd", "duckdb-jsonl-zstd", "jsonl"),
    ("dlt sql_table pyarrow -> parquet", "dlt-parquet", "parquet"),
    ("dlt sql_table pyarrow -> jsonl+gzip", "dlt-jsonl-gzip", "jsonl"),
)

_READER = """
import os, sys, time
from benchmarks._proc import high_water_mark
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
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec (the parent's size).
print(rows, seconds, high_water_mark(os.getpid()))
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
        [sys.executable, "-c", _READER, url, which],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    rows, seconds, rss = done.stdout.split()
    return int(rows), float(seconds), int(rss)


@dataclass(frozen=True)
class Case:
    """One measured run: what ran, which output it pairs with ("" for none)."""

    name: str
    output: str
    seconds: float
    peak_rss: int
    cpu_seconds: float | None = None


def _psql_copy(server: PostgresServer, url: str, folder: Path) -> Case:
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
    out.unlink()
    return Case("psql \\copy CSV (floor)", "", time.perf_counter() - start, sampler.peak)


def _sluice(
    server: PostgresServer,
    url: str,
    folder: Path,
    fmt: str,
    compression: str,
    connections: int | None = None,
) -> Case:
    """Sluice's daemon exporting the table; `connections`: its postgres_read_connections
    (None: the default, the case the peers are compared with)."""
    extra = {} if connections is None else {"postgres_read_connections": connections}
    daemon = Daemon(
        root=folder / f"daemon-{fmt}",
        settings={
            **extra,
            "source_profiles": {
                "bench": {
                    "kind": "postgresql",
                    "hosts": [f"127.0.0.1:{server.port}"],
                    "user": server.user,
                }
            },
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
        process = psutil.Process(daemon.process.pid)
        before = process.cpu_times()
        with RssSampler(daemon.process.pid) as sampler, ExportClient(daemon.address) as client:
            start = time.perf_counter()
            finished = client.wait(client.create(spec).id, timeout=3600)
            seconds = time.perf_counter() - start
        after = process.cpu_times()
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        cpu = after.user + after.system - before.user - before.system
        name = f"sluice -> {fmt}+{compression}"
        if connections is not None:
            name = f"sluice ({connections} read connections) -> {fmt}+{compression}"
        return Case(name, fmt, seconds, sampler.peak, cpu)
    finally:
        daemon.stop()
        shutil.rmtree(daemon.exports, ignore_errors=True)


def _peer_python(peer: str) -> str | None:
    """The interpreter that runs `peer`, or None when its libraries are not installed."""
    if peer.startswith("duckdb"):
        python = PEER_VENV / "bin" / "python"
        return str(python) if python.exists() else None
    found = subprocess.run(
        [sys.executable, "-c", "import dlt, sqlalchemy"], capture_output=True, check=False
    )
    return sys.executable if found.returncode == 0 else None


def _peer(name: str, peer: str, output: str, url: str, folder: Path) -> Case | None:
    python = _peer_python(peer)
    if python is None:
        return None
    out = folder / peer
    done = subprocess.run(
        [python, "-m", "benchmarks.postgres_peers", peer, url, "bench", str(out)],
        capture_output=True, text=True, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    if done.returncode != 0:
        print(f"{peer} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Case(name, output, result["seconds"], result["peak_rss"], result["cpu_seconds"])


def _rows(rows: int, cases: list[Case]) -> list[str]:
    sluice = {c.output: c for c in cases if c.name.startswith("sluice ->")}
    lines = []
    for case in cases:
        mine = sluice.get(case.output)
        speed = f"{mine.seconds / case.seconds:.2f}" if mine else ""
        memory = f"{case.peak_rss / mine.peak_rss:.2f}" if mine and mine.peak_rss else ""
        cpu = "" if case.cpu_seconds is None else f"{case.cpu_seconds:.1f}"
        lines.append(
            f"| {case.name} | {rows:,} | {case.seconds:.2f} | {rows / case.seconds:,.0f} | "
            f"{speed} | {case.peak_rss / 2**20:.0f} | {memory} | {cpu} |"
        )
    return lines


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument(
        "--read-connections",
        default="1",
        help="comma-separated postgres_read_connections to run Sluice with too, beside "
        "the default setting (the case peers are compared with); '' for none",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "postgres_source.md"
    )
    args = parser.parse_args()
    server = start_postgres()
    lines = [
        "| case | rows | seconds | rows/s | rows/s ÷ Sluice | peak RSS MiB | RSS ÷ Sluice "
        "| client CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    missing: set[str] = set()
    flat: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
            folder = Path(tmp)
            for rows in (args.rows, args.rows * args.scale) if args.scale > 1 else (args.rows,):
                url = _fill(server, rows)
                cases = [_psql_copy(server, url, folder)]
                for which in ("adbc", "psycopg"):
                    _, seconds, rss = _reader(url, which)
                    cases.append(Case(f"read only: {which}", "", seconds, rss))
                for fmt, compression in (("parquet", "none"), ("jsonl", "zstd")):
                    cases.append(_sluice(server, url, folder, fmt, compression))
                    for connections in _counts(args.read_connections):
                        cases.append(_sluice(server, url, folder, fmt, compression, connections))
                for name, peer, output in PEER_CASES:
                    case = _peer(name, peer, output, url, folder)
                    if case is None:
                        missing.add(peer)
                    else:
                        cases.append(case)
                for case in cases:  # progress on stderr: the table comes at the end
                    print(f"{rows:,} rows: {case}", file=sys.stderr, flush=True)
                lines.extend(_rows(rows, cases))
                flat.append(
                    f"{rows:,} rows: "
                    + ", ".join(f"{c.name} {c.peak_rss / 2**20:.0f} MiB" for c in cases)
                )
                with psycopg.connect(server.url(), autocommit=True) as con:
                    con.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"'.encode())
    finally:
        server.stop()
    lines.append(
        "\nrows/s ÷ Sluice above 1: faster than Sluice's case of the same output (parquet, "
        "or jsonl for json+zstd and jsonl+gzip); RSS ÷ Sluice: the peak RSS against "
        "Sluice's daemon. Client CPU: the exporting process's user+system seconds "
        "(the PostgreSQL server's own work is not counted for anyone)."
    )
    lines.append("\nMemory at 1x and scale x rows (peak RSS): " + "; ".join(flat) + ".")
    if missing:
        lines.append(
            "\nNot measured (not installed; see benchmarks/README.md): "
            f"{', '.join(sorted(missing))}."
        )
    lines.append(f"\nMachine: {psutil.cpu_count()} CPUs.")
    report = "\n".join(lines)
    print(report)
    # Every run is kept: the new one goes on top, under the file's title.
    title = "# PostgreSQL source: Sluice beside DuckDB, dlt and psql \\copy\n"
    earlier = args.out.read_text().split("\n", 1)[1] if args.out.exists() else ""
    args.out.write_text(
        f"{title}\n## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"`python -m benchmarks.postgres_source_bench --rows {args.rows} --scale {args.scale}`"
        f" (--read-connections {args.read_connections!r})"
        f"\n\n{report}\n{earlier}"
    )


if __name__ == "__main__":
    main()
