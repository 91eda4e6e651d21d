"""PostgreSQL source: the read alone on 1, 2, ... connections in one snapshot.

    python -m benchmarks.postgres_parallel_read [--rows 1000000] [--connections 1,2] [--repeat 3]

Starts a throwaway PostgreSQL (tests/servers/postgres.py), fills the table of
benchmarks/postgres_source_bench.py and drains Sluice's own read of it
(database_source.read_frames: planning, snapshot, key ranges, ADBC's COPY into typed
Polars frames; nothing encoded) with `postgres_read_connections` = each count, the
counts alternating run after run. Per run: wall seconds, this process's CPU seconds
(process_time: every thread), the PostgreSQL backends' CPU seconds in total (the
postmaster's reaped children) and the busiest backend's (sampled from /proc every 5 ms):
the single backend producing COPY data is what bounds a one-connection read, so the
busiest backend's CPU is the read's critical path, and it is what a busy machine does
not change. Prints one Markdown row per run.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from dataclasses import replace

import psutil
import psycopg

from benchmarks.postgres_source_bench import _fill
from sluice.server.pipeline import database_source
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.locations import PostgresAddress
from tests.servers.postgres import PostgresServer, start_postgres

APPLICATION = "sluice-parallel-bench"


class _BackendSampler:
    """The CPU seconds of each backend of APPLICATION, sampled until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seconds: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        backends: dict[int, psutil.Process] = {}
        with psycopg.connect(self.url, autocommit=True) as admin:
            for tick in itertools.count():
                if self._stop.wait(0.005):
                    return
                if tick % 10 == 0:  # new backends: a query every 50 ms; CPU every 5 ms
                    for (pid,) in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        [APPLICATION],
                    ).fetchall():
                        backends.setdefault(pid, psutil.Process(pid))
                for pid, backend in backends.items():
                    try:
                        times = backend.cpu_times()
                    except psutil.Error:
                        continue
                    self.seconds[pid] = times.user + times.system


def _reaped_cpu(server: PostgresServer) -> float:
    times = psutil.Process(server.process.pid).cpu_times()
    return float(times.children_user + times.children_system)


def _run(server: PostgresServer, url: str, target: PostgresTarget, rows: int) -> list[float]:
    read = database_source.plan_read("postgresql", str(target.address), "bench", "", (), target)
    schema = database_source.read_schema(read)
    time.sleep(0.3)  # planning's connection is reaped before the count starts
    reaped = _reaped_cpu(server)
    cpu, wall = time.process_time(), time.perf_counter()
    count = 0
    with _BackendSampler(url) as sampler:
        for frame in database_source.read_frames(read, schema, schema.names(), 65_536, 0):
            count += frame.height
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    time.sleep(0.3)  # the backends exit and are reaped
    assert count == rows, (count, rows)
    busiest = max(sampler.seconds.values(), default=0.0)
    return [wall, cpu, _reaped_cpu(server) - reaped, busiest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--connections", default="1,2")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    counts = [int(part) for part in args.connections.split(",") if part.strip()]
    server = start_postgres()
    try:
        url = _fill(server, args.rows)
        address = PostgresAddress("127.0.0.1", server.port, url.rsplit("/", 1)[1])
        profile = PostgresProfile(
            hosts=(f"127.0.0.1:{server.port}",), user=server.user, application_name=APPLICATION
        )
        target = PostgresTarget(address, "bench", profile)
        print(f"{args.rows:,} rows, Sluice's read alone (frames drained, nothing encoded)\n")
        print(
            "| run | connections | wall s | daemon CPU s | backends CPU s | busiest backend CPU s |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for run in range(1, args.repeat + 1):
            for connections in counts:
                numbers = _run(
                    server, url, replace(target, read_connections=connections), args.rows
                )
                cells = " | ".join(f"{n:.2f}" for n in numbers)
                print(f"| {run} | {connections} | {cells} |", flush=True)
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
