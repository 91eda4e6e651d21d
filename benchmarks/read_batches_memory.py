"""Daemon peak RSS and CPU of a jsonl+zstd export at 1x and `--scale`x rows, for several
sizes of the local Parquet reader's pieces (server.pipeline.reader.PARQUET_READ_BATCHES:
batches of a row group decoded at once).

    .venv/bin/python -m benchmarks.read_batches_memory [--rows 1000000] [--scale 10]
        [--batches 1 2 4] [--rounds 1] [--dataset events|text-heavy]

Each run is a fresh daemon (benchmarks/_read_batches_serve.py sets the size), as
export_bench runs it; sizes alternate within each round. Peak RSS is the daemon's VmHWM
(start-up included); CPU is the daemon's user+system over the export, which holds up on
a busy machine far better than wall time. Every run is listed: results go to
results/read_batches_memory.md.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.export_bench import Case, MiB, Result, markdown_table, run_case
from benchmarks.peers_bench import RESULTS, source_file

LAUNCHER = "benchmarks._read_batches_serve"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dataset", choices=("events", "text-heavy"), default="events")
    parser.add_argument("--pii-share", type=float, default=0.5, help="text-heavy only")
    parser.add_argument("--out", type=Path, default=RESULTS / "read_batches_memory.md")
    args = parser.parse_args(argv)
    case = Case("jsonl+zstd(3)", "parquet", "jsonl", "zstd", 3)
    runs: list[tuple[int, int, Result]] = []
    for round_ in range(1, args.rounds + 1):
        for rows in (args.rows, args.rows * args.scale):
            source = source_file(args, rows, "parquet")
            for batches in args.batches:
                os.environ["BENCH_PARQUET_READ_BATCHES"] = str(batches)
                runs.append((round_, batches, run_case(case, rows, source, 0, LAUNCHER)))
    header = [
        "round",
        "PARQUET_READ_BATCHES",
        "rows",
        "seconds",
        "daemon CPU s",
        "peak RSS MiB",
        "above baseline MiB",
    ]
    table = [
        (
            str(round_),
            str(batches),
            f"{r.rows:,}",
            f"{r.seconds:.1f}",
            f"{r.daemon_cpu_seconds:.2f}",
            f"{r.peak_rss / MiB:.0f}",
            f"{(r.peak_rss - r.baseline_rss) / MiB:.0f}",
        )
        for round_, batches, r in runs
    ]
    load = os.getloadavg()[0]
    report = "\n".join(
        [
            f"# Reader piece size vs memory — {args.dataset}, {args.rows:,} and "
            f"{args.rows * args.scale:,} rows",
            "",
            f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load {load:.2f}",
            "",
            markdown_table(header, table),
            "",
        ]
    )
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
