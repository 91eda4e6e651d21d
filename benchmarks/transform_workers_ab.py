"""A/B of the pipeline's query+redaction workers through real daemons.

    python -m benchmarks.transform_workers_ab SOURCE.parquet NDJSON_COPY [--rounds 3]

Cases (a) jsonl+zstd and (b) jsonl+zstd+age+moderate (as peers_bench runs them), each
with 1 worker (the serial stage) and 2, in alternating rounds; prints wall, daemon
CPU seconds and peak RSS per run and the median of each, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.export_bench import Case, run_case
from sluice.format import bech32
from sluice.format.age import RECIPIENT_HRP

LAUNCHER = "benchmarks._transform_workers_serve"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("ndjson", type=Path, help="the same rows as NDJSON (its size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="a,b", help="a, b, a-forced (workers w/o redaction)")
    args = parser.parse_args(argv)
    rows = _rows(args.source)
    logical = args.ndjson.stat().st_size
    to = recipient()
    cases = {
        "a": (Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3), False),
        "a-forced": (Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3), True),
        "b": (
            Case(
                "(b) jsonl+zstd+age+moderate", "parquet", "jsonl", "zstd", 3,
                redaction="moderate", encrypt_to=(to,),
            ),
            False,
        ),
    }  # fmt: skip
    chosen = args.cases.split(",")
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    print(f"load before: {os.getloadavg()}", flush=True)
    for number in range(args.rounds):
        # Alternating which side goes first, so drift hits both alike.
        order = (1, 2) if number % 2 == 0 else (2, 1)
        for name in chosen:
            case, forced = cases[name]
            for workers in order:
                env = {"BENCH_TRANSFORM_WORKERS": str(workers)}
                if forced:
                    env["BENCH_TRANSFORM_ALWAYS"] = "1"
                result = run_case(case, rows, args.source, logical, LAUNCHER, env_extra=env)
                runs.setdefault((name, workers), []).append(
                    (result.seconds, result.daemon_cpu_seconds)
                )
                rss = result.peak_rss / 2**20
                print(
                    f"round {number} {name} workers={workers}: {result.seconds:.2f} s wall, "
                    f"{result.daemon_cpu_seconds:.2f} CPU s, peak RSS {rss:.0f} MiB, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    print(f"load after: {os.getloadavg()}")
    for (name, workers), measured in runs.items():
        wall = statistics.median(m[0] for m in measured)
        cpu = statistics.median(m[1] for m in measured)
        print(f"{name} workers={workers}: median {wall:.2f} s wall, {cpu:.2f} CPU s")


def recipient() -> str:
    """A fresh age recipient, as peers_bench makes one (importing it needs matplotlib)."""
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return bech32.encode(RECIPIENT_HRP, public)


def _rows(source: Path) -> int:
    import polars as pl

    return pl.scan_parquet(source).select(pl.len()).collect().item()


if __name__ == "__main__":
    main()
