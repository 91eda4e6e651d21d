"""How a Parquet row group's columns are split into parts encoded side by side.

A row group encoded whole keeps one worker busy for its whole time (~55 ms for 65,536
rows of the demo events), so the end of a chunk, where no later row group overlaps the
last ones, ran on one core while the other sat idle. Split into contiguous top-level
columns, one part per worker, the last row group takes every core. The parts are joined
back into the same bytes (see parquet_stitch), so the split only moves work between
threads: it is decided from the chunk's first batch and needs no care for resumes.

What a column costs to encode is estimated, not measured: a fixed share per leaf value
(levels, statistics, dictionary look-ups) plus its bytes. On the demo events and the
text-heavy data that estimate puts 53-54% of the encoding time in the larger of two
parts; sizes alone put 57%, leaf counts alone up to 77%.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Estimated cost of one leaf value, in bytes of data: the width of an int64.
_LEAF_VALUE_BYTES: Final = 8


def column_parts(batch: pl.DataFrame, parts: int) -> list[list[str]]:
    """`batch`'s columns in order, cut into at most `parts` contiguous runs of about equal
    estimated encoding cost, none empty (one run when `parts` is 1 or less)."""
    names = batch.columns
    costs = [_cost(batch.get_column(name)) for name in names]
    parts = max(1, min(parts, len(names)))
    total = sum(costs)
    runs: list[list[str]] = []
    run: list[str] = []
    done = 0.0
    for index, (name, cost) in enumerate(zip(names, costs, strict=True)):
        run.append(name)
        done += cost
        cuts_left = parts - 1 - len(runs)
        columns_left = len(names) - index - 1
        if cuts_left <= 0 or columns_left == 0:
            continue
        # Cut when this column brings the run closer to its share than the next would,
        # or when the columns left are just enough for one per remaining part.
        target = total * (len(runs) + 1) / parts
        following = done + costs[index + 1]
        if abs(done - target) <= abs(following - target) or columns_left == cuts_left:
            runs.append(run)
            run = []
    runs.append(run)
    return runs


def _cost(column: pl.Series) -> float:
    return column.len() * _leaves(column.dtype) * _LEAF_VALUE_BYTES + column.estimated_size()


def _leaves(dtype: object) -> int:
    """Parquet leaf columns a value of this type becomes."""
    if isinstance(dtype, pl.Struct):
        leaves = [_leaves(field.dtype) for field in dtype.fields]
        return max(1, sum(leaves))
    if isinstance(dtype, pl.List | pl.Array):
        return _leaves(dtype.inner)
    return 1
