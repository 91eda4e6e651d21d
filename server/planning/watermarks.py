"""Cursor watermarks for incremental exports.

An incremental export takes the rows whose cursor column is past its parent's watermark
(minus an optional look-back for late rows) and records, as its own watermark, the
largest cursor among the rows it actually exported — taken by the pipeline from the same
batches that were written (pipeline.cursor_values), so no row can slip in between
reading the maximum and the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

import polars as pl

from sluice.format.manifest import Watermark
from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.pipeline.cursor_values import datetime_bound, is_finite, python_value
from sluice.server.pipeline.redaction.integers import (
    INTEGER_ENTITIES,
    may_hold_cards,
    without_cards,
)
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
    """Whether a watermark `value` (JSON-safe: a whole decimal is its text) is one the
    cursor's card check would null (`plan_checks`: the redaction's content_checks of the
    cursor column): checked as a one-row column of the cursor's own type, for every type
    the check reads (wide integers, whole decimals)."""
    if plan_checks not in INTEGER_ENTITIES or value is None or not may_hold_cards(dtype):
        return False
    one = pl.DataFrame({"v": pl.Series([python_value(value, dtype)], dtype=dtype)})
    return one.select(without_cards(pl.col("v"), dtype)).item() is None


def past_watermark(
    watermark: Watermark | None, dtype: pl.DataType, lookback: timedelta | None
) -> pl.Expr | None:
    """Rows strictly after the watermark (or at or after watermark - lookback), or None
    for all. Compared in the column's own type and unit, with every digit the watermark
    holds (a nanosecond datetime, a Decimal). A float cursor that is NaN or infinite is
    never past a watermark (a NaN would be sent again by every increment, +inf too as
    the watermark stays finite): like a null one, only a full export sends its row."""
    if watermark is None or watermark.value is None:
        return None
    if not is_finite(watermark.value):
        # Written by an earlier version; nothing is past +inf, and everything is "past"
        # neither NaN nor -inf in a way the chain could continue from.
        raise FailedPrecondition(
            f"the parent export's watermark of {quoted(watermark.column)} is "
            f"{watermark.value}, which no row can follow; start a new chain with a full "
            "export (--mode full)"
        )
    if lookback and not dtype.is_temporal():
        raise InvalidArgument("spec.incremental.lookback", "needs a date or datetime cursor")
    column = pl.col(watermark.column)
    literal: pl.Expr
    if isinstance(dtype, pl.Datetime):
        bound = datetime_bound(str(watermark.value), dtype, lookback)
        literal = pl.lit(bound, dtype=pl.Int64).cast(dtype)
    elif isinstance(dtype, pl.Decimal):
        literal = pl.lit(decimal_bound(watermark, dtype), dtype=dtype)
    else:
        value = python_value(watermark.value, dtype)
        if lookback:
            value = value - lookback
        literal = pl.lit(value, dtype=dtype)
    # With a look-back, rows at the boundary are re-sent on purpose (deduplicated by key).
    past = column >= literal if lookback else column > literal
    return past & column.is_finite() if dtype.is_float() else past


def decimal_bound(watermark: Watermark, dtype: pl.Decimal) -> Decimal:
    """A Decimal watermark at the column's scale, for `column > bound` (a look-back needs
    a date or datetime cursor): rounded down, so a watermark with more digits than the
    column (its parent read the column at a larger scale) neither loses the rows just
    above it nor re-sends those at or below it. A watermark the column cannot hold (more
    integer digits than its precision allows) is refused before any row is read."""
    scale = dtype.scale or 0
    try:
        value = Decimal(str(watermark.value))
        bound = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_FLOOR)
    except InvalidOperation:
        bound = None  # not a number, or more digits than the decimal context holds
    precision = dtype.precision or 38
    if bound is None or abs(bound) >= Decimal(10) ** (precision - scale):
        raise FailedPrecondition(
            f"the parent export's watermark of {quoted(watermark.column)} does not fit the "
            f"column, now {dtype}; start a new chain with a full export (--mode full)"
        )
    return bound


def unsent_cursor(column: str, dtype: pl.DataType) -> pl.Expr:
    """Rows no increment sends, whatever its watermark: a null cursor (or a float one
    that is NaN or infinite, see past_watermark)."""
    cursor = pl.col(column)
    return cursor.is_null() | ~cursor.is_finite() if dtype.is_float() else cursor.is_null()
