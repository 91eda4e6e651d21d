"""CPU seconds of YAML and XML exports of the demo data, through the daemon's pipeline in
process (benchmarks.encode_profile's `sluice_run`: reader, encoder, writer and commit
threads, a local folder sink, zstd as `sluice demo` uses), one line per run.

    .venv/bin/python -m benchmarks.text_formats_cpu [--rows 300000] [--rounds 3]
                                                    [--formats yaml,xml] [--source FILE]
                                                    [--chunk-mib N]

The formats alternate within each round, so a busy machine weighs on both alike. Made
for the YAML encoder's rewrite (session 22): PyYAML's representer made a YAML export of
300k demo rows ~35x the CPU of the XML one. CPU time (user+sys of this process) stays
meaningful on a shared machine where wall time does not; both are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.encode_profile import Case, sluice_run
from benchmarks.export_bench import dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default="yaml,xml")
    # The demo's events (seed 7) by default; any Parquet file of them may stand in.
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--label", default="")
    # Chunk target in MiB (0: the server's default, 64 MiB).
    parser.add_argument("--chunk-mib", type=int, default=0)
    args = parser.parse_args(argv)
    source = args.source or dataset(args.rows, "parquet")
    for round_number in range(1, args.rounds + 1):
        for fmt in args.formats.split(","):
            case = Case(fmt, fmt, "zstd")
            run = sluice_run(source, case, threads=1, profile_dir=None, chunk_mib=args.chunk_mib)
            print(
                f"{args.label}\tround {round_number}\t{fmt}\tcpu {run.cpu:.2f} s"
                f"\twall {run.wall:.2f} s\tstored {run.stored:,} B",
                flush=True,
            )


if __name__ == "__main__":
    main()
