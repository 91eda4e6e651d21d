"""What WatchExport watchers cost the daemon: one export with 0 and with N watchers.

    python -m benchmarks.watch_bench [--rows 1000000] [--watchers 100] [--rounds 3]
                                     [--against /work/main] [--out FILE]

Each run is benchmarks.export_bench's (a) case (jsonl+zstd(3) from the cached Parquet
dataset) through a fresh daemon, measuring the daemon's CPU seconds (user + system, all
threads, psutil), the share of its gRPC threads (py-spy names them) and the events the
watchers received, by kind. With `--against TREE` (another checkout with its own .venv)
every round runs both trees, each without and with watchers, the order alternating
round by round so drift (a neighbour's load, the page cache) hits both alike. The
watchers' cost is the CPU with them minus the CPU without, within one round and tree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.export_bench import REPO, Case, Result, dataset, log, run_case


@dataclass(frozen=True)
class Run:
    round: int
    tree: Path
    result: Result


def _kinds(result: Result) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in result.watch_event_kinds)


def _table(runs: Sequence[Run], watchers: int) -> list[str]:
    lines = [
        "| round | tree | watchers | seconds | daemon CPU s | gRPC threads CPU s "
        "| events | by kind |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        r = run.result
        grpc_cpu = "?" if r.grpc_cpu_seconds is None else f"{r.grpc_cpu_seconds:.2f}"
        lines.append(
            f"| {run.round} | {run.tree} | {r.case.watchers} | {r.seconds:.2f} "
            f"| {r.daemon_cpu_seconds:.2f} | {grpc_cpu} | {r.watch_events:,} | {_kinds(r)} |"
        )
    lines += ["", f"Watchers' cost per round (CPU with {watchers} minus CPU without):", ""]
    lines += ["| tree | per round, CPU s | per round, % | median CPU s | median % |"]
    lines += ["|---|---|---|---|---|"]
    for tree in dict.fromkeys(run.tree for run in runs):
        extra: list[float] = []
        share: list[float] = []
        for round_ in sorted({run.round for run in runs}):
            pair = {
                run.result.case.watchers: run.result.daemon_cpu_seconds
                for run in runs
                if run.tree == tree and run.round == round_
            }
            if 0 in pair and watchers in pair:
                extra.append(pair[watchers] - pair[0])
                share.append(100 * (pair[watchers] - pair[0]) / pair[0])
        if extra:
            lines.append(
                f"| {tree} | {', '.join(f'{e:+.2f}' for e in extra)} "
                f"| {', '.join(f'{s:+.1f}' for s in share)} "
                f"| {statistics.median(extra):+.2f} | {statistics.median(share):+.1f} |"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watch_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument("--watchers", type=int, default=100, help="concurrent WatchExport streams")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: every tree, 0 and N)")
    parser.add_argument(
        "--against", type=Path, default=None,
        help="another checkout (with its own .venv) run alternately with this one",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.watchers < 1 or args.rounds < 1:
        parser.error("--rows, --watchers and --rounds must be positive")
    source = dataset(args.rows, "parquet")
    quiet = Case("jsonl+zstd(3)", "parquet", "jsonl", "zstd", 3, attribute_threads=True)
    watched = Case(
        f"jsonl+zstd(3), {args.watchers} watchers", "parquet", "jsonl", "zstd", 3,
        watchers=args.watchers, attribute_threads=True,
    )  # fmt: skip
    trees = [REPO] if args.against is None else [REPO, args.against.resolve()]
    runs: list[Run] = []
    for round_ in range(1, args.rounds + 1):
        order = trees if round_ % 2 else trees[::-1]
        cases = (quiet, watched) if round_ % 2 else (watched, quiet)
        for tree in order:
            for case in cases:
                log(f"round {round_}: {tree}")
                runs.append(Run(round_, tree, run_case(case, args.rows, source, 0, tree=tree)))
    text = "\n".join(_table(runs, args.watchers)) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    for run in runs:
        r = run.result
        if r.case.watchers and r.watch_events == 0:
            sys.exit(f"{run.tree}: the watchers received nothing")


if __name__ == "__main__":
    main()
