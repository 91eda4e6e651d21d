"""CPU of the Parquet encoder's dictionary choice (parquet_dictionary.dictionary_columns)
over a chunk's first batch, this tree's beside a revision's, alternating.

    .venv/bin/python -m benchmarks.dictionary_choice_cpu [--before main] [--rounds 5]
        [--calls 20] [--rows 65536] [--datasets events,text-heavy]

The batch is the first `--rows` rows (the pipeline's batch) of the 1M-row events and
text-heavy files (benchmarks/ceiling_bench.py makes them if missing). The revision's
module is loaded from `git show` (it imports only Polars), so both run in one process
on the same batches; each run is `--calls` calls, CPU seconds (user + sys, every
thread) per call, every run printed; both must choose the same columns. Polars' pool
is POLARS_MAX_THREADS (default here 1, as in benchmarks/encode_profile.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import statistics
import subprocess
import time
import types
from collections.abc import Callable, Sequence

import polars as pl

from benchmarks.ceiling_bench import source_file
from benchmarks.export_bench import REPO
from sluice.server.pipeline import parquet_dictionary

Choice = Callable[[pl.DataFrame], list[str]]


def choice_at(revision: str) -> Choice:
    """dictionary_columns as `revision` has it."""
    source = subprocess.run(
        ["git", "show", f"{revision}:server/pipeline/parquet_dictionary.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"parquet_dictionary_at_{revision}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    choice: Choice = module.dictionary_columns
    return choice


def cpu_per_call(choice: Choice, batch: pl.DataFrame, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        choice(batch)
    return (time.process_time() - started) / calls


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rows", type=int, default=65_536)
    parser.add_argument("--datasets", default="events,text-heavy")
    args = parser.parse_args(argv)

    sides = {
        args.before: choice_at(args.before),
        "this tree": parquet_dictionary.dictionary_columns,
    }
    print(f"polars {pl.__version__}, POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}")
    print("| dataset | round | " + " | ".join(f"{s} ms/call" for s in sides) + " |")
    print("|---|---:|" + "---:|" * len(sides))
    for name in args.datasets.split(","):
        batch = pl.scan_parquet(source_file(name, 1_000_000)).head(args.rows).collect()
        chosen = {side: choice(batch) for side, choice in sides.items()}
        if len({tuple(c) for c in chosen.values()}) != 1:
            raise SystemExit(f"{name}: the choices differ: {chosen}")
        spent: dict[str, list[float]] = {side: [] for side in sides}
        for round_ in range(args.rounds):
            # Alternating, the order flipped every round.
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                spent[side].append(cpu_per_call(sides[side], batch, args.calls))
            cells = " | ".join(f"{spent[side][-1] * 1e3:.2f}" for side in sides)
            print(f"| {name} | {round_ + 1} | {cells} |", flush=True)
        medians = " | ".join(f"**{statistics.median(spent[s]) * 1e3:.2f}**" for s in sides)
        print(f"| {name} | median | {medians} |")
        print(f"  {name}: {len(chosen[args.before])} dictionary leaves: {chosen[args.before]}")


if __name__ == "__main__":
    main()
