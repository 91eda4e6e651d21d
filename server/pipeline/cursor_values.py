"""Incremental cursor values as the pipeline computes them: the largest cursor of each
chunk, JSON-safe (ISO-8601 text for dates and times, a number, or text), so it can be
journalled with the chunk and become the export's watermark."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

#: A cursor value as JSON holds it: ISO-8601 text for dates and times, a number, or text.
CursorValue = str | int | float | None


def batch_maximum(batch: pl.DataFrame, column: str) -> Any:
    """The largest cursor in a batch, as a JSON-safe value (None for an empty batch)."""
    if batch.height == 0:
        return None
    return _json_value(batch.get_column(column).max())


def later(left: Any, right: Any, dtype: pl.DataType) -> Any:
    """The later of two JSON-safe cursor values (either may be None)."""
    if left is None:
        return right
    if right is None:
        return left
    return left if python_value(left, dtype) >= python_value(right, dtype) else right


def python_value(value: Any, dtype: pl.DataType) -> Any:
    """A JSON-safe cursor value back as the Python value of a column of `dtype`."""
    if isinstance(dtype, pl.Datetime):
        return datetime.fromisoformat(str(value))
    if isinstance(dtype, pl.Date):
        return date.fromisoformat(str(value))
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
