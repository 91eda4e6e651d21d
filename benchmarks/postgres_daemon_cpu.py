"""PostgreSQL source: where a real daemon's CPU goes, per thread, per export.

    python -m benchmarks.postgres_daemon_cpu [--rows 1000000] [--exports 2]
        [--format parquet] [--compression none] [--py-spy FILE.svg|FILE.txt] [--perf FILE]

Starts a throwaway PostgreSQL (tests/servers/postgres.py) with the table of
benchmarks/postgres_source_bench.py, one fresh daemon, and runs `--exports` exports of
the whole table one after the other on that daemon. For each export it prints the
daemon's CPU seconds (user+system, /proc) in all, its PostgreSQL backends' CPU seconds,
and the daemon's per thread kind (the reader thread, the driver's COPY thread, the
encoder's workers, the writer, the committer, gRPC, the rest), sampled from
/proc/PID/task/*/stat while the export runs (threads end with it). The first export of
a fresh daemon also pays the imports and driver loading it is the first to need
(postgres_source_bench measures exactly that one); the later ones show the per-row
cost. With --py-spy, py-spy records the daemon (native frames too) during the last
export into a flame graph (FILE.txt: collapsed stacks, one line each). With --perf,
`perf record` samples the daemon's on-CPU time over every export after the first into
FILE, and a table prints the CPU seconds per export by thread kind and by the library
they were spent in (benchmarks/perf_profile.py: the driver's decoding, Polars, Arrow
and Parquet, the digests, the interpreter, libc's copies, the kernel), then the kernel's
share by how it was entered (page faults, each system call) and from where.

CPU seconds, not wall time, are the measure: a busy machine changes the waiting, not
the counts.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

from benchmarks import perf_profile
from benchmarks._proc import (
    process_cpu_seconds,
    python_thread_names,
    thread_cpu_seconds,
    thread_os_names,
)
from benchmarks.postgres_source_bench import _fill
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer, start_postgres

#: Thread kinds by Python thread name (the pipeline names its threads after the export).
_KINDS = (
    ("reader", re.compile(r"^reader-")),
    ("postgres-copy", re.compile(r"^postgres-copy")),
    ("encoder", re.compile(r"^(parquet|encode|encoder)")),
    ("writer", re.compile(r"^writer-")),
    ("commit", re.compile(r"^commit-")),
    ("zstd", re.compile(r"^(zstd|compress)")),
    ("executor", re.compile(r"^(export|executor|job|run)")),
    ("grpc", re.compile(r"^(grpc|ThreadPoolExecutor)|\(_serve\)$")),
)


#: How often ThreadSampler reads the threads' CPU. A thread's CPU after its last reading
#: is lost when it ends: at 0.1 s, the threads a warm 1M-row Parquet export starts and
#: ends (its encoder's workers finish the last row groups and the footer right before
#: they end) lost ~0.05 CPU s per export that no kind was given; at 0.02 s, ~0.01.
#: Reading ~30 small /proc files costs the sampling process, not the one sampled.
_SAMPLE_SECONDS = 0.02
#: Times py-spy is asked for a Python thread's name before its OS name is kept.
_NAME_ATTEMPTS = 3


class ThreadSampler:
    """Samples every thread's CPU seconds of `pid` until stopped, so threads that end
    before the export does are still counted; names threads by py-spy dump."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ThreadSampler:
        self.first = thread_cpu_seconds(self._pid)
        self._main = f"os:{thread_os_names(self._pid).get(self._pid, '?')}"
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # Threads py-spy has not named yet, by the times it was asked.
        asked: dict[int, int] = defaultdict(int)
        while not self._stop.is_set():
            self.last.update(thread_cpu_seconds(self._pid))
            # A Python thread seen before py-spy finds its name still carries the main
            # thread's OS name: asked again at the next readings, a few times at most.
            unnamed = {t for t in self.last if self.names.get(t, self._main) == self._main}
            if any(asked[t] < _NAME_ATTEMPTS for t in unnamed):
                names = python_thread_names(self._pid)
                names.update({t: f"os:{n}" for t, n in thread_os_names(self._pid).items()
                              if t not in names})  # fmt: skip
                self.names.update(names)
                for tid in unnamed:
                    asked[tid] += 1
            self._stop.wait(_SAMPLE_SECONDS)

    def by_kind(self) -> dict[str, float]:
        spent: dict[str, float] = defaultdict(float)
        for tid, seconds in self.last.items():
            spent[self.kind(tid)] += seconds - self.first.get(tid, 0.0)
        return {k: v for k, v in sorted(spent.items()) if v >= 0.005}

    def kind(self, tid: int) -> str:
        name = self.names.get(tid, "?")
        return next((k for k, pattern in _KINDS if pattern.search(name)), f"other: {name}")


def _minor_faults(pid: int) -> int:
    """Minor page faults of `pid` so far (first touches of memory the allocators mapped:
    kernel CPU time that shows up as the system time of whichever thread touched it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


def _backend_cpu(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL backends that ended (the postmaster waits for them,
    so their times add up in its children's times) plus the live ones."""
    postmaster = psutil.Process(server.process.pid)
    times = postmaster.cpu_times()
    live = 0.0
    for child in postmaster.children():
        with contextlib.suppress(psutil.Error):
            used = child.cpu_times()
            live += used.user + used.system
    return times.children_user + times.children_system + live


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--native", "--threads", "--rate", "200",
         "--output", str(out),
         "--format", "raw" if out.suffix == ".txt" else "flamegraph"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--exports", type=int, default=2)
    parser.add_argument("--format", default="parquet")
    parser.add_argument("--compression", default="none")
    parser.add_argument("--py-spy", type=Path, default=None)
    parser.add_argument("--perf", type=Path, default=None)
    args = parser.parse_args()
    if args.perf is not None and args.exports < 2:
        parser.error("--perf records from the second export on: give --exports 2 or more")
    server = start_postgres()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _run(server, Path(tmp), args)
    finally:
        server.stop()


def _run(server: PostgresServer, tmp: Path, args: argparse.Namespace) -> None:
    url = _fill(server, args.rows)
    daemon = Daemon(
        root=tmp / "daemon",
        settings={"source_profiles": {"bench": {
            "kind": "postgresql", "hosts": [f"127.0.0.1:{server.port}"], "user": server.user,
        }}},
    )  # fmt: skip
    daemon.start()
    recording = None
    try:
        assert daemon.process is not None
        pid = daemon.process.pid
        spec = ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{server.port}/{url.rsplit('/', 1)[1]}",
            source_profile="bench", table="bench", to=str(daemon.exports),
            dataset="bench", format=args.format, compression=args.compression,
        )  # fmt: skip
        print(f"{args.rows} rows -> {args.format}+{args.compression}, daemon pid {pid}")
        kinds: dict[int, str] = {}
        for run in range(args.exports):
            spy = None
            if args.py_spy is not None and run == args.exports - 1:
                spy = _spy(pid, args.py_spy)
                time.sleep(1.0)
            if args.perf is not None and run == 1:
                recording = perf_profile.record(pid, args.perf)
                time.sleep(1.0)
            before = process_cpu_seconds(pid) or 0.0
            faults_before = _minor_faults(pid)
            backend_before = _backend_cpu(server)
            with ThreadSampler(pid) as sampler, ExportClient(daemon.address) as client:
                start = time.perf_counter()
                done = client.wait(client.create(spec).id, timeout=3600)
                seconds = time.perf_counter() - start
                time.sleep(0.3)  # the last samples
            total = (process_cpu_seconds(pid) or 0.0) - before
            faults = _minor_faults(pid) - faults_before
            backend = _backend_cpu(server) - backend_before
            assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait()
            by_kind = ", ".join(f"{k} {v:.2f}" for k, v in sampler.by_kind().items())
            print(
                f"export {run + 1}: daemon CPU {total:.2f} s, PostgreSQL backends {backend:.2f} s "
                f"(wall {seconds:.1f} s, {faults / 1000:.0f}k minor page faults): {by_kind}"
            )
            kinds.update({tid: sampler.kind(tid) for tid in sampler.last})
            shutil.rmtree(daemon.exports, ignore_errors=True)
        if recording is not None and args.perf is not None:
            perf_profile.stop(recording)
            recording = None
            spent = perf_profile.cpu_by_library(args.perf, lambda tid: kinds.get(tid, "?"))
            print(
                f"\nperf: CPU s per export over exports 2-{args.exports}, by thread and library\n"
            )
            print(perf_profile.table(spent, divide=args.exports - 1))
            entries = perf_profile.kernel_by_entry(args.perf, lambda tid: kinds.get(tid, "?"))
            print("\nkernel CPU s per export by how it was entered\n")
            print(perf_profile.kernel_table(entries, divide=args.exports - 1))
    finally:
        if recording is not None:  # an export failed while perf was recording
            perf_profile.stop(recording)
        daemon.stop()


if __name__ == "__main__":
    main()
