"""Throughput and peak memory of exports through a real Sluice daemon.

    python -m benchmarks.export_bench [--rows 1000000] [--scale 10] [--out FILE]

Every case starts a fresh `sluice serve` process, so its peak RSS belongs to that case
alone, runs one export over gRPC with the Python client and stops the daemon with
SIGTERM. benchmarks/README.md says how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psutil

from benchmarks import cpu_gauge
from benchmarks._proc import (
    high_water_mark,
    python_thread_names,
    thread_cpu_seconds,
    thread_os_names,
)
from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.server.settings import Settings
from sluice.v1 import export_pb2, export_pb2_grpc

_T = TypeVar("_T")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / ".data"
SEED = 7
MB = 1_000_000
MiB = 1024 * 1024
SAMPLE_SECONDS = 0.02
# Generous on purpose: a benchmark reports how long things take, it never fails on it.
EXPORT_TIMEOUT_SECONDS = 4 * 3600.0


@dataclass(frozen=True)
class Case:
    name: str
    #: Which copy of the dataset is read: "parquet" or "ndjson".
    source: str
    format: str
    compression: str
    level: int | None = None
    #: Rows are `--rows` times this.
    scale: int = 1
    #: Redaction level ("" for none).
    redaction: str = ""
    #: age recipients ("age1..."); none: no encryption.
    encrypt_to: tuple[str, ...] = ()
    #: WatchExport streams held open by other clients while the export runs.
    watchers: int = 0
    #: Attribute the daemon's CPU to its gRPC threads (py-spy names them mid-export).
    attribute_threads: bool = False
    #: Keep every RSS sample of the export (Result.rss_samples), not only the highest:
    #: asked for by the runs whose memory is judged over time, so a long benchmark of
    #: many cases does not hold a sample list per run.
    keep_rss_samples: bool = False


@dataclass(frozen=True)
class Result:
    case: Case
    rows: int
    seconds: float
    #: Size of the same rows as NDJSON: one yardstick for MB/s across output formats.
    logical_bytes: int
    stored_bytes: int
    #: VmHWM: the kernel's own high-water mark of the daemon's resident set.
    peak_rss: int
    #: The highest RSS the 20 ms psutil poll saw; a cross-check of VmHWM.
    sampled_peak_rss: int
    #: RSS once the daemon is healthy and idle.
    baseline_rss: int
    #: Events the extra watchers received, all together.
    watch_events: int = 0
    #: The same by kind (the ExportEvent oneof's field name), most frequent first.
    watch_event_kinds: tuple[tuple[str, int], ...] = ()
    #: CPU seconds (user + system) the daemon spent on the export, all its threads.
    daemon_cpu_seconds: float = 0.0
    #: CPU seconds of this benchmark process meanwhile: the client and any watchers.
    client_cpu_seconds: float = 0.0
    #: CPU seconds of the daemon's threads serving gRPC (the handler pool, the
    #: completion-queue thread and gRPC core's own threads); None unless the case asked
    #: and py-spy could tell.
    grpc_cpu_seconds: float | None = None
    #: (seconds since the export was created, RSS bytes) every SAMPLE_SECONDS while it
    #: ran (a few just before it: negative seconds); empty unless the case asked
    #: (Case.keep_rss_samples).
    rss_samples: tuple[tuple[float, int], ...] = ()


CASES = (
    Case("jsonl+zstd(3)", "parquet", "jsonl", "zstd", 3),
    Case("parquet(zstd)", "parquet", "parquet", "zstd"),
    Case("csv+gzip", "parquet", "csv", "gzip"),
    Case("jsonl+none", "parquet", "jsonl", "none"),
    Case("jsonl+zstd(3), ndjson source", "ndjson", "jsonl", "zstd", 3),
)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def dataset(rows: int, fmt: str) -> Path:
    """The cached dataset file, generated on first use. Written under a temporary name
    and renamed, so an interrupted run never leaves a truncated file in the cache."""
    path = DATA / f"events-{rows}-seed{SEED}.{fmt}"
    if not path.exists():
        log(f"generating {path.name} ...")
        started = time.perf_counter()
        partial = generate(path.with_name(path.name + ".partial"), rows, seed=SEED, format=fmt)
        partial.rename(path)
        log(f"generated {path.name}: {path.stat().st_size / MB:,.0f} MB in "
            f"{time.perf_counter() - started:.0f}s")  # fmt: skip
    return path


@dataclass
class Daemon:
    address: str
    exports: Path
    process: subprocess.Popen[bytes]


@contextmanager
def running_daemon(
    root: Path,
    source_root: Path,
    launcher: str = "sluice.client.cli.main",
    settings_extra: Mapping[str, object] | None = None,
    env_extra: Mapping[str, str] | None = None,
    tree: Path = REPO,
) -> Iterator[Daemon]:
    """A `sluice serve` process on a free loopback port, confined to `root` for its state
    and exports and to `source_root` for reading; SIGTERM on the way out. `launcher` is
    the module run as `python -m` (a benchmark may wrap the CLI to try a setting);
    `settings_extra` and `env_extra` add config settings and environment variables (a
    benchmark trying thread counts). `tree` is the checkout whose daemon runs, with its
    own `.venv` (another worktree: an A/B of two commits in one run)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    exports = root / "exports"
    exports.mkdir()
    settings = {
        "address": address,
        "state_dir": str(root / "state"),
        "allowed_roots": [str(exports)],
        "allowed_source_roots": [str(source_root)],
        "log_level": "WARNING",
        **(settings_extra or {}),
    }
    config = root / "sluice.toml"
    # JSON strings and lists of strings are valid TOML values.
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env.update(env_extra or {})
    log_path = root / "daemon.log"
    with log_path.open("wb") as out:
        python = sys.executable if tree == REPO else str(tree / ".venv" / "bin" / "python")
        command = [python, "-m", launcher, "serve", "--config", str(config)]
        process = subprocess.Popen(command, cwd=tree, env=env, stdout=out, stderr=out)
    try:
        with ExportClient(address) as client:
            deadline = time.monotonic() + 60
            while not client.health(timeout=1):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daemon did not start:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.1)
        yield Daemon(address, exports, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            log("daemon ignored SIGTERM for 60s and was killed")


class RssSampler:
    """Polls a process's RSS in a background thread and keeps the highest value, and
    with `keep_samples` every sample as (time.perf_counter(), RSS bytes)."""

    def __init__(self, pid: int, keep_samples: bool = False) -> None:
        self._process = psutil.Process(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._keep = keep_samples
        self.peak = 0
        self.samples: list[tuple[float, int]] = []

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            try:
                rss = self._process.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            if self._keep:
                self.samples.append((time.perf_counter(), rss))


def run_case(
    case: Case,
    rows: int,
    source: Path,
    logical_bytes: int,
    launcher: str = "sluice.client.cli.main",
    settings_extra: Mapping[str, object] | None = None,
    env_extra: Mapping[str, str] | None = None,
    on_started: Callable[[int], None] | None = None,
    tree: Path = REPO,
) -> Result:
    """One export of `case` through a fresh daemon (of `tree`: see running_daemon);
    `on_started(pid)` is called once the daemon is up, before the export (a benchmark
    sampling its threads)."""
    log(f"{case.name}: {rows:,} rows from {source.name} ...")
    with (
        tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp,
        running_daemon(
            Path(tmp), source.parent, launcher, settings_extra, env_extra, tree
        ) as daemon,
    ):
        pid = daemon.process.pid
        if on_started is not None:
            on_started(pid)
        time.sleep(0.5)  # let start-up allocations settle before taking the baseline
        baseline = psutil.Process(pid).memory_info().rss
        spec = ExportClient.build_spec(
            source=source,
            to=daemon.exports,
            dataset="events",
            format=case.format,
            compression=case.compression,
            level=case.level,
            encrypt_to=case.encrypt_to,
            redaction=export_pb2.Redaction(level=case.redaction) if case.redaction else None,
        )
        with (
            Watchers(daemon.address, case.watchers) as watchers,
            RssSampler(pid, keep_samples=case.keep_rss_samples) as sampler,
            ExportClient(daemon.address) as client,
        ):
            daemon_cpu = _cpu_seconds(psutil.Process(pid).cpu_times())
            client_cpu = _cpu_seconds(psutil.Process().cpu_times())
            threads_before = thread_cpu_seconds(pid)
            started = time.perf_counter()
            export_id = client.create(spec).id
            watchers.watch(export_id)
            namer = _ThreadNamer(pid, case.attribute_threads)
            export = client.wait(export_id, timeout=EXPORT_TIMEOUT_SECONDS)
            seconds = time.perf_counter() - started
            watchers.join()
            grpc_cpu = namer.grpc_cpu(threads_before, thread_cpu_seconds(pid))
            daemon_cpu = _cpu_seconds(psutil.Process(pid).cpu_times()) - daemon_cpu
            client_cpu = _cpu_seconds(psutil.Process().cpu_times()) - client_cpu
            peak = high_water_mark(pid)
    if export.progress.records != rows:
        raise RuntimeError(f"{case.name}: exported {export.progress.records} of {rows} rows")
    if case.watchers and watchers.finished != case.watchers:
        raise RuntimeError(f"{case.name}: {watchers.finished} of {case.watchers} watchers finished")
    result = Result(
        case=case,
        rows=rows,
        seconds=seconds,
        logical_bytes=logical_bytes,
        stored_bytes=export.progress.stored_bytes,
        peak_rss=sampler.peak if peak is None else peak,
        sampled_peak_rss=sampler.peak,
        baseline_rss=baseline,
        watch_events=watchers.events,
        watch_event_kinds=tuple(watchers.kinds.most_common()),
        daemon_cpu_seconds=daemon_cpu,
        client_cpu_seconds=client_cpu,
        grpc_cpu_seconds=grpc_cpu,
        rss_samples=tuple((at - started, rss) for at, rss in sampler.samples),
    )
    log(f"{case.name}: {seconds:.1f}s, peak RSS {result.peak_rss / MiB:.0f} MiB")
    return result


#: Kernel names of the threads gRPC's core starts (its event engine's pool and timers).
_GRPC_CORE_THREADS = frozenset({"event_engine", "grpc_global_tim", "lifeguard"})


class _ThreadNamer:
    """Names the daemon's threads half a second into the export (when the gRPC handler
    threads of every stream exist), in the background, so the export is not held up."""

    def __init__(self, pid: int, enabled: bool) -> None:
        self._names: dict[int, str] = {}
        self._thread: threading.Thread | None = None
        if enabled:
            self._thread = threading.Thread(target=self._name, args=(pid,), daemon=True)
            self._thread.start()

    def _name(self, pid: int) -> None:
        time.sleep(0.5)
        self._names = python_thread_names(pid)
        if self._names:
            # gRPC's core moves the bytes on native threads of its own.
            native = thread_os_names(pid)
            self._names.update({t: f"grpc core: {n}" for t, n in native.items()
                                if t not in self._names and n in _GRPC_CORE_THREADS})  # fmt: skip

    def grpc_cpu(self, before: dict[int, float], after: dict[int, float]) -> float | None:
        if self._thread is None:
            return None
        self._thread.join()
        serving = [
            tid
            for tid, name in self._names.items()
            if name.startswith(("grpc", "grpc core: ")) or name.endswith("(_serve)")
        ]
        if not serving:
            return None
        return sum(after.get(tid, 0.0) - before.get(tid, 0.0) for tid in serving)


def _cpu_seconds(times: Any) -> float:
    return float(times.user + times.system)


class Watchers:
    """`count` other clients, each on its own channel (connected before the export
    starts), each consuming one WatchExport stream until `finished`.

    They run as asyncio tasks on one thread (grpc.aio), not as a thread per client: the
    daemon sees the same 100 connections and streams, but on this 2-core machine 100
    client threads and channel pollers took ~0.6 CPU s per export away from the daemon
    they were supposed to observe, which measured the harness rather than Sluice.
    """

    def __init__(self, address: str, count: int) -> None:
        self._address = address
        self._count = count
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="watchers", daemon=True)
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[concurrent.futures.Future[tuple[Counter[str], bool]]] = []
        self.events = 0
        self.kinds: Counter[str] = Counter()
        self.finished = 0

    def __enter__(self) -> Watchers:
        self._thread.start()
        self._call(self._connect()).result(60)
        return self

    def __exit__(self, *_: object) -> None:
        self.join()
        self._call(self._close()).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _connect(self) -> None:
        self._channels = [grpc.aio.insecure_channel(self._address) for _ in range(self._count)]
        try:
            await asyncio.gather(*(asyncio.wait_for(c.channel_ready(), 10) for c in self._channels))
        except TimeoutError:
            raise RuntimeError("a watcher could not reach the daemon") from None

    async def _close(self) -> None:
        await asyncio.gather(*(channel.close(grace=None) for channel in self._channels))

    def join(self) -> None:
        for task in self._tasks:
            kinds, finished = task.result(EXPORT_TIMEOUT_SECONDS)
            self.events += kinds.total()
            self.kinds += kinds
            self.finished += finished
        self._tasks = []

    def watch(self, export_id: str) -> None:
        self._tasks = [self._call(self._consume(c, export_id)) for c in self._channels]

    async def _consume(
        self, channel: grpc.aio.Channel, export_id: str
    ) -> tuple[Counter[str], bool]:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        request = export_pb2.WatchExportRequest(id=export_id)
        call = stub.WatchExport(request, timeout=EXPORT_TIMEOUT_SECONDS)
        kinds: Counter[str] = Counter()
        async for event in call:
            kind = event.WhichOneof("event") or ""
            kinds[kind] += 1
            if kind == "finished":
                call.cancel()
                return kinds, True
        return kinds, False


HEADER = (
    "case", "rows", "seconds", "rows/s", "logical MB/s", "stored MB", "ratio",
    "daemon peak RSS MiB", "baseline RSS MiB",
)  # fmt: skip


def table_row(r: Result) -> tuple[str, ...]:
    return (
        r.case.name,
        f"{r.rows:,}",
        f"{r.seconds:.1f}",
        f"{r.rows / r.seconds:,.0f}",
        f"{r.logical_bytes / MB / r.seconds:.1f}",
        f"{r.stored_bytes / MB:,.1f}",
        f"{r.logical_bytes / r.stored_bytes:.1f}x",
        f"{r.peak_rss / MiB:,.0f}",
        f"{r.baseline_rss / MiB:,.0f}",
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def flatness(small: Result, large: Result) -> str:
    def growth(a: float, b: float) -> str:
        return f"{(b - a) / a * 100:+.1f}%"

    above = [r.peak_rss - r.baseline_rss for r in (small, large)]
    rows = [
        (f"{r.rows:,}", f"{r.peak_rss / MiB:,.0f}", f"{a / MiB:,.0f}")
        for r, a in zip((small, large), above, strict=True)
    ]
    return (
        f"### Memory flatness: {small.case.name}, 1x vs {large.case.scale}x rows\n\n"
        + markdown_table(("rows", "daemon peak RSS MiB", "peak above baseline MiB"), rows)
        + f"\n\nPeak RSS growth: {growth(small.peak_rss, large.peak_rss)} "
        f"(above baseline: {growth(above[0], above[1])}).\n"
    )


def machine_info() -> list[str]:
    git = ["git", "describe", "--always", "--dirty"]
    described = subprocess.run(git, cwd=REPO, capture_output=True, text=True, check=False)
    commit = described.stdout.strip() or "unknown"
    defaults = Settings()
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; sluice {commit}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
        f"- python {platform.python_version()}, polars {version('polars')}, "
        f"pyarrow {version('pyarrow')}, zstandard {version('zstandard')}",
        f"- daemon defaults: batch_rows={defaults.batch_rows:,}, "
        f"chunk target {defaults.default_chunk_bytes // MiB} MiB / "
        f"{defaults.default_chunk_rows:,} rows, zstd_threads={defaults.zstd_threads}, "
        f"count_source_rows={defaults.count_source_rows}",
        cpu_gauge.measure().line(),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument(
        "--scale", type=int, default=0,
        help="also export rows*SCALE (jsonl+zstd) to check peak RSS stays flat; 0: skip",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "latest.md",
        help="markdown report to write",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.rows < 1 or args.scale < 0:
        parser.error("--rows must be positive and --scale not negative")

    sources = {fmt: dataset(args.rows, fmt) for fmt in ("parquet", "ndjson")}
    logical = sources["ndjson"].stat().st_size
    results = [run_case(c, args.rows, sources[c.source], logical) for c in CASES]
    flat = ""
    if args.scale > 1:
        base = CASES[0]
        big = Case(f"{base.name} x{args.scale}", "parquet", base.format, base.compression,
                   base.level, scale=args.scale)  # fmt: skip
        rows = args.rows * args.scale
        # Same generator, same row distribution: NDJSON size scales with the rows.
        large = run_case(big, rows, dataset(rows, "parquet"), logical * args.scale)
        results.append(large)
        flat = flatness(results[0], large)

    report = "\n".join(
        [
            "# Sluice export benchmark",
            "",
            *machine_info(),
            f"- dataset: {args.rows:,} events (seed {SEED}); parquet source "
            f"{sources['parquet'].stat().st_size / MB:,.0f} MB, ndjson source "
            f"{logical / MB:,.0f} MB",
            "",
            markdown_table(HEADER, [table_row(r) for r in results]),
            "",
            "Logical MB/s and ratio use the NDJSON size of the same rows (MB = 10^6 bytes) "
            "for every case, so they compare across output formats; for the scaled run it "
            "is that size times the scale. Seconds run from CreateExport to the finished "
            "event, client side. Peak RSS is the daemon's VmHWM (the kernel's high-water "
            "mark, one fresh daemon per case); psutil 20 ms samples peaked at "
            + ", ".join(f"{r.sampled_peak_rss / MiB:,.0f}" for r in results)
            + " MiB.",
            "",
            flat,
        ]
    )
    print("\n" + report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.rstrip() + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
