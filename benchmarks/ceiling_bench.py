"""Issue 21's ceiling goal, alone: Sluice through the daemon beside Polars' own sinks.

    .venv/bin/python -m benchmarks.ceiling_bench [--rows 1000000] [--rounds 3]
        [--datasets events,text-heavy] [--cases parquet] [--no-gauge]
        [--out benchmarks/results/ceiling.md]

For each dataset (the cached files of peers_bench: the demo events and the text-heavy
one), every round runs, in alternating order: Sluice (a) jsonl+zstd and (c) parquet(zstd)
end to end through a fresh daemon over gRPC (benchmarks.export_bench.run_case), and
Polars' `scan_parquet → sink_ndjson / sink_parquet` of the same file in a fresh process
(benchmarks.peers). Each run gives wall seconds and CPU seconds (the daemon's whole
process for Sluice, the export's own for Polars). The goal is Polars' wall ÷ Sluice's
wall ≥ 0.9 (median of the rounds); the CPU ratio beside it tells how much of a wall gap
is work and how much is cores left idle. A fixed-cost gauge runs too: Sluice (c) on the
first 1,000 rows, i.e. what an export costs whatever its size (planning, job store,
manifest, signature, the client's wait).

Only this set runs (no dlt, no 10x memory run, no watchers), so it takes a minute at 1M
rows on an idle machine; peers_bench remains the full comparison. `--cases parquet` (or
jsonl) runs one pair only, (c) beside polars-parquet, for work on one encoder;
`--no-gauge` leaves the 1,000-row gauge out.

`--warm N` runs each Sluice case of a round as N exports one after the other on one
daemon and lists exports 2..N (the first pays the daemon's first-use imports and its
allocators' first pages): what a long-running daemon costs per export, which a fresh
daemon per run cannot show (a setting that keeps freed pages for the next export, say).
`--env K=V` gives the daemon extra environment (an A/B of such a setting).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from benchmarks import cpu_gauge, text_heavy_data
from benchmarks._proc import process_cpu_seconds
from benchmarks.export_bench import (
    DATA,
    EXPORT_TIMEOUT_SECONDS,
    REPO,
    SEED,
    Case,
    dataset,
    log,
    run_case,
    running_daemon,
)
from sluice.client import ExportClient
from sluice.v1 import export_pb2

RESULTS = REPO / "benchmarks" / "results"
SLUICE_CASES = (
    Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3),
    Case("(c) parquet(zstd)", "parquet", "parquet", "zstd"),
)
#: Sluice case name -> the Polars peer (benchmarks.peers) it is held against.
PEER_OF = {"(a) jsonl+zstd": "polars-jsonl-zstd", "(c) parquet(zstd)": "polars-parquet"}
GAUGE_ROWS = 1_000


@dataclass(frozen=True)
class Run:
    dataset: str
    what: str
    round: int
    wall: float
    cpu: float


def source_file(name: str, rows: int) -> Path:
    if name == "events":
        return dataset(rows, "parquet")
    path = DATA / f"text-heavy-{rows}-seed{SEED}-pii0.5.parquet"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        text_heavy_data.generate(partial, rows, seed=SEED, pii_share=0.5)
        partial.rename(path)
    return path


def head(source: Path, rows: int) -> Path:
    path = DATA / f"{source.stem}.head{rows}.parquet"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        pl.scan_parquet(source).head(rows).sink_parquet(partial, compression="zstd")
        partial.rename(path)
    return path


def run_polars(peer: str, source: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ceiling-") as out:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.peers", peer, str(source), out],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
    measured = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return float(measured["seconds"]), float(measured["cpu_seconds"])


def run_warm(
    case: Case, rows: int, source: Path, exports: int, env: Mapping[str, str]
) -> list[tuple[float, float]]:
    """`exports` exports of `case` one after the other on one daemon; (wall seconds,
    daemon CPU seconds) of each but the first."""
    measured: list[tuple[float, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="ceiling-warm-") as tmp,
        running_daemon(Path(tmp), source.parent, env_extra=env) as daemon,
    ):
        pid = daemon.process.pid
        spec = ExportClient.build_spec(
            source=source, to=daemon.exports, dataset="events", format=case.format,
            compression=case.compression, level=case.level,
        )  # fmt: skip
        for number in range(exports):
            with ExportClient(daemon.address) as client:
                cpu = process_cpu_seconds(pid) or 0.0
                started = time.perf_counter()
                done = client.wait(client.create(spec).id, timeout=EXPORT_TIMEOUT_SECONDS)
                wall = time.perf_counter() - started
                time.sleep(0.3)  # threads ending after the export (as parquet_daemon_cpu)
                cpu = (process_cpu_seconds(pid) or 0.0) - cpu
            if done.state != export_pb2.EXPORT_STATE_SUCCEEDED:
                raise RuntimeError(f"{case.name}, export {number + 1}: {done.error}")
            if done.progress.records != rows:
                raise RuntimeError(f"{case.name}: exported {done.progress.records} of {rows}")
            if number:
                measured.append((wall, cpu))
            for output in daemon.exports.iterdir():
                shutil.rmtree(output)
    return measured


#: --cases: the Sluice case of each pair (its peer comes with it).
CASE_PAIRS = {"jsonl": "(a) jsonl+zstd", "parquet": "(c) parquet(zstd)"}


def measure(
    names: Sequence[str], rows: int, rounds: int, cases: Sequence[str] = tuple(CASE_PAIRS),
    gauge: bool = True, warm: int = 0, env: Mapping[str, str] | None = None,
) -> list[Run]:  # fmt: skip
    runs: list[Run] = []
    mine = [CASE_PAIRS[c] for c in cases]
    for number in range(rounds):
        for name in names:
            source = source_file(name, rows)
            order: list[str] = mine + [PEER_OF[c] for c in mine]
            if number % 2:
                order.reverse()
            for what in order:
                case = next((c for c in SLUICE_CASES if c.name == what), None)
                if case is not None and warm > 1:
                    for wall, cpu in run_warm(case, rows, source, warm, env or {}):
                        runs.append(Run(name, what, number, wall, cpu))
                        log(f"{name} {what} warm: {wall:.2f} s wall, {cpu:.2f} CPU s")
                    continue
                if case is not None:
                    result = run_case(case, rows, source, 1, env_extra=env)
                    runs.append(Run(name, what, number, result.seconds, result.daemon_cpu_seconds))
                else:
                    wall, cpu = run_polars(what, source)
                    runs.append(Run(name, what, number, wall, cpu))
                log(f"{name} {what}: {runs[-1].wall:.2f} s wall, {runs[-1].cpu:.2f} CPU s")
            if not gauge:
                continue
            small = run_case(
                SLUICE_CASES[1], GAUGE_ROWS, head(source, GAUGE_ROWS), 1, env_extra=env
            )
            runs.append(
                Run(name, f"gauge: (c) at {GAUGE_ROWS:,} rows", number, small.seconds,
                    small.daemon_cpu_seconds)
            )  # fmt: skip
    return runs


def report(
    runs: list[Run], rows: int, rounds: int, warm: int = 0, env: Mapping[str, str] | None = None
) -> str:
    lines = [
        f"# Ceiling — Sluice through the daemon vs Polars' sinks, {rows:,} rows",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, "
        f"polars {pl.__version__}, {rounds} alternating round(s), every run listed",
        "- ratio = Polars' median ÷ Sluice's median (issue 21 goal: wall ≥ 0.9)",
        cpu_gauge.measure().line(),
    ]
    if warm > 1:
        lines.append(
            f"- warm daemon: each Sluice round is {warm} exports on one daemon, exports "
            f"2-{warm} listed (Polars: a fresh process per run, its export's own CPU)"
        )
    if env:
        lines.append("- daemon environment: " + ", ".join(f"`{k}={v}`" for k, v in env.items()))
    lines += [
        "",
        "| dataset | what | round | wall s | CPU s |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.dataset} | {r.what} | {r.round + 1} | {r.wall:.2f} | {r.cpu:.2f} |" for r in runs
    ]
    lines += ["", "| dataset | Sluice case | wall ratio | CPU ratio |", "|---|---|---:|---:|"]
    for name in dict.fromkeys(r.dataset for r in runs):
        for case, peer in PEER_OF.items():
            mine = [r for r in runs if r.dataset == name and r.what == case]
            theirs = [r for r in runs if r.dataset == name and r.what == peer]
            if not mine or not theirs:
                continue
            wall = _median(theirs, "wall") / _median(mine, "wall")
            cpu = _median(theirs, "cpu") / _median(mine, "cpu")
            lines.append(f"| {name} | {case} | {wall:.2f}x | {cpu:.2f}x |")
    return "\n".join(lines) + "\n"


def _median(runs: list[Run], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in runs))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datasets", default="events,text-heavy")
    parser.add_argument("--cases", default=",".join(CASE_PAIRS), help="jsonl, parquet or both")
    parser.add_argument("--no-gauge", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "ceiling.md")
    parser.add_argument(
        "--warm", type=int, default=0,
        help="N exports per Sluice run on one daemon, exports 2..N listed (0: a fresh daemon)",
    )  # fmt: skip
    parser.add_argument("--env", action="append", default=[], help="K=V for the daemon")
    args = parser.parse_args(argv)
    if args.warm == 1:
        parser.error("--warm needs at least 2 exports: the first one is not listed")
    if bad := [item for item in args.env if "=" not in item]:
        parser.error(f"--env takes K=V, not {bad}")
    env = dict(item.split("=", 1) for item in args.env)
    names = [n for n in args.datasets.split(",") if n]
    cases = [c for c in args.cases.split(",") if c]
    if unknown := sorted(set(cases) - set(CASE_PAIRS)):
        parser.error(f"unknown cases {unknown}; known: {sorted(CASE_PAIRS)}")
    runs = measure(names, args.rows, args.rounds, cases, not args.no_gauge, args.warm, env)
    text = report(runs, args.rows, args.rounds, args.warm, env)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
