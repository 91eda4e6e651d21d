"""Cursor watermarks for incremental exports.

An incremental export takes the rows whose cursor column is past its parent's watermark
(minus an optional look-back for late rows) and records, as its own watermark, the
largest cursor among the rows it actually exported — taken by the pipeline from the same
batches that were written (pipeline.cursor_values), so no row can slip in between
reading the maximum and the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import polars as pl

from sluice.format.manifest import Watermark
from sluice.server.errors import InvalidArgument, quoted
from sluice.server.pipeline.cursor_values import python_value
from sluice.server.pipeline.redaction.integers import INTEGER_ENTITIES, without_cards
from sluice.server.pipeline.stages import Redactor

_FIELD = "spec.incremental.cursor"


def check_cursor(schema: pl.Schema, column: str) -> pl.DataType:
    """The cursor column's type, if rows can be ordered by it."""
    if not column:
        raise InvalidArgument(_FIELD, "incremental exports need a cursor column or a key")
    if column not in schema:
        raise InvalidArgument(_FIELD, f"unknown column {quoted(column)}")
    dtype = schema[column]
    orderable = dtype.is_numeric() or dtype.is_temporal() or dtype == pl.String
    if not orderable or isinstance(dtype, pl.Duration | pl.Time):
        raise InvalidArgument(
            _FIELD,
            f"{quoted(column)} is {dtype}; a cursor must be a number, date, datetime or text",
        )
    return dtype


def check_cursor_redaction(cursor: str, redactor: Redactor) -> None:
    """Refuse a cursor column whose values redaction may rewrite (`redactor`: the
    export's redaction bound to a schema holding the cursor). The watermark is the
    largest cursor value as read, before redaction (the next increment filters the
    source with it), and it is recorded in the manifest, `export list` and the next
    export's `incremental.since` in clear: of a redacted column, that is one value the
    export promised to hide. A column rule that rewrites it, or content patterns (which
    read every text column no rule claims), are known here; an integer cursor is only
    checked for card numbers once its watermark is known (watermark_hides_a_card)."""
    check_recorded_column(
        cursor,
        redactor,
        _FIELD,
        "its watermark (the largest value, which the next increment starts from)",
        "pick a cursor column redaction keeps (such as an updated_at timestamp or an id)",
    )


def check_recorded_column(
    column: str, redactor: Redactor, field: str, recorded: str, instead: str
) -> None:
    """Refuse `column` (named by request `field`) when redaction may rewrite its values
    while the export records some of them in clear (`recorded`: which, and why)."""
    if not column:
        return
    columns = redactor.describe().get("columns")
    claimed = columns.get(column) if isinstance(columns, Mapping) else None
    if isinstance(claimed, Mapping):
        if claimed.get("action") in {None, "keep"}:
            return
        raise InvalidArgument(
            field,
            f"{quoted(column)} is changed by redaction rule {quoted(str(claimed.get('rule')))} "
            f"({claimed.get('action')}), but {recorded} would be recorded as read, in clear; "
            f"{instead}, or keep this one with a rule (action keep)",
        )
    if redactor.content_checks(column) == "text":
        raise InvalidArgument(
            field,
            f"{quoted(column)} is text that the redaction's content patterns read (an email "
            f"or a phone number inside any text is rewritten), but {recorded} would be "
            "recorded as read, in clear; pick a date, datetime or number column, or keep "
            "this one with a rule (action keep)",
        )


def watermark_hides_a_card(plan_checks: str, value: object, dtype: pl.DataType) -> bool:
    """Whether a watermark `value` is an integer the cursor's card check would null
    (`plan_checks`: the redaction's content_checks of the cursor column)."""
    if plan_checks not in INTEGER_ENTITIES or not isinstance(value, int):
        return False
    one = pl.DataFrame({"v": pl.Series([value], dtype=dtype)})
    return one.select(without_cards(pl.col("v"), dtype)).item() is None


def past_watermark(
    watermark: Watermark | None, dtype: pl.DataType, lookback: timedelta | None
) -> pl.Expr | None:
    """Rows strictly after the watermark (or after watermark - lookback), or None for all."""
    if watermark is None or watermark.value is None:
        return None
    bound = python_value(watermark.value, dtype)
    if lookback:
        if not dtype.is_temporal():
            raise InvalidArgument("spec.incremental.lookback", "needs a date or datetime cursor")
        bound = bound - lookback
    literal = (
        pl.lit(bound, dtype=dtype)
        if not isinstance(bound, datetime)
        else _datetime_literal(bound, dtype)
    )
    column = pl.col(watermark.column)
    # With a look-back, rows at the boundary are re-sent on purpose (deduplicated by key).
    return column >= literal if lookback else column > literal


def _datetime_literal(value: datetime, dtype: pl.DataType) -> pl.Expr:
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_zone is None:
        return pl.lit(value.replace(tzinfo=None)).cast(pl.Datetime(dtype.time_unit))
    return pl.lit(value).dt.convert_time_zone(dtype.time_zone).cast(dtype)
