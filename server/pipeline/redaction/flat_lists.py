"""Per-element work on list values, done once over their flat values.

`list.eval` does not share sub-expressions: an expression that refers to a derived value
(a regex extraction, a split) several times recomputes it at each reference, and a
validator refers to its candidate many times. Here the lists' values are taken out once
(Arrow's flat child array and parent indices: no copy of the strings), the work runs as
a lazy frame over those flat values, where each derived column is materialised once and
common sub-expressions are shared, and the result is put back with the original offsets
and validity (null lists stay null, empty lists empty).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.redaction.collect_engine import IN_MEMORY

#: Builds the per-element result: from a frame with the flat values in column `ELEMENT`
#: to one whose column `RESULT` holds the new value of each element.
FlatWork = Callable[[pl.LazyFrame], pl.LazyFrame]
ELEMENT = "element"
RESULT = "result"


def _flat(lists: pl.Series) -> tuple[pa.Array, pl.LazyFrame]:
    array = lists.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    values = pl.Series(ELEMENT, pc.list_flatten(array))
    return array, values.to_frame().lazy()


def map_elements(lists: pl.Series, work: FlatWork) -> pl.Series:
    """`lists` with each element replaced by `work`'s result for it."""
    array, frame = _flat(lists)
    result = work(frame).select(RESULT).collect(engine=IN_MEMORY).to_series().to_arrow()
    lengths = pc.fill_null(pc.list_value_length(array), 0)
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int64()), pc.cumulative_sum(lengths.cast(pa.int64()))]
    )
    rebuilt = pa.LargeListArray.from_arrays(offsets, result, mask=array.is_null())
    return pl.Series(lists.name, rebuilt)


def any_element(lists: pl.Series, work: FlatWork) -> pl.Series:
    """Per list: whether `work`'s Boolean result holds for any element (False for an
    empty list, null for a null list)."""
    array, frame = _flat(lists)
    held = work(frame).select(RESULT).collect(engine=IN_MEMORY).to_series().fill_null(False)
    parents = pl.Series(pc.list_parent_indices(array)).filter(held)
    found = pl.Series(lists.name, [False] * len(lists), dtype=pl.Boolean)
    if len(parents):
        found = found.scatter(parents.unique(), True)
    return (
        pl.select(pl.when(pl.lit(lists.is_null())).then(None).otherwise(pl.lit(found)))
        .to_series()
        .alias(lists.name)
    )
