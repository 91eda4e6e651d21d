"""Arrow Flight through a real Sluice daemon beside pyarrow's own Flight server.

    python -m benchmarks.flight_bench [--rows 10000000] [--out benchmarks/results/flight.md]

One run, one table (`server.sample_data`, seed 7, cached in benchmarks/.data/ as
Parquet), four cases, each against a fresh process:

- **DoGet, pyarrow peer**: pyarrow.flight's FlightServerBase serving the table from
  memory (benchmarks/flight_peer.py serve), read by a pyarrow.flight client;
- **DoPut -> parquet**: a pyarrow.flight client pushes the in-memory table to a fresh
  daemon; the export (parquet, default chunking) succeeds when the last PutResult says so;
- **DoGet, Sluice**: the same client reads that export back (every chunk verified,
  decoded and re-sent as Arrow IPC);
- **parquet file -> parquet**: the same export from the Parquet file (CreateExport), in
  another fresh daemon: the yardstick of the DoPut case.

Issue 18's goals: Sluice's DoGet >= 0.5x the peer's rows/s, DoPut >= 0.8x the file
export's. Every client runs in its own process (pyarrow.flight and grpcio must not share
one: apache/arrow#13300). The daemon's CPU is split per stage by thread (names read with
py-spy while the case runs): where the time goes, whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks._proc import high_water_mark, python_thread_names, thread_cpu_seconds
from benchmarks.export_bench import (
    REPO,
    Daemon,
    MiB,
    RssSampler,
    dataset,
    log,
    machine_info,
    markdown_table,
    running_daemon,
)
from sluice.client import ExportClient

PEER = [sys.executable, "-m", "benchmarks.flight_peer"]
PUT_BATCH_ROWS = 65_536
TIMEOUT = 4 * 3600.0


@dataclass
class Measure:
    case: str
    rows: int
    seconds: float
    #: CPU seconds of the serving process (daemon or peer server) during the case.
    server_cpu: float
    client_cpu: float
    peak_rss: int | None = None
    baseline_rss: int | None = None
    #: Daemon CPU seconds per stage (thread name without its numbers).
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def _peer(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [*PEER, *args], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"flight_peer {args[0]} failed:\n{result.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return answer


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def peer_doget(source: Path) -> Measure:
    log("DoGet from pyarrow's own Flight server ...")
    server = subprocess.Popen(
        [*PEER, "serve", str(source)], cwd=REPO, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    try:
        port = json.loads(server.stdout.readline())["port"]
        baseline = psutil.Process(server.pid).memory_info().rss
        before = _cpu(server.pid)
        got = _peer("get", f"127.0.0.1:{port}", "table")
        server_cpu = _cpu(server.pid) - before
        peak = high_water_mark(server.pid)
    finally:
        server.stdin.close()
        server.wait(60)
    return Measure("DoGet, pyarrow peer (table in memory)", got["rows"], got["seconds"],
                   server_cpu, got["cpu"], peak, baseline)  # fmt: skip


class StageCpu:
    """The daemon's CPU per stage over a case. Threads of one export come and go, so
    every half second each thread's CPU so far is kept and py-spy names the threads;
    a thread that ended counts with its last reading."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._names: dict[int, str] = {}
        self._latest: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.stages: dict[str, float] = {}

    def _watch(self) -> None:
        named = 0.0
        while True:
            self._latest.update(thread_cpu_seconds(self._pid))
            if time.monotonic() - named >= 1.0:
                self._names.update(python_thread_names(self._pid))
                named = time.monotonic()
            if self._done.wait(0.5):
                return

    def __enter__(self) -> StageCpu:
        self._before = thread_cpu_seconds(self._pid)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._latest.update(thread_cpu_seconds(self._pid))
        stages: Counter[str] = Counter()
        for tid, seconds in self._latest.items():
            name = self._names.get(tid, "unnamed: gRPC core, Polars/Arrow pools")
            stages[_stage(name)] += seconds - self._before.get(tid, 0.0)
        self.stages = {name: round(s, 2) for name, s in stages.most_common() if s >= 0.01}


def _stage(thread: str) -> str:
    """A thread's name without its numbers and export id: "writer-2026...-3" -> "writer",
    "Thread-1 (_serve)" -> "Thread (_serve)" (gRPC's event loop)."""
    target = re.search(r" \(.*\)$", thread)
    return re.split(r"[-_]\d", thread)[0] + (target.group(0) if target else "")


@contextmanager
def _daemon(source: Path) -> Iterator[tuple[Daemon, int]]:
    with (
        tempfile.TemporaryDirectory(prefix="sluice-flight-bench-") as tmp,
        running_daemon(Path(tmp), source.parent) as daemon,
    ):
        time.sleep(0.5)  # start-up allocations settle before the baseline
        yield daemon, psutil.Process(daemon.process.pid).memory_info().rss


def sluice_flight(source: Path) -> tuple[Measure, Measure]:
    """DoPut of the table into a parquet export, then DoGet of that export."""
    with _daemon(source) as (daemon, baseline):
        pid = daemon.process.pid
        log("DoPut -> parquet into Sluice ...")
        cmd = json.dumps({"requestId": "flight-bench",
                          "spec": {"destination": {"uri": str(daemon.exports),
                                                   "dataset": "flight"},
                                   "output": {"format": "parquet"}}})  # fmt: skip
        before = _cpu(pid)
        with StageCpu(pid) as stages:
            put = _peer("put", daemon.address, cmd, str(source), str(PUT_BATCH_ROWS))
        if put["final"].get("state") != "succeeded":
            raise RuntimeError(f"DoPut did not succeed: {put}")
        put_measure = Measure("DoPut -> parquet (Sluice)", put["rows"], put["seconds"],
                              _cpu(pid) - before, put["cpu"], high_water_mark(pid), baseline,
                              stages.stages)  # fmt: skip
        log("DoGet of that export from Sluice ...")
        before_get = psutil.Process(pid).memory_info().rss
        ticket = json.dumps({"export_id": put["final"]["export_id"]})
        before = _cpu(pid)
        with StageCpu(pid) as stages, RssSampler(pid) as sampler:
            got = _peer("get", daemon.address, ticket)
        get_measure = Measure("DoGet, Sluice (that parquet export)", got["rows"], got["seconds"],
                              _cpu(pid) - before, got["cpu"], sampler.peak, before_get,
                              stages.stages)  # fmt: skip
    return put_measure, get_measure


def sluice_file_export(source: Path) -> Measure:
    with _daemon(source) as (daemon, baseline):
        pid = daemon.process.pid
        log("parquet file -> parquet export in Sluice ...")
        spec = ExportClient.build_spec(
            source=source, to=daemon.exports, dataset="file", format="parquet"
        )
        before = _cpu(pid)
        with StageCpu(pid) as stages, ExportClient(daemon.address) as client:
            client_cpu = time.process_time()
            started = time.perf_counter()
            export = client.wait(client.create(spec).id, timeout=TIMEOUT)
            seconds = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
        return Measure("parquet file -> parquet (Sluice)", export.progress.records, seconds,
                       _cpu(pid) - before, client_cpu, high_water_mark(pid), baseline,
                       stages.stages)  # fmt: skip


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / MiB:,.0f}"


def report(rows: int, measures: Sequence[Measure]) -> str:
    peer_get, put, get, file_export = measures
    table = markdown_table(
        ("case", "rows", "seconds", "rows/s", "server CPU s", "client CPU s",
         "server peak RSS MiB", "baseline RSS MiB"),
        [(m.case, f"{m.rows:,}", f"{m.seconds:.2f}", f"{m.rows_per_second:,.0f}",
          f"{m.server_cpu:.2f}", f"{m.client_cpu:.2f}", _mib(m.peak_rss), _mib(m.baseline_rss))
         for m in measures],
    )  # fmt: skip
    get_ratio = get.rows_per_second / peer_get.rows_per_second
    put_ratio = put.rows_per_second / file_export.rows_per_second
    stages = "\n".join(
        f"- {m.case}: " + ", ".join(f"{name} {s:.2f}s" for name, s in m.stages.items())
        for m in measures
        if m.stages
    )
    return "\n".join(
        [
            f"## Arrow Flight, {rows:,} rows",
            "",
            *machine_info(),
            "",
            table,
            "",
            f"- DoGet: Sluice / pyarrow peer = **{get_ratio:.2f}x** rows/s (goal >= 0.5x)",
            f"- DoPut -> parquet / file -> parquet = **{put_ratio:.2f}x** rows/s (goal >= 0.8x)",
            f"- daemon CPU per row, DoPut -> parquet / file -> parquet = "
            f"{put.server_cpu / file_export.server_cpu:.2f}x (what a busy machine cannot blur)",
            "",
            "Daemon CPU per stage (thread CPU seconds during the case):",
            "",
            stages,
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flight_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the table")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "flight.md")
    args = parser.parse_args(argv)
    source = dataset(args.rows, "parquet")
    peer = peer_doget(source)
    put, get = sluice_flight(source)
    file_export = sluice_file_export(source)
    text = report(args.rows, (peer, put, get, file_export))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
