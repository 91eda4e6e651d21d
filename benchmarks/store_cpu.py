"""What the job store costs one export in the daemon's own CPU, per store method, SQLite
beside PostgreSQL in one run.

    .venv/bin/python -m benchmarks.store_cpu --rows 200000 --repeat 5

Each export runs in this process through the real runner (claim, pipeline, local sink,
manifest), as a daemon runs it, with a watcher following it as `sluice wait` does. Every
call into the job store is timed with `time.thread_time()`: the CPU of the calling thread
only, so the figures hold on a busy machine where wall time does not. The store's own
threads are counted too: signals delivered to the daemon (PostgreSQL LISTEN) and the
watcher's reads. Stores alternate, `--repeat` exports each; the report (printed, and
written to `--out`) gives every run and the median per method.

The end-to-end comparison (records/s, whole daemon CPU, database server CPU) is
`benchmarks.replicas_bench --store-only`; this one says where the store's share goes.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.client.demo_data import generate
from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs import JobStore, NewJob, SQLiteJobStore
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.signals import JobSignal
from sluice.server.planning.spec import ChunkingSpec, DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub, Finished
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import Settings, load_settings
from sluice.sinks import open_sink
from tests.servers.postgres import start_postgres

#: Per method: [calls, CPU seconds of the calling thread, wall seconds].
Tally = dict[str, list[float]]


class TimedStore:
    """The store, with every method call's thread CPU added to `tally` (and the CPU of
    the listeners it calls back, under "signals delivered")."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self.tally: Tally = defaultdict(lambda: [0, 0.0, 0.0])
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not callable(method):
            return method
        if name == "listen":
            return self._listen

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self._timing(name):
                return method(*args, **kwargs)

        return timed

    def _listen(self, listener: Callable[[JobSignal], None]) -> None:
        def timed(signal: JobSignal) -> None:
            with self._timing("signals delivered"):
                listener(signal)

        self._store.listen(timed)

    @contextmanager
    def _timing(self, name: str) -> Iterator[None]:
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - cpu_started
            waited = time.perf_counter() - started
            with self._lock:
                entry = self.tally[name]
                entry[0] += 1
                entry[1] += spent
                entry[2] += waited


def _settings(root: Path, sources: Path) -> Settings:
    return load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "out"],
            "allowed_source_roots": [sources],
            "max_concurrent_exports": 1,
            "replica_id": "bench",
            "batch_rows": 8192,
        },
        environ={},
    )


class Bench:
    """One store with its own runner (started once, as in a daemon), exporting on demand."""

    def __init__(self, store: TimedStore, root: Path, source: Path) -> None:
        self.store = store
        self._source = source
        self._out = root / "out"
        self._hub = EventHub()
        context = ExecutionContext(
            _settings(root, source.parent),
            store,  # type: ignore[arg-type]  # duck-typed: every JobStore method, timed
            self._hub,
            open_sink,
            b"k" * 32,
            "key-id",
            b"i" * 32,
        )
        self._runner = ExportRunner(context)
        self._runner.start()

    def export(self, n: int) -> Tally:
        """Run one export and return what it cost the store, per method."""
        spec = ExportSpec(
            source=SourceSpec(uri=str(self._source)),
            destination=DestinationSpec(uri=str(self._out), dataset=f"events-{n}"),
            chunking=ChunkingSpec(max_rows=10_000),
        )
        store = self.store
        job, _ = store.create(NewJob(id=f"20260101T000000Z-cpu{n:04d}", spec=spec))
        with self._hub.subscribe(job.id) as watcher:
            store.tally.clear()
            started = time.perf_counter()
            self._runner.submit(job.id)
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                event = watcher.next(0.2)
                if isinstance(event, Finished):
                    break
                if event is None and watcher.take_nudge():
                    store.get(job.id)  # as a Watch does when the store signals a change
            tally = {name: list(entry) for name, entry in store.tally.items()}
            tally["(export, submit to finished)"] = [1, 0.0, time.perf_counter() - started]
        final = store.get(job.id)
        assert final.state.final and final.error is None, final.error
        return tally

    def close(self) -> None:
        self._runner.shutdown(30)
        self.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/store_cpu.md"))
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="sluice-store-cpu-"))
    source = generate(root / "sources" / "events.parquet", args.rows, seed=7)
    pg = start_postgres()
    benches = {
        "sqlite": Bench(TimedStore(SQLiteJobStore(root / "jobs.sqlite3")), root / "s", source),
        "postgresql": Bench(TimedStore(PostgresJobStore(pg.new_database())), root / "p", source),
    }
    stores = list(benches)
    runs: dict[str, list[Tally]] = {kind: [] for kind in stores}
    try:
        for n in range(args.repeat):
            for kind, bench in benches.items():
                runs[kind].append(bench.export(n))
                total = sum(entry[1] for entry in runs[kind][-1].values())
                print(f"{kind} run {n}: store CPU {total * 1000:.1f} ms", flush=True)
    finally:
        for bench in benches.values():
            bench.close()
        pg.stop()

    lines = [
        "# Job store CPU per export (daemon side)",
        "",
        f"Taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}"
        f" ({platform.machine()}, Python {platform.python_version()}); {args.rows:,} rows,"
        " jsonl, 10,000-row chunks; CPU of the calling thread (time.thread_time).",
        "",
        "| run | " + " | ".join(f"{kind} store CPU ms" for kind in stores) + " |",
        "|---|" + "---|" * len(stores),
    ]
    for n in range(args.repeat):
        cells = [f"{sum(e[1] for e in runs[kind][n].values()) * 1000:.1f}" for kind in stores]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Per method (median of {args.repeat}): calls, CPU ms, wall ms (the caller waited:"
        " on the commit thread, record_chunk's wall time can hold the next chunk's commit).",
        "",
        "| method | "
        + " | ".join(f"{kind} calls | {kind} CPU ms | {kind} wall ms" for kind in stores)
        + " |",
        "|---|" + "---|---|---|" * len(stores),
    ]
    methods = sorted({name for kind in stores for run in runs[kind] for name in run})
    for name in methods:
        cells = []
        for kind in stores:
            calls, cpu, wall = (
                statistics.median(run.get(name, [0, 0.0, 0.0])[column] for run in runs[kind])
                for column in range(3)
            )
            cells.append(f"{calls:.0f} | {cpu * 1000:.1f} | {wall * 1000:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
