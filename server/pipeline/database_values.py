"""Values a database hands over that the export's Arrow types cannot hold as they are:
found in each record batch with Arrow compute (no Python object per value) and refused
naming the column and the row, never quoting the value.

A silent change is the one thing an export must not do, so these fail the export (a
SourceDataError, as any value that does not fit its type) with a hint of the query that
reads them in a form that fits; under on_bad_rows "skip" their rows are left out instead,
and counted (database_bad_rows):

- PostgreSQL 'infinity' and '-infinity' timestamps and dates. The driver adds the
  2000-01-01 epoch to PostgreSQL's sentinels (the largest and smallest int64 / int32)
  and they wrap around: infinity came out as a time before -infinity, both far before
  the earliest time PostgreSQL holds (4714 BC). So does any time after the year 294246,
  which no int64 of microseconds since 1970 holds. Any value before 4714 BC is one of
  these.
- DuckDB's infinities: the largest and smallest numbers of their types (±(2^63 - 1)
  for timestamps of any unit, ±(2^31 - 1) days for dates).
- time '24:00:00' (both databases allow it): past any time of day Arrow holds (Polars
  turned it into NULL).
- Decimals with more digits than their precision: DuckDB's HUGEINT is read as
  decimal128(38, 0), which holds 38 digits while a HUGEINT has up to 39.

Values inside lists, arrays, structs and maps are checked too; the row named is the row
holding them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import reduce
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.bad_rows import SKIP_HINT, SourceDataError

#: PostgreSQL's earliest timestamp (4714-11-24 00:00 BC) in microseconds since 1970 and
#: its earliest date in days since 1970: anything before it is a wrapped sentinel.
_PG_FIRST_MICROS = -210_866_803_200_000_000
_PG_FIRST_DAY = -2_440_588
_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1
_DAY_SECONDS = 86_400
_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


class UnreadableValue(SourceDataError):
    """A value of `column` in row `row` (0-based, of the batch checked) that the export
    cannot hold; `at(first_row)` is the error with the row counted in the whole read."""

    def __init__(self, column: str, row: int, what: str) -> None:
        self.column, self.row, self.what = column, row, what
        super().__init__(self._text("a row"))

    def at(self, first_row: int) -> SourceDataError:
        """The error naming the row by its place in the read (1-based), `first_row`
        being the read position of the batch's first row."""
        return SourceDataError(self._text(f"row {first_row + self.row + 1}"))

    def _text(self, where: str) -> str:
        return f"spec.source: column {self.column[:64]!r}, {where}: {self.what} ({SKIP_HINT})"


def infinite(column: str) -> str:
    """What is wrong with an infinite time or date, and how to read the column."""
    return (
        "'infinity', '-infinity' or a time past what a timestamp holds, which the export "
        f"cannot write; read it with CASE WHEN isfinite({column[:64]}) THEN "
        f"{column[:64]} END (or a COALESCE) in spec.source.query, or leave the column out"
    )


def past_midnight(column: str) -> str:
    return (
        "24:00:00, past any time of day the export can write; read it as text "
        f"(CAST({column[:64]} AS VARCHAR)) in spec.source.query, or leave the column out"
    )


def too_many_digits(column: str, precision: int) -> str:
    return (
        f"a number of more than {precision} digits, which its type (decimal128({precision}, "
        f"…)) cannot hold; read it as text (CAST({column[:64]} AS VARCHAR)) in "
        "spec.source.query, or leave the column out"
    )


#: A check of one leaf array: None (a type not checked), or its values (as numbers),
#: the lowest and highest the export can hold (None: no bound) and what the others are.
_Bounds = tuple[Any, Any, Any, str]
_Rule = Callable[[Any, str], _Bounds | None]


def check_postgres(batch: Any) -> None:
    """Raise UnreadableValue for the first value of a batch from ADBC's PostgreSQL
    driver that the export cannot hold (see the module's docstring)."""
    _check(batch, _postgres_rule)


def check_duckdb(batch: Any) -> None:
    """Raise UnreadableValue for the first value of a DuckDB batch that the export
    cannot hold (see the module's docstring)."""
    _check(batch, _duckdb_rule)


def postgres_refusals(batch: Any) -> Any | None:
    """A boolean array of the rows of a PostgreSQL batch holding a value the export
    cannot hold, or None when no row does (on_bad_rows "skip" leaves them out)."""
    return _refusals(batch, _postgres_rule)


def duckdb_refusals(batch: Any) -> Any | None:
    """As postgres_refusals, for a DuckDB batch."""
    return _refusals(batch, _duckdb_rule)


def _check(batch: Any, rule: _Rule) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        flagged = _flagged(column, name, rule)
        found = [(pc.index(mask, True).as_py(), what) for mask, what in flagged]
        if found:
            row, what = min(found)
            raise UnreadableValue(name, row, what)


def _refusals(batch: Any, rule: _Rule) -> Any | None:
    masks = [
        mask
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
        for mask, _ in _flagged(column, name, rule)
    ]
    return reduce(pc.or_, masks) if masks else None


def _flagged(array: Any, name: str, rule: _Rule) -> list[tuple[Any, str]]:
    """(mask of the rows of `array` holding such a value, what it is) for each leaf of
    `array`, at any depth, that holds one; [] when none does (the usual case: one
    min_max per leaf, and masks only for a leaf out of bounds)."""
    kind = array.type
    if pa.types.is_map(kind):
        array = _entries(array)
        kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        inner = _flagged(array.flatten(), name, rule)
        return [(_holding_rows(array, mask), what) for mask, what in inner]
    if pa.types.is_struct(kind):
        return [found for child in array.flatten() for found in _flagged(child, name, rule)]
    bounds = rule(array, name)
    if bounds is None:
        return []
    values, lowest, highest, what = bounds
    extremes = pc.min_max(values).as_py()
    low = lowest is not None and extremes["min"] is not None and extremes["min"] < lowest
    high = highest is not None and extremes["max"] is not None and extremes["max"] > highest
    if not (low or high):
        return []
    masks = []
    if low:
        masks.append(pc.less(values, pa.scalar(lowest, values.type)))
    if high:
        masks.append(pc.greater(values, pa.scalar(highest, values.type)))
    mask = masks[0] if len(masks) == 1 else pc.or_(*masks)
    return [(pc.fill_null(mask, False), what)]


def _entries(array: Any) -> Any:
    """A map array as the list array of its entries, null slots kept (a slot's entries
    are no values when the slot is null)."""
    offsets = array.offsets  # those of the slice, into the whole of `values`
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    return pa.ListArray.from_arrays(
        pc.subtract(offsets, pa.scalar(first, offsets.type)),
        array.values.slice(first, last - first),
        mask=array.is_null() if array.null_count else None,
    )


def _holding_rows(array: Any, flagged: Any) -> Any:
    """The rows of a list array holding a value flagged in `flagged` (a mask of its
    flatten(), which leaves out the values under null slots: list_parent_indices counts
    those of a variable-size list, which named the wrong row)."""
    lengths = pc.fill_null(pc.list_value_length(array), 0).cast(pa.int64())
    ends = pc.cumulative_sum(lengths)
    starts = pc.subtract(ends, lengths)
    # before[k]: the flagged values among the first k.
    counted = pc.cumulative_sum(flagged.cast(pa.int64()))
    before = pa.concat_arrays([pa.array([0], pa.int64()), counted])
    return pc.greater(pc.subtract(pc.take(before, ends), pc.take(before, starts)), 0)


def _postgres_rule(array: Any, name: str) -> _Bounds | None:
    kind = array.type
    if pa.types.is_timestamp(kind):
        first = _PG_FIRST_MICROS * _UNIT_PER_SECOND[kind.unit] // 1_000_000
        return array.view(pa.int64()), first, None, infinite(name)
    if pa.types.is_date32(kind):
        return array.view(pa.int32()), _PG_FIRST_DAY, None, infinite(name)
    return _time_rule(array, name)


def _duckdb_rule(array: Any, name: str) -> _Bounds | None:
    kind = array.type
    if pa.types.is_timestamp(kind):
        # DuckDB's infinities: ±(2^63 - 1) for timestamps of any unit, ±(2^31 - 1) days.
        return array.view(pa.int64()), 1 - _INT64_MAX, _INT64_MAX - 1, infinite(name)
    if pa.types.is_date32(kind):
        return array.view(pa.int32()), 1 - _INT32_MAX, _INT32_MAX - 1, infinite(name)
    if pa.types.is_decimal128(kind):
        # ±(10^precision - 1) at the scale, built exactly (arithmetic would round it to
        # the context's 28 digits).
        nines = (9,) * kind.precision
        lowest, highest = Decimal((1, nines, -kind.scale)), Decimal((0, nines, -kind.scale))
        return array, lowest, highest, too_many_digits(name, kind.precision)
    return _time_rule(array, name)


def _time_rule(array: Any, name: str) -> _Bounds | None:
    kind = array.type
    if pa.types.is_time64(kind) or pa.types.is_time32(kind):
        width = pa.int64() if pa.types.is_time64(kind) else pa.int32()
        day = _DAY_SECONDS * _UNIT_PER_SECOND[kind.unit]
        return array.view(width), None, day - 1, past_midnight(name)
    return None
