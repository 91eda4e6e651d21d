"""Issue 21: which thread counts make the daemon's export cheapest, per thread kind.

    .venv/bin/python -m benchmarks.thread_sweep [--rows 1000000] [--rounds 3]
        [--dataset text-heavy|events] [--cases a,b,c] [--configs default,polars1,...]
        [--out benchmarks/results/threads.md]

Each round runs every configuration (alternating order between rounds) as one export of
the text-heavy dataset (or --dataset events) through a fresh daemon
(benchmarks.export_bench.run_case) and reports wall seconds, the daemon's CPU seconds,
and the CPU seconds of each kind of thread (the kernel's thread names,
/proc/PID/task/*/comm, sampled every 50 ms so the short-lived compression workers are
counted too; threads that live less than one sample are only in the total).
Configurations vary the daemon's thread pools: Polars' rayon pool (POLARS_MAX_THREADS),
the compressors' and Parquet encoder's workers (`zstd_threads`), and pyarrow's CPU pool
(OMP/ARROW settings through the environment).
Judge with CPU seconds on a busy machine; wall only on an idle one.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks._proc import python_thread_names
from benchmarks.ceiling_bench import RESULTS, source_file
from benchmarks.export_bench import Case, log, run_case
from sluice.format import bech32
from sluice.format.age import RECIPIENT_HRP


@dataclass(frozen=True)
class Config:
    name: str
    settings: Mapping[str, object] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    #: The module run as the daemon (a wrapper trying a setting users never set).
    launcher: str = "sluice.client.cli.main"


_TRANSFORM_LAUNCHER = "benchmarks._transform_workers_serve"

CONFIGS = {
    c.name: c
    for c in (
        Config("default"),
        Config("polars1", env={"POLARS_MAX_THREADS": "1"}),
        Config("zstd1", settings={"zstd_threads": 1}),
        Config("zstd2", settings={"zstd_threads": 2}),
        Config("polars1-zstd1", {"zstd_threads": 1}, {"POLARS_MAX_THREADS": "1"}),
        Config("arrow1", env={"ARROW_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}),
        Config(
            "all1",
            {"zstd_threads": 1},
            {"POLARS_MAX_THREADS": "1", "ARROW_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        ),
        # Every "auto" collect on the in-memory engine (Polars' default is streaming).
        Config("inmem", env={"POLARS_ENGINE_AFFINITY": "in-memory"}),
        # The query+redaction stage on one thread or two (transform_workers_ab's launcher).
        Config("tw1", env={"BENCH_TRANSFORM_WORKERS": "1"}, launcher=_TRANSFORM_LAUNCHER),
        Config("tw2", env={"BENCH_TRANSFORM_WORKERS": "2"}, launcher=_TRANSFORM_LAUNCHER),
    )
}


def recipient() -> str:
    """A fresh age recipient whose private half is thrown away (as peers_bench's, without
    importing its chart dependencies)."""
    return bech32.encode(RECIPIENT_HRP, X25519PrivateKey.generate().public_key().public_bytes_raw())


def cases() -> dict[str, Case]:
    return {
        "a": Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3),
        "b": Case(
            "(b) jsonl+zstd+age+moderate", "parquet", "jsonl", "zstd", 3,
            redaction="moderate", encrypt_to=(recipient(),),
        ),
        "c": Case("(c) parquet(zstd)", "parquet", "parquet", "zstd"),
        # (b) without age, and (a) with basic redaction: what each part of (b) adds.
        "b-noage": Case(
            "(b) without age", "parquet", "jsonl", "zstd", 3, redaction="moderate"
        ),
        "a-basic": Case("(a) + basic", "parquet", "jsonl", "zstd", 3, redaction="basic"),
    }  # fmt: skip


class ThreadSampler:
    """CPU seconds per thread kind of one process from `start` on, sampled until stopped.
    Native threads are named by the kernel (`polars-3`, `tokio-rt-worker`); Python
    threads (all `python` to the kernel) by their Python names, read with py-spy once a
    second (reader-, writer-, commit-, parquet_0 ...), numbers stripped."""

    def __init__(self) -> None:
        self._baseline: dict[int, float] = {}
        self._seen: dict[int, tuple[str, float]] = {}
        self._python_names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = os.sysconf("SC_CLK_TCK")

    def start(self, pid: int) -> None:
        self._sample(pid, first=True)
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        totals: dict[str, float] = defaultdict(float)
        for tid, (name, cpu) in self._seen.items():
            if name == "python":
                name = "py:" + _kind(self._python_names.get(tid, "unnamed"))
            totals[name] += cpu - self._baseline.get(tid, 0.0)
        return dict(totals)

    def _run(self, pid: int) -> None:
        ticks = 0
        while not self._stop.wait(0.05):
            if not self._sample(pid, first=False):
                return
            ticks += 1
            # Every quarter second: a Python thread living for part of the export (the
            # reader, the transform workers) is named before it ends.
            if ticks % 5 == 1:
                self._python_names.update(python_thread_names(pid))

    def _sample(self, pid: int, *, first: bool) -> bool:
        try:
            entries = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            return False
        for task in entries:
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / self._ticks
            tid = int(task.name)
            if first:
                self._baseline[tid] = cpu
            self._seen[tid] = (_kind(name), cpu)
        return True


def _kind(name: str) -> str:
    """A thread's name without its pool number or export id (polars-0, commit-ab12)."""
    return re.sub(r"([-_ ]?\d+|-[0-9a-f]{8,}.*)$", "", name) or name


@dataclass(frozen=True)
class Run:
    case: str
    config: str
    round: int
    wall: float
    cpu: float
    threads: dict[str, float]


def measure(
    case_keys: Sequence[str], names: Sequence[str], rows: int, rounds: int,
    dataset: str = "text-heavy",
) -> list[Run]:  # fmt: skip
    source = source_file(dataset, rows)
    all_cases = cases()
    runs: list[Run] = []
    for number in range(rounds):
        # Cases and configurations both alternate their order, so drift hits all alike.
        keys = list(case_keys) if number % 2 == 0 else list(reversed(case_keys))
        for key in keys:
            order = list(names) if number % 2 == 0 else list(reversed(names))
            for name in order:
                config = CONFIGS[name]
                sampler = ThreadSampler()
                result = run_case(
                    all_cases[key], rows, source, 1, config.launcher,
                    settings_extra=config.settings, env_extra=config.env,
                    on_started=sampler.start,
                )  # fmt: skip
                threads = sampler.stop()
                runs.append(
                    Run(key, name, number, result.seconds, result.daemon_cpu_seconds, threads)
                )
                log(f"{key} {name}: {result.seconds:.2f} s wall, "
                    f"{result.daemon_cpu_seconds:.2f} CPU s")  # fmt: skip
    return runs


def report(runs: list[Run], rows: int, dataset: str = "text-heavy") -> str:
    kinds = sorted({k for r in runs for k, v in r.threads.items() if v >= 0.05})
    lines = [
        f"# Daemon thread counts — {dataset}, {rows:,} rows, every run",
        "",
        "CPU seconds per thread kind are those threads' whole lives (start-up included).",
        "",
        "| case | config | round | wall s | CPU s | " + " | ".join(kinds) + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(kinds),
    ]
    for r in runs:
        cells = " | ".join(f"{r.threads.get(k, 0.0):.2f}" for k in kinds)
        lines.append(
            f"| {r.case} | {r.config} | {r.round + 1} | {r.wall:.2f} | {r.cpu:.2f} | {cells} |"
        )
    lines += ["", "| case | config | median wall s | median CPU s |", "|---|---|---:|---:|"]
    for key in dict.fromkeys(r.case for r in runs):
        for name in dict.fromkeys(r.config for r in runs):
            mine = [r for r in runs if r.case == key and r.config == name]
            wall = statistics.median(r.wall for r in mine)
            cpu = statistics.median(r.cpu for r in mine)
            lines.append(f"| {key} | {name} | {wall:.2f} | {cpu:.2f} |")
    lines += [
        "",
        "Per thread kind: median CPU s [min-max] over the runs.",
        "",
        "| thread kind | " + " | ".join(f"{k} {n}" for k, n in _pairs(runs)) + " |",
        "|---|" + "---:|" * len(_pairs(runs)),
    ]
    for kind in [*kinds, "(total)"]:
        spreads = []
        for key, name in _pairs(runs):
            spent = [r.cpu if kind == "(total)" else r.threads.get(kind, 0.0)
                     for r in runs if r.case == key and r.config == name]  # fmt: skip
            spreads.append(f"{statistics.median(spent):.2f} [{min(spent):.2f}-{max(spent):.2f}]")
        lines.append(f"| {kind} | " + " | ".join(spreads) + " |")
    return "\n".join(lines) + "\n"


def _pairs(runs: Sequence[Run]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.case, r.config) for r in runs))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="a,b,c")
    parser.add_argument("--dataset", default="text-heavy", help="text-heavy or events")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", type=Path, default=RESULTS / "threads.md")
    args = parser.parse_args(argv)
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")
    keys = [k for k in args.cases.split(",") if k]
    runs = measure(keys, names, args.rows, args.rounds, args.dataset)
    text = report(runs, args.rows, args.dataset)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
