"""Text values picked out of a batch, copied together before several scans read them.

Polars keeps text as views into the batch's buffers, and a filter copies only the
views: the text of the rows it keeps stays where it was, spread over the whole batch.
A scan of those rows then reads each value from a place the CPU did not see coming
(about a cache miss per value), where one over the batch streams through memory. On the
text-heavy set a literal search of the phone gate's rows (a quarter of a batch's
messages) cost 3x what it did once they were copied together, the phone rule's scans
of its rows 1.1-2.8x; the copy costs about one such scan. So rows a rule runs several
scans on are copied first. The values are the same: only where they lie changes.
"""

from __future__ import annotations

import polars as pl

#: Arrow's oldest layout writes text as offsets into one buffer: to it and back is a
#: copy of every value, in row order, into a buffer of their own.
_CONTIGUOUS = pl.CompatLevel.oldest()


def packed(values: pl.Series) -> pl.Series:
    """`values` with their text in a buffer of their own, in row order (text and lists
    of text; other values are returned as they are)."""
    if values.dtype != pl.String and values.dtype != pl.List(pl.String):
        return values
    return pl.Series(values.name, values.to_arrow(compat_level=_CONTIGUOUS), dtype=values.dtype)


def packed_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each of its columns `packed`."""
    return pl.DataFrame([packed(column) for column in frame.iter_columns()])
