"""Which Parquet columns get dictionary encoding, decided from a chunk's first batch.

pyarrow dictionary-encodes every column by default and falls back to plain encoding
once a dictionary grows too large, so high-cardinality columns (ids, e-mail addresses,
timestamps) pay for building a dictionary they then throw away. On the demo data that
is a third of the encoder's time and makes files larger. Columns whose values repeat
(at most half of them distinct) keep the dictionary; the others are written plain.
The decision depends only on the chunk's first batch, so a resumed chunk is encoded
exactly as before.

Only the comparison with the share matters, not the count: counting every leaf's
distinct values (~21 ms per 65,536 events rows, once per chunk: +11% CPU at 4 MiB chunks)
is needed only where a prefix does not already settle it. A prefix with more distinct
values than the share of the whole has them too (plain); one whose distinct values plus
the values after it are within the share leaves no room for more (repetitive). Either
holds for any input, so the answer is the exact count's; what a first few rows predict
only picks how long a prefix to count (tests/unit/test_parquet_dictionary_properties.py).

Where the prediction is wrong the leaf costs more than the count alone: the probe (its
first 4,096 rows, and 2,048 of them again), a prefix of at most _LONGEST_PREFIX of it that
does not settle it, then the whole: at most ~1.94x the count in rows counted, measured
1.45x (4,096 distinct values repeated: the probe sees only distinct ones) and 1.71x (its
first 4,096 rows random, the rest a cycle of 28,000) per 65,536-row batch of such leaves,
~+8-11 ms. A lower cap does not bound the first (its prefix is the shortest) and costs the
events batch a third of its gain (0.65x the count's CPU; 0.75x with a cap of 0.7: the e-mail
and message leaves settle at 0.80 and 0.77 of their rows), so it stays at 0.85.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import polars as pl

#: A column keeps its dictionary when distinct values are at most this share of values.
DICTIONARY_MAX_DISTINCT_SHARE = 0.5

#: Rows whose distinct values predict, for a longer leaf, which prefix settles it.
_PROBE_ROWS = 4096
#: The prefix counted must be predicted to clear the share by this fraction of it, either
#: way: a prefix that does not settle the leaf costs its count on top of the whole one.
_MARGIN = 0.04
#: A prefix predicted to need more of the leaf than this is not counted: the whole is.
_LONGEST_PREFIX = 0.85


def dictionary_columns(batch: pl.DataFrame) -> list[str]:
    """Parquet leaf paths (as pyarrow names them) worth dictionary-encoding."""
    return [path for path, values in _leaves(batch) if _repetitive(values)]


def _repetitive(values: pl.Series) -> bool:
    """Whether at most DICTIONARY_MAX_DISTINCT_SHARE of the leaf's non-null values are
    distinct, as an exact count of them says."""
    present = _present(values)
    if present == 0:
        return False
    limit = present * DICTIONARY_MAX_DISTINCT_SHARE
    most = _most_distinct(values.dtype)
    if most is not None and most <= limit:
        return True
    rows = _settling_prefix(values, present, limit)
    if rows < values.len():
        verdict = _prefix_verdict(values.head(rows), present, limit)
        if verdict is not None:
            return verdict
    return _distinct(values) <= limit


def _prefix_verdict(head: pl.Series, present: int, limit: float) -> bool | None:
    """Whether a leaf of `present` non-null values, `head` its first rows, has at most
    `limit` distinct ones, if its first rows settle that (None if they do not)."""
    distinct = _distinct(head)
    if distinct > limit:
        return False  # the whole has at least the prefix's distinct values
    if distinct + present - _present(head) <= limit:
        return True  # each value after the prefix adds at most one
    return None


def _distinct(values: pl.Series) -> int:
    """Distinct non-null values. Counted without the nulls: with them Polars' count took
    up to 1.8x as long (the text-heavy referrers, 30k nulls in 65,536 rows)."""
    return (values.drop_nulls() if values.has_nulls() else values).n_unique()


def _most_distinct(dtype: pl.DataType) -> int | None:
    """How many distinct values the type can hold, where that is few."""
    if isinstance(dtype, pl.Boolean):
        return 2
    if isinstance(dtype, pl.Int8 | pl.UInt8):
        return 256
    if isinstance(dtype, pl.Enum):
        return dtype.categories.len()
    return None


def _settling_prefix(values: pl.Series, present: int, limit: float) -> int:
    """The rows of the shortest prefix predicted to settle the leaf either way (the
    leaf's length if none is short enough to pay), from the distinct values of its first
    rows and of the first half of those. Two readings of them, each wrong one way: draws
    from a pool of equally likely values (long tails, such as the events' messages, keep
    adding values that it does not foresee) and the power of the rows that the two counts
    fit (it overshoots where the values run out). Plain is predicted from the lower of
    the two, repetitive from the higher."""
    rows = values.len()
    if rows <= 4 * _PROBE_ROWS:
        return rows
    half = _present_and_distinct(values.head(_PROBE_ROWS // 2))
    probe = _present_and_distinct(values.head(_PROBE_ROWS))
    if half[1] == 0 or probe[0] == half[0]:
        return rows
    pool = _pool_size(probe[1], probe[0])
    # Nonzero: probe[0] > half[0] > 0 (half[1] > 0). Large where the second half of the
    # probe rows adds a value but few rows (nulls): computed in log space, as
    # `probe[1] * (taken / probe[0]) ** power` would overflow (Python raises).
    power = math.log(probe[1] / half[1]) / math.log(probe[0] / half[0])
    present_per_row = present / rows
    for step in range(1, 33):
        prefix = math.ceil(rows * (0.5 + step / 64))
        if prefix > rows * _LONGEST_PREFIX:
            break
        taken = prefix * present_per_row
        by_pool = taken if math.isinf(pool) else pool * -math.expm1(-taken / pool)
        by_power = _power_estimate(probe[1], probe[0], taken, power)
        if not (math.isfinite(by_pool) and math.isfinite(by_power)):
            return rows  # no prediction: count the whole
        if min(by_pool, by_power) > limit * (1 + _MARGIN):
            return prefix
        if max(by_pool, by_power) + present - taken < limit * (1 - _MARGIN):
            return prefix
    return rows


def _power_estimate(distinct: int, drawn: int, taken: float, power: float) -> float:
    """`distinct * (taken / drawn) ** power`, at most `taken` (a leaf cannot show more
    distinct values than it has values), without overflowing: all arguments positive."""
    growth = power * math.log(taken / drawn)
    if growth >= math.log(taken / distinct):
        return taken
    return distinct * math.exp(growth)


def _present(values: pl.Series) -> int:
    return values.len() - values.null_count()


def _present_and_distinct(values: pl.Series) -> tuple[int, int]:
    return _present(values), _distinct(values)


def _pool_size(distinct: int, drawn: int) -> float:
    """The size of the pool `drawn` uniform draws from which are expected to show
    `distinct` values (infinite when none repeats)."""
    if distinct >= drawn:
        return math.inf
    low, high = float(distinct), float(distinct)
    while high * -math.expm1(-drawn / high) < distinct:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        if middle * -math.expm1(-drawn / middle) < distinct:
            low = middle
        else:
            high = middle
    return high


def _leaves(batch: pl.DataFrame) -> Iterator[tuple[str, pl.Series]]:
    for column in batch.iter_columns():
        yield from _leaf_values(column.name, column)


def _leaf_values(path: str, values: pl.Series) -> Iterator[tuple[str, pl.Series]]:
    dtype = values.dtype
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from _leaf_values(f"{path}.{field.name}", values.struct.field(field.name))
    elif isinstance(dtype, pl.List | pl.Array):
        # pyarrow writes lists in Parquet's compliant three-level form.
        yield from _leaf_values(f"{path}.list.element", values.explode())
    else:
        yield path, values
