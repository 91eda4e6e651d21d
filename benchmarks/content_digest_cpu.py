"""CPU of a chunk's keyed content digest, by algorithm, on the pieces the writer thread
really feeds it: the NDJSON of each batch of a dataset, as the jsonl encoder makes it.

    .venv/bin/python -m benchmarks.content_digest_cpu [--rows 1000000]
        [--datasets text-heavy,events] [--rounds 5]

Each round digests all pieces once per algorithm (HMAC-SHA256, the chunks' digest until
2026-12; keyed BLAKE3, single-threaded, the one now), alternating which goes first, and
times the calling thread's CPU. Prints the median CPU seconds and GB/s per algorithm.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import statistics
import time
from collections.abc import Sequence

from benchmarks.ceiling_bench import source_file
from benchmarks.stage_budget import plan_for, source_batches
from sluice.format.content_digests import BLAKE3, HMAC_SHA256
from sluice.server.pipeline.content_hasher import ContentHasher
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext

KEY = b"k" * 32
BATCH_ROWS = 65_536  # the server's default batch_rows


def ndjson_pieces(dataset: str, rows: int) -> list[bytes]:
    source = source_file(dataset, rows)
    batches = source_batches(plan_for(source, "none"), BATCH_ROWS)
    encoder = ENCODERS["jsonl"].make(ChunkContext("digest", "digest", 0, workers=1))
    # The row-index column the reader adds is not exported.
    pieces = [p for b in batches for p in encoder.encode_pieces(b.drop(b.columns[0]))]
    return [*pieces, encoder.finish()]


def digest_cpu(pieces: Sequence[bytes], algorithm: str) -> float:
    started = time.thread_time()
    hasher = ContentHasher(KEY, algorithm)
    for piece in pieces:
        hasher.update(piece)
    hasher.text()
    return time.thread_time() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--datasets", default="text-heavy,events")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for dataset in args.datasets.split(","):
        pieces = ndjson_pieces(dataset, args.rows)
        size = sum(len(p) for p in pieces)
        spent: dict[str, list[float]] = {HMAC_SHA256: [], BLAKE3: []}
        for round_ in range(args.rounds):
            order = (HMAC_SHA256, BLAKE3) if round_ % 2 == 0 else (BLAKE3, HMAC_SHA256)
            for algorithm in order:
                spent[algorithm].append(digest_cpu(pieces, algorithm))
        print(f"{dataset}: {args.rows:,} rows, {len(pieces)} pieces, {size / 1e6:,.0f} MB NDJSON")
        for algorithm, seconds in spent.items():
            median = statistics.median(seconds)
            print(
                f"  {algorithm:<12} {median:6.3f} CPU s (median of {args.rounds}; "
                f"min {min(seconds):.3f}, max {max(seconds):.3f}), {size / median / 1e9:.2f} GB/s"
            )


if __name__ == "__main__":
    main()
