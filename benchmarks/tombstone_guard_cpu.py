"""CPU of the tombstone guard on a key-only increment with deletions, with its
comparison (a deleted key against every key the export sends) and without it (skipped
where no deleted key can equal a sent one: planning/key_types.deletions_need_guard).

The export's keys are int64 keys as the key pass spills them (key digest and key JSON,
256 range files, read back by RangeSorter.reread exactly as key_changes does); the
deletions are sealed key JSON with their parent key digests, in the ranges'
order. Measured with `time.process_time` (the guard runs on the calling thread, its
Polars work on Polars' pool: process time counts both); the two cases alternate
within a round, so a busy machine slows both alike. Also checks both give the same
tombstone keys in the same order.

    .venv/bin/python -m benchmarks.tombstone_guard_cpu                    # 1M keys, 3 rounds
    .venv/bin/python -m benchmarks.tombstone_guard_cpu --keys 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from sluice.server.keyindex.digests import KEY_DIGEST, KEY_JSON, key_struct_type
from sluice.server.keyindex.sorter import RangeSorter
from sluice.server.keyindex.tombstone_guard import TombstoneGuard

SPILL_ROWS = 4 * 65_536


def _digests(values: range, salt: bytes) -> pl.Series:
    return pl.Series(
        [hashlib.sha256(salt + v.to_bytes(8, "little")).digest()[:16] for v in values],
        dtype=pl.Binary,
    )


def _spilled_keys(folder: Path, keys: int) -> RangeSorter:
    """The export's keys as the key pass leaves them: spilled by digest, ranges read."""
    folder.mkdir()
    sorter = RangeSorter(
        folder, SPILL_ROWS, pl.Schema({KEY_DIGEST: pl.Binary, KEY_JSON: pl.String})
    )
    step = 100_000
    for start in range(0, keys, step):
        ids = range(start, min(start + step, keys))
        frame = pl.DataFrame({KEY_DIGEST: _digests(ids, b"now"), "id": list(ids)})
        sorter.add(frame.select(KEY_DIGEST, pl.struct("id").struct.json_encode().alias(KEY_JSON)))
    for _ in sorter.ranges(keep=True):
        pass
    return sorter


def _deletions(keys: int, deleted: int) -> list[tuple[list[str], pl.Series]]:
    """Deleted keys (ids past the export's) in 256 batches, as the comparison finds them."""
    ids = range(keys, keys + deleted)
    frame = pl.DataFrame({"d": _digests(ids, b"parent"), "id": list(ids)}).sort("d")
    frame = frame.with_columns(pl.struct("id").struct.json_encode().alias("json"))
    ranged = frame.with_columns(pl.col("d").bin.encode("hex").str.slice(0, 2).alias("r"))
    return [
        (part.get_column("json").to_list(), part.get_column("d"))
        for part in ranged.partition_by("r", maintain_order=True)
    ]


def _run(
    folder: Path, sorter: RangeSorter, batches: list[tuple[list[str], pl.Series]], *, needed: bool
) -> tuple[float, list[str]]:
    guard = TombstoneGuard(
        folder,
        SPILL_ROWS,
        key_struct_type(("id",), {"id": pl.Int64}),
        parent="parent",
        parent_types={"id": "int64"},
        types={"id": "int64"},
        needed=needed,
    )
    started = time.process_time()
    for keys, digests in batches:
        guard.deleted(keys, digests)
    kept = [key for part in guard.kept(sorter.reread(KEY_JSON)) for key in part]
    return time.process_time() - started, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--deleted", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guard-bench-") as root:
        folder = Path(root)
        sorter = _spilled_keys(folder / "keys", args.keys)
        batches = _deletions(args.keys, args.deleted)
        times: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):
            results = {}
            for needed in (True, False):
                seconds, kept = _run(
                    folder / f"guard-{round_}-{needed}", sorter, batches, needed=needed
                )
                times[needed].append(seconds)
                results[needed] = kept
            assert results[True] == results[False], "the two paths gave other tombstones"
            assert len(results[True]) == args.deleted
    print(f"{args.keys:,} keys, {args.deleted:,} deleted, {args.rounds} rounds (CPU s)")
    for needed, label in ((True, "compared (before)"), (False, "skipped (after)")):
        rounds = ", ".join(f"{t:.3f}" for t in times[needed])
        print(f"  {label:18} median {statistics.median(times[needed]):.3f}  [{rounds}]")


if __name__ == "__main__":
    main()
