"""Incremental cursor values as the pipeline computes them: the largest cursor of each
chunk, JSON-safe (ISO-8601 text for dates and times, a number, or text), so it can be
journalled with the chunk and become the export's watermark.

Values keep the column's full precision: a nanosecond datetime is written with nine
fractional digits (Python's datetime, and so Series.max(), stops at microseconds, and a
watermark cut to the microsecond re-sends that microsecond's rows on every run), and a
Decimal as its text (JSON numbers are floats to most readers). Older manifests' values
(six digits at most) read as before.

NaN and infinities are never a watermark: a NaN compares with nothing (its rows would
be sent on every run), and an infinity, besides not being JSON, ends the chain (nothing
is ever past it). Rows with such cursors are exported like the others; the watermark is
the largest finite value."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

#: A cursor value as JSON holds it: ISO-8601 text for dates and times, a number, or text.
CursorValue = str | int | float | None

#: Units of a Polars datetime per second.
_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EPOCH = datetime(1970, 1, 1)
#: "…HH:MM:SS" then an optional fraction, then an optional offset.
_FRACTION = re.compile(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$")


def batch_maximum(batch: pl.DataFrame, column: str) -> Any:
    """The largest cursor in a batch, as a JSON-safe value (None for an empty batch, or
    one without a finite, non-null cursor)."""
    if batch.height == 0:
        return None
    values = batch.get_column(column)
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        largest = values.to_physical().max()
        return None if largest is None else datetime_text(int(largest), dtype)  # type: ignore[arg-type]
    if dtype.is_float():
        values = values.filter(values.is_finite())
    largest = values.max()
    if isinstance(largest, Decimal):
        return format(largest, "f")  # positional: never "1E-10" nor "0E-10"
    if isinstance(largest, date):
        return largest.isoformat()
    return largest


def later(left: Any, right: Any, dtype: pl.DataType) -> Any:
    """The later of two JSON-safe cursor values (either may be None)."""
    if left is None:
        return right
    if right is None:
        return left
    return left if order_key(left, dtype) >= order_key(right, dtype) else right


def order_key(value: Any, dtype: pl.DataType) -> Any:
    """A JSON-safe cursor value as something that orders exactly as the column does."""
    if isinstance(dtype, pl.Datetime):
        return epoch_nanoseconds(str(value), dtype)
    return python_value(value, dtype)


def python_value(value: Any, dtype: pl.DataType) -> Any:
    """A JSON-safe cursor value back as the Python value of a column of `dtype`
    (a datetime stops at the microsecond: order_key and datetime_bound keep all digits)."""
    if isinstance(dtype, pl.Datetime):
        nanoseconds = epoch_nanoseconds(str(value), dtype)
        moment = _EPOCH + timedelta(microseconds=nanoseconds // 1000)
        return moment.replace(tzinfo=UTC) if dtype.time_zone else moment
    if isinstance(dtype, pl.Date):
        return date.fromisoformat(str(value))
    if isinstance(dtype, pl.Decimal):
        return Decimal(str(value))
    return value


def is_finite(value: Any) -> bool:
    """Whether a cursor value can be a watermark (not NaN, not an infinity)."""
    return not isinstance(value, float) or math.isfinite(value)


def datetime_text(physical: int, dtype: pl.Datetime) -> str:
    """ISO-8601 text of a datetime column's physical value (`dtype`'s units since the
    epoch), in the column's time zone, with every digit it holds: six fractional digits
    (as Python writes them) for milli- and microseconds, nine for nanoseconds."""
    per_second = _PER_SECOND[dtype.time_unit or "us"]
    seconds, fraction = divmod(physical, per_second)
    whole = pl.Series([seconds * per_second], dtype=pl.Int64).cast(dtype).item()
    text = whole.isoformat()
    if not fraction:
        return str(text)
    digits = 9 if per_second == 1_000_000_000 else 6
    fraction_text = str(fraction * 10**digits // per_second).rjust(digits, "0")
    return f"{text[:19]}.{fraction_text}{text[19:]}"


def epoch_nanoseconds(text: str, dtype: pl.Datetime) -> int:
    """Nanoseconds since the epoch of a datetime watermark's text, any number of
    fractional digits. Text without an offset is wall time for a column without a time
    zone, UTC for one with; an offset on a column without one is ignored (wall time)."""
    match = _FRACTION.fullmatch(text)
    if match is None:
        moment = datetime.fromisoformat(text)
        digits = ""
    else:
        moment = datetime.fromisoformat(match.group(1) + match.group(3))
        digits = (match.group(2) or "")[:9]
    if moment.tzinfo is not None:
        moment = (
            moment.astimezone(UTC).replace(tzinfo=None)
            if dtype.time_zone
            else moment.replace(tzinfo=None)
        )
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * 1_000_000_000 + delta.microseconds * 1000 + int(digits.ljust(9, "0"))


def datetime_bound(text: str, dtype: pl.Datetime, lookback: timedelta | None) -> int:
    """The physical value (`dtype`'s units) to compare a datetime column with: rows
    strictly past the watermark are those `> bound` (no look-back); rows at or past the
    watermark minus `lookback`, those `>= bound`. Exact when the watermark holds more
    digits than the column (rounded the way each comparison needs)."""
    nanoseconds = epoch_nanoseconds(text, dtype)
    per_unit = 1_000_000_000 // _PER_SECOND[dtype.time_unit or "us"]
    if lookback:
        nanoseconds -= lookback // timedelta(microseconds=1) * 1000
        return -(-nanoseconds // per_unit)  # ceiling: the first value at or past it
    return nanoseconds // per_unit  # floor: values above it are past the watermark
