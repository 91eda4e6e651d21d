"""Where the wall time of a JSON export goes on 2 cores: per-thread CPU, how many cores
the daemon kept busy over time, and the stages' timestamps (issue 21, goal (b)).

    .venv/bin/python -m benchmarks.jsonl_critical_path --case b --rounds 3 \\
        --tree main=/work/main --tree this=.
    .venv/bin/python -m benchmarks.jsonl_critical_path --case b --tree this=. \\
        --tree 'jem=.+_RJEM_MALLOC_CONF=oversize_threshold:0'     # an environment A/B

Each run is one export of peers_bench's case (a) jsonl+zstd or (b) jsonl+zstd+age+
moderate of the text-heavy dataset through a fresh daemon of the given tree
(`NAME=PATH[+ENV=VALUE;...]`, its own .venv), the trees alternating per round. The
daemon runs benchmarks/_jsonl_trace_serve.py (copied beside the run, so a tree without
it works too), which timestamps every redaction call, NDJSON encode, chunk end, commit
and the manifest, and names native threads after Python ones. A sampler reads every
thread's CPU (/proc/<pid>/task/*/schedstat) and the machine's (/proc/stat) every 20 ms.

`--dataset events` takes the events set instead of text-heavy (case (a) only; (b)'s
redaction is tuned on text-heavy). `--polars` adds the practical limit of case (a) to the
rounds: Polars' own scan_parquet → sink_ndjson(zstd 3) of the same rows (peers_bench's
peer) in a fresh Python process of the first tree's venv, its threads sampled the same
way; its CPU is the process's user+sys over the sink alone (imports excluded, as the
daemon's start is). `--keep-trace DIR` keeps each run's stage marks. A tree's
`PYTHONPATH` is put before the launcher's, so one venv can run another tree's code (an
A/B where only the code differs, see benchmarks/README.md).

Per run: wall and daemon CPU seconds, peak RSS, CPU seconds per thread kind, and three
phases with the daemon's average busy cores and the machine's: the fill (the run's start
to the first NDJSON encode: reading and redacting the first batches), the middle, and
the drain (the last redaction's end to the run's end: the last batches encoded,
compressed, committed, the manifest). On 2 cores an export bound by its CPU keeps ~2
busy in every phase; cores the daemon leaves idle in the fill and the drain are the
serial stretches. Read the phases only from runs whose machine column stays below 2: on a
machine other jobs fill, no core is ever idle for the daemon to use.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.export_bench import DATA, REPO, SEED, Case, run_case
from benchmarks.peers_bench import recipient

SOURCES = {
    "text-heavy": DATA / f"text-heavy-1000000-seed{SEED}-pii0.5.parquet",
    "events": DATA / f"events-1000000-seed{SEED}.parquet",
}
LAUNCHER = "jsonl_trace_serve"
#: Polars' own sink of case (a), as peers.polars_jsonl_zstd runs it; prints its CPU
#: (user+sys of the process) and wall around the sink alone.
POLARS_SINK = """
import json, resource, sys, time
import polars as pl

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

source, target = sys.argv[1], sys.argv[2]
sys.stdin.readline()  # the sampler is attached
cpu0, wall0 = cpu(), time.perf_counter()
print(json.dumps({"start": wall0}), flush=True)
pl.scan_parquet(source).sink_ndjson(target, compression="zstd", compression_level=3)
print(json.dumps({"cpu": cpu() - cpu0, "wall": time.perf_counter() - wall0,
                  "end": time.perf_counter(),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

#: One /proc sample: (time, {thread id: (name, CPU s)}, (machine jiffies, idle jiffies)).
Sample = tuple[float, dict[int, tuple[str, float]], tuple[int, int]]


class ThreadSampler:
    """Every thread's CPU seconds and the machine's busy time, every 20 ms."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, pid: int) -> None:
        tasks = Path(f"/proc/{pid}/task")
        while not self._stop.is_set():
            now = time.perf_counter()
            threads: dict[int, tuple[str, float]] = {}
            try:
                for task in tasks.iterdir():
                    try:
                        name = (task / "comm").read_text().strip()
                        cpu = int((task / "schedstat").read_text().split()[0]) / 1e9
                    except (FileNotFoundError, ProcessLookupError):
                        continue
                    threads[int(task.name)] = (name, cpu)
            except FileNotFoundError:
                return
            jiffies = [
                int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
            ]
            self.samples.append((now, threads, (sum(jiffies), jiffies[3] + jiffies[4])))
            time.sleep(0.02)


def thread_kind(name: str) -> str:
    """A thread's kind: its name without the export id or a worker number."""
    return re.sub(r"[-_]?\d{8}T.*|[-_]?\d{6,}.*|[-_ ]?\d+$", "", name) or name


def per_kind(samples: list[Sample], start: float, end: float) -> dict[str, float]:
    """CPU seconds per thread kind between `start` and `end` (threads that ended in
    between count up to their last sample)."""
    window = [s for s in samples if start - 0.05 <= s[0] <= end + 0.05]
    first = window[0][1]
    last_seen: dict[int, tuple[str, float]] = {}
    for _, threads, _ in window:
        last_seen.update(threads)
    kinds: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in last_seen.items():
        kinds[thread_kind(name)] += cpu - first.get(tid, (name, 0.0))[1]
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def busy_cores(samples: list[Sample], start: float, end: float) -> tuple[float, float]:
    """The daemon's and the machine's average busy cores between `start` and `end`."""
    daemon = machine = span = 0.0
    cpus = os.cpu_count() or 1
    for before, after in itertools.pairwise(samples):
        low, high = max(before[0], start), min(after[0], end)
        if high <= low:
            continue
        share = (high - low) / (after[0] - before[0])
        used = sum(c - before[1][t][1] for t, (_, c) in after[1].items() if t in before[1])
        total, idle = (a - b for a, b in zip(after[2], before[2], strict=True))
        daemon += share * used
        machine += share * (high - low) * (1 - idle / total if total else 0.0) * cpus
        span += high - low
    return (daemon / span, machine / span) if span else (0.0, 0.0)


def polars_run(source: Path, tree: Path) -> dict[str, object]:
    """Polars' scan_parquet → sink_ndjson(zstd 3) of `source` in a fresh process of
    `tree`'s venv, its threads sampled as the daemon's are."""
    sampler = ThreadSampler()
    python = sys.executable if tree == REPO else str(tree / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory(prefix="jsonl-polars-") as tmp:
        target = Path(tmp) / "events.jsonl.zst"
        process = subprocess.Popen(
            [python, "-c", POLARS_SINK, str(source), str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        sampler.start(process.pid)
        process.stdin.write("\n")
        process.stdin.flush()
        start = json.loads(process.stdout.readline())["start"]
        done = json.loads(process.stdout.readline())
        # The sampler reads the threads' CPU until the process ends.
        process.wait()
        sampler.stop()
        stored = target.stat().st_size
    # The child's perf_counter shares this process's clock (CLOCK_MONOTONIC).
    return {
        "tree": "polars",
        "wall": done["wall"],
        "run": done["wall"],
        "cpu": done["cpu"],
        "peak_mib": done["peak_mib"],
        "stored_mb": stored / 1e6,
        "kinds": per_kind(sampler.samples, start, done["end"]),
        "phases": {"sink": (done["wall"], *busy_cores(sampler.samples, start, done["end"]))},
    }


def one_run(
    case: Case,
    name: str,
    tree: Path,
    env: dict[str, str],
    launcher_dir: Path,
    source: Path,
    keep_trace: Path | None = None,
) -> dict[str, object]:
    sampler = ThreadSampler()
    with tempfile.TemporaryDirectory(prefix="jsonl-path-") as tmp:
        trace = Path(tmp) / "trace.txt"
        # A tree's own PYTHONPATH (another tree's code in this venv) comes first.
        path = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(launcher_dir)) if p)
        settings = {**env, "PYTHONPATH": path, "BENCH_STAGE_TRACE": str(trace)}
        logical = source.with_suffix(".ndjson").stat().st_size
        result = run_case(
            case, 1_000_000, source, logical, LAUNCHER, None, settings, sampler.start, tree
        )
        sampler.stop()
        if keep_trace is not None:
            keep_trace.mkdir(parents=True, exist_ok=True)
            shutil.copy(trace, keep_trace / f"{name}-{time.strftime('%H%M%S')}.txt")
        events = []
        for line in trace.read_text().splitlines():
            stamp, thread, what = line.split(None, 2)
            events.append((float(stamp), thread, what))
    start = next(t for t, _, w in events if w == "execute>")
    end = next(t for t, _, w in events if w == "execute<")
    first_encode = min(t for t, _, w in events if w == "ndjson>")
    redactions = [t for t, _, w in events if w == "transform<"]
    # Without redaction, the drain starts when the reader has read its last batch.
    last_stage = max(redactions) if redactions else next(t for t, _, w in events if w == "read-end")
    phases = {
        "fill": (start, first_encode),
        "middle": (first_encode, last_stage),
        "drain": (last_stage, end),
    }
    return {
        "tree": name,
        "wall": result.seconds,
        "run": end - start,
        "cpu": result.daemon_cpu_seconds,
        "peak_mib": result.peak_rss / 2**20,
        "stored_mb": result.stored_bytes / 1e6,
        "kinds": per_kind(sampler.samples, start, end),
        "phases": {
            phase: (high - low, *busy_cores(sampler.samples, low, high))
            for phase, (low, high) in phases.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.jsonl_critical_path", description=__doc__
    )
    parser.add_argument("--case", choices=("a", "b"), default="b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH[+ENV=VALUE;...]")
    parser.add_argument("--dataset", choices=tuple(SOURCES), default="text-heavy")
    parser.add_argument(
        "--polars", action="store_true", help="case (a) only: Polars' own sink each round too"
    )
    parser.add_argument("--keep-trace", type=Path, help="keep each run's stage marks here")
    parser.add_argument("--json", type=Path, help="append every run as a JSON line here")
    args = parser.parse_args()
    if args.case == "b" and (args.dataset != "text-heavy" or args.polars):
        parser.error("--dataset events and --polars are for case (a)")
    source = SOURCES[args.dataset]
    trees: dict[str, tuple[Path, dict[str, str]]] = {}
    for given in args.tree or [f"this={REPO}"]:
        name, _, rest = given.partition("=")
        path, _, settings = rest.partition("+")
        env = dict(pair.split("=", 1) for pair in settings.split(";") if pair)
        trees[name] = (Path(path).resolve(), env)
    case = (
        Case("(b) jsonl+zstd+age+moderate", "parquet", "jsonl", "zstd", 3,
             redaction="moderate", encrypt_to=(recipient(),))
        if args.case == "b"
        else Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3)
    )  # fmt: skip
    runs: dict[str, list[dict[str, object]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="jsonl-launcher-") as launcher_dir:
        shutil.copy(
            REPO / "benchmarks" / "_jsonl_trace_serve.py", Path(launcher_dir) / f"{LAUNCHER}.py"
        )
        names = [*trees, "polars"] if args.polars else list(trees)
        for number in range(args.rounds):
            order = names if number % 2 == 0 else list(reversed(names))
            for name in order:
                if name == "polars":
                    run = polars_run(source, next(iter(trees.values()))[0])
                else:
                    path, env = trees[name]
                    run = one_run(
                        case, name, path, env, Path(launcher_dir), source, args.keep_trace
                    )
                runs[name].append(run)
                if args.json:
                    with args.json.open("a") as out:
                        out.write(json.dumps(run) + "\n")
                phases = "  ".join(
                    f"{p} {s:.2f}s @{d:.2f} (machine {m:.2f})"
                    for p, (s, d, m) in run["phases"].items()  # type: ignore[attr-defined]
                )
                print(
                    f"{name} round {number + 1}: wall {run['wall']:.2f}s, "
                    f"{'process' if name == 'polars' else 'daemon'} CPU {run['cpu']:.2f}s, "
                    f"peak {run['peak_mib']:.0f} MiB, stored {run['stored_mb']:.1f} MB | {phases}"
                )
                kinds = run["kinds"].items()  # type: ignore[attr-defined]
                print(
                    "    CPU s by thread:", ", ".join(f"{k} {v:.2f}" for k, v in kinds if v >= 0.02)
                )
    for name, done in runs.items():
        print(
            f"{name}: median wall {statistics.median(r['wall'] for r in done):.2f}s, "  # type: ignore[misc]
            f"daemon CPU {statistics.median(r['cpu'] for r in done):.2f}s, "  # type: ignore[misc]
            f"peak {statistics.median(r['peak_mib'] for r in done):.0f} MiB"  # type: ignore[misc]
        )


if __name__ == "__main__":
    main()
