"""A digest of what redaction produces, per level, on the text-heavy dataset: run it on
two commits to show that a change to how redaction runs left its output alone.

    python -m benchmarks.redaction_digest [--rows 200000] [--levels basic moderate strict]

Prints, per level, the SHA-256 of the redacted batches as NDJSON (every column the
pipeline encodes, plus the per-record counter flags) and the total of the counters.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import hashlib
from collections.abc import Sequence

from benchmarks.redaction_cpu import BATCH_ROWS, source
from benchmarks.stage_budget import plan_for, source_batches
from sluice.server.pipeline.redaction.redactor import COUNTER_PREFIX


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redaction_digest")
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the dataset")
    parser.add_argument("--pii-share", type=float, default=0.5)
    parser.add_argument("--levels", nargs="+", default=["basic", "moderate", "strict"])
    args = parser.parse_args(argv)
    path = source("text-heavy", args.rows, args.pii_share)
    for level in args.levels:
        plan = plan_for(path, level)
        digest = hashlib.sha256()
        counted = 0
        for batch in source_batches(plan, BATCH_ROWS):
            out = plan.redactor.apply(batch.lazy()).collect()
            digest.update(out.write_ndjson().encode())
            flags = [c for c in out.columns if c.startswith(COUNTER_PREFIX)]
            counted += sum(int(out[c].sum()) for c in flags)
        print(f"{level}: sha256 {digest.hexdigest()} counted {counted}")


if __name__ == "__main__":
    main()
