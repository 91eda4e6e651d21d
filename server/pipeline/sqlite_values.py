"""SQLite values as the export's types: SQLite stores any value in any column, so each
column of a fetched batch is converted strictly to its declared type (database_source's
docstring says which), and a value that does not fit fails naming the column (and the
row, where one value is at fault), never quoting it; under on_bad_rows "skip" the rows
holding one are left out instead (database_bad_rows)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import polars as pl

from sluice.server.pipeline.bad_rows import SKIP_HINT, SourceDataError
from sluice.server.pipeline.database_bad_rows import (
    DatabaseRows,
    failing_alone,
    kept_rows,
    refuses,
    skipped_at,
)
from sluice.server.pipeline.database_keys import SQLITE_KEY_PREFIX, encode_sqlite_keys
from sluice.server.pipeline.database_values import UnreadableValue
from sluice.server.pipeline.sqlite_decimals import fitted_decimals

_CONVERSION_ERRORS = (TypeError, ValueError, ArithmeticError, pl.exceptions.PolarsError)


def sqlite_rows(
    rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int], skip_bad: bool
) -> DatabaseRows:
    """The fetched `rows` as a frame (see sqlite_frame); with `skip_bad`, without the
    rows holding a value that does not fit its column's type: those a loose conversion
    of each column turns into NULL and that fail alone (one pass per column; for times
    and dates, one conversion per such value), then those a halving search finds among the rest (a
    value the loose conversion kept, such as a float an integer column truncates)."""
    if not skip_bad:
        return DatabaseRows(sqlite_frame(rows, schema, positions))
    try:
        return DatabaseRows(sqlite_frame(rows, schema, positions))
    except SourceDataError:
        pass
    dropped = _failing_values(rows, schema, positions)
    kept = [rows[index] for index in kept_rows(len(rows), dropped)]
    try:
        return DatabaseRows(sqlite_frame(kept, schema, positions), skipped_at(dropped))
    except SourceDataError:
        pass

    def fails(low: int, high: int) -> bool:
        return refuses(lambda: sqlite_frame(kept[low:high], schema, positions))

    places = kept_rows(len(rows), dropped)
    dropped = sorted([*dropped, *(places[index] for index in failing_alone(len(kept), fails))])
    kept = [rows[index] for index in kept_rows(len(rows), dropped)]
    try:
        return DatabaseRows(sqlite_frame(kept, schema, positions), skipped_at(dropped))
    except SourceDataError:
        raise SourceDataError(_apart(kept, schema, positions)) from None


def sqlite_frame(
    rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int]
) -> pl.DataFrame:
    """A frame of `schema`'s columns, column i from place positions[i] of each row."""
    series = []
    for (name, dtype), index in zip(schema.items(), positions, strict=True):
        values = [row[index] for row in rows]
        if name.startswith(SQLITE_KEY_PREFIX) and dtype == pl.String:
            series.append(encode_sqlite_keys(name, values))
        else:
            series.append(_column(name, values, dtype))
    return pl.DataFrame(series)


def _column(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """The values as `dtype`; SourceDataError (naming the column, never the value) when
    one does not fit, and UnreadableValue for a value that became NULL."""
    try:
        series = _sqlite_series(name, values, dtype)
    except _CONVERSION_ERRORS:
        # SQLite stores any value in any column: name the column, never the value.
        raise SourceDataError(
            f"spec.source: a value of column {name[:64]!r} is not of type {dtype} ({SKIP_HINT})"
        ) from None
    if series.null_count() != values.count(None):
        row = next(r for r, v in enumerate(series) if v is None and values[r] is not None)
        raise UnreadableValue(name, row, f"a value that does not convert to {dtype}")
    return series


def _failing_values(
    rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int]
) -> list[int]:
    """The rows (ascending) holding a value that a loose conversion of its column turns
    into NULL and that fails alone (a value a strict conversion refuses alone is one a
    loose one nulls, but for times and dates, whose format the first one sets)."""
    failing: set[int] = set()
    for (name, dtype), index in zip(schema.items(), positions, strict=True):
        if name.startswith(SQLITE_KEY_PREFIX) and dtype == pl.String:
            continue
        values = [row[index] for row in rows]
        suspects = _suspects(name, values, dtype)
        if not isinstance(dtype, pl.Datetime | pl.Date):
            failing.update(suspects)  # a value a loose conversion nulls fails alone
            continue
        # A time parsed in the format of the column's first one: another may fit alone.
        failing.update(
            row
            for row in suspects
            if row not in failing and refuses(partial(_column, name, [values[row]], dtype))
        )
    return sorted(failing)


def _suspects(name: str, values: list[Any], dtype: pl.DataType) -> list[int]:
    """The indices of values that may not fit `dtype` (all of those that fail alone, and
    maybe others: times in another format than the first one's)."""
    if isinstance(dtype, pl.Decimal):
        return fitted_decimals(values, dtype)[1]
    odd = [False] * len(values)
    if isinstance(dtype, pl.Datetime | pl.Date):
        odd = [v is not None and not isinstance(v, str) for v in values]
        text = pl.Series(name, [None if o else v for o, v in zip(odd, values, strict=True)])
        try:
            if isinstance(dtype, pl.Datetime):
                loose = text.cast(pl.String).str.to_datetime(time_unit="us", strict=False)
            else:
                loose = text.cast(pl.String).str.to_date(strict=False)
        except _CONVERSION_ERRORS:
            return list(range(len(values)))
    else:
        if isinstance(dtype, pl.Float64):  # an integer a float would round
            odd = [type(v) is int and float(v) != v for v in values]
        try:
            loose = pl.Series(name, values, dtype=dtype, strict=False)
        except _CONVERSION_ERRORS:
            return list(range(len(values)))
    nulled = loose.is_null().to_list()
    return [r for r, v in enumerate(values) if v is not None and (odd[r] or nulled[r])]


def _apart(rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int]) -> str:
    """What is wrong with rows whose values each convert alone but not together."""
    for (name, dtype), index in zip(schema.items(), positions, strict=True):
        if refuses(partial(_column, name, [row[index] for row in rows], dtype)):
            break
    return (
        f"spec.source: the values of column {name[:64]!r} convert to {dtype} each alone "
        "but not together (mixed formats, such as times with and without a zone offset); "
        "read it as text (CAST(column AS TEXT)) in spec.source.query, or leave the "
        "column out"
    )


def _sqlite_series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    if isinstance(dtype, pl.Datetime):
        if any(isinstance(v, int | float) for v in values):
            raise ValueError("epoch numbers in a timestamp column")
        text = pl.Series(name, values, dtype=pl.String, strict=True)
        parsed = text.str.to_datetime(time_unit="us")
        zone = parsed.dtype.time_zone if isinstance(parsed.dtype, pl.Datetime) else None
        if dtype.time_zone is None:
            return parsed.dt.replace_time_zone(None) if zone else parsed
        if zone:
            return parsed.dt.convert_time_zone("UTC")
        return parsed.dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Date):
        return pl.Series(name, values, dtype=pl.String, strict=True).str.to_date()
    if isinstance(dtype, pl.Decimal):
        fitted, unfit = fitted_decimals(values, dtype)
        if unfit:
            what = _ROUNDED.format(type=f"Decimal({dtype.precision}, {dtype.scale})")
            raise UnreadableValue(name, unfit[0], what)
        return pl.Series(name, fitted, dtype=dtype, strict=True)
    if isinstance(dtype, pl.Float64):
        # An integer in a float column (NUMERIC without a precision, a query's column
        # typed by its first value): past 2^53 a float would round it.
        rounded = next((r for r, v in enumerate(values) if type(v) is int and float(v) != v), None)
        if rounded is not None:
            raise UnreadableValue(name, rounded, _ROUNDED.format(type="a float"))
        values = [float(v) if type(v) is int else v for v in values]
    return pl.Series(name, values, dtype=dtype, strict=True)


_ROUNDED = (
    "a value that {type} cannot hold without rounding; read it as text "
    "(CAST(column AS TEXT)) in spec.source.query, or leave the column out"
)
