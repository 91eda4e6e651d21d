"""SQLite values as the export's types: SQLite stores any value in any column, so each
column of a fetched batch is converted strictly to its declared type (database_source's
docstring says which), and a value that does not fit fails naming the column (and the
row, where one value is at fault), never quoting it; under on_bad_rows "skip" the rows
holding one are left out instead (database_bad_rows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
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


def sqlite_rows(
    rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int], skip_bad: bool
) -> DatabaseRows:
    """The fetched `rows` as a frame (see sqlite_frame); with `skip_bad`, without the
    rows holding a value that does not fit its column's type."""
    if not skip_bad:
        return DatabaseRows(sqlite_frame(rows, schema, positions))
    try:
        return DatabaseRows(sqlite_frame(rows, schema, positions))
    except SourceDataError:
        pass

    def fails(low: int, high: int) -> bool:
        return refuses(lambda: sqlite_frame(rows[low:high], schema, positions))

    dropped = failing_alone(len(rows), fails)
    kept = [rows[index] for index in kept_rows(len(rows), dropped)]
    return DatabaseRows(sqlite_frame(kept, schema, positions), skipped_at(dropped))


def sqlite_frame(
    rows: list[tuple[Any, ...]], schema: pl.Schema, positions: Sequence[int]
) -> pl.DataFrame:
    """A frame of `schema`'s columns, column i from place positions[i] of each row."""
    series = []
    for (name, dtype), index in zip(schema.items(), positions, strict=True):
        values = [row[index] for row in rows]
        if name.startswith(SQLITE_KEY_PREFIX) and dtype == pl.String:
            series.append(encode_sqlite_keys(name, values))
            continue
        try:
            series.append(_sqlite_series(name, values, dtype))
        except (TypeError, ValueError, ArithmeticError, pl.exceptions.PolarsError):
            # SQLite stores any value in any column: name the column, never the value.
            raise SourceDataError(
                f"spec.source: a value of column {name[:64]!r} is not of type {dtype} ({SKIP_HINT})"
            ) from None
    return pl.DataFrame(series)


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
        return _decimals(name, values, dtype)
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


def _decimals(name: str, values: list[Any], dtype: pl.Decimal) -> pl.Series:
    """The values (floats, integers or text as SQLite stores them) as `dtype`; one
    that would be rounded to fit raises UnreadableValue, unless it is a float that
    differs from its rounded value by no more than its last bits (_float_artefact)."""
    exact = pl.Series(name, [None if v is None else Decimal(str(v)) for v in values], strict=True)
    fitted = exact.cast(dtype, strict=False)  # NULL where too large, rounded where too long
    if exact.dtype == pl.Null:
        return fitted
    changed = (fitted.is_null() & exact.is_not_null()) | (fitted.cast(exact.dtype) != exact)
    for row in changed.arg_true():
        if not _float_artefact(values[row], fitted[row]):
            what = _ROUNDED.format(type=f"Decimal({dtype.precision}, {dtype.scale})")
            raise UnreadableValue(name, row, what)
    return fitted


def _float_artefact(stored: Any, rounded: Decimal | None) -> bool:
    """Whether `rounded` is the value SQLite meant by the float `stored`: SQLite keeps a
    DECIMAL(p,s) column's arithmetic as binary floats (0.1+0.2 is 0.30000000000000004,
    1.1*3 is 3.3000000000000003), within two units of the float's last place of the
    decimal of s places (9.999 for 10.00 is not)."""
    if type(stored) is not float or rounded is None or not math.isfinite(stored):
        return False
    return abs(float(rounded) - stored) <= 2 * math.ulp(stored)
