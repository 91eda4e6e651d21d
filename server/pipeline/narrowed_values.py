"""The values of a later file's column whose type is narrower than the plan's only in
form, checked as its batches are converted: nanoseconds where the plan has microseconds
(pandas and Spark write nanoseconds, pyarrow microseconds), floats where it has integers
(pandas writes an integer column with a missing value as floats), integers where it has
floats beyond the float's mantissa; and times in a finer unit than the file's
(microseconds where the plan has nanoseconds), which hold a shorter span of time: a
"9999-12-31" end-of-time marker in microseconds is past what nanoseconds hold. Such a
file is exported when every value converts exactly; a value that would change fails it
(FAILED_PRECONDITION) naming the file and the column, never the value (a time beyond
the finer unit's span: naming that span). What later_file_schemas accepts on these
terms."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from sluice.server.errors import quoted, quoted_list
from sluice.server.pipeline.bad_rows import SourceDataError

SIGNED: dict[pl.DataType, int] = {pl.Int8(): 8, pl.Int16(): 16, pl.Int32(): 32, pl.Int64(): 64}
UNSIGNED: dict[pl.DataType, int] = {
    pl.UInt8(): 8,
    pl.UInt16(): 16,
    pl.UInt32(): 32,
    pl.UInt64(): 64,
}
_FLOATS = (pl.Float32(), pl.Float64())
#: Integers a float holds exactly: up to 2 to the power of its mantissa's bits.
MANTISSA: dict[pl.DataType, int] = {pl.Float32(): 24, pl.Float64(): 53}
TIME_UNITS = ("ms", "us", "ns")


def finer_unit(have: pl.DataType, planned: pl.DataType) -> bool:
    """Whether `planned` is the time type `have` is, in a finer unit (whose 64 bits hold
    a shorter span: nanoseconds from 1677 to 2262)."""
    if isinstance(have, pl.Datetime) and isinstance(planned, pl.Datetime):
        if (have.time_zone is None) != (planned.time_zone is None):
            return False
    elif not (isinstance(have, pl.Duration) and isinstance(planned, pl.Duration)):
        return False
    return _steps(have, planned) < 0


def finer_paths(have: pl.DataType, planned: pl.DataType, path: str = "") -> list[str]:
    """Where inside a list, array or struct of type `have` a time is planned in a finer
    unit (finer_unit), as paths below the column ("[]" a list's or array's items, ".f" a
    struct's field f); empty when nowhere (or when `have` holds other fields)."""
    if path and finer_unit(have, planned):
        return [path]
    if isinstance(have, pl.List | pl.Array) and isinstance(planned, pl.List | pl.Array):
        inner, planned_inner = have.inner, planned.inner
        if isinstance(inner, pl.DataType) and isinstance(planned_inner, pl.DataType):
            return finer_paths(inner, planned_inner, f"{path}[]")
    if isinstance(have, pl.Struct) and isinstance(planned, pl.Struct):
        planned_fields = {field.name: field.dtype for field in planned.fields}
        paths = []
        for field in have.fields:
            planned_field = planned_fields.get(field.name)
            if isinstance(field.dtype, pl.DataType) and isinstance(planned_field, pl.DataType):
                paths += finer_paths(field.dtype, planned_field, f"{path}.{field.name}")
        return paths
    return []


def checkable(have: pl.DataType, planned: pl.DataType) -> bool:
    """Whether a column of type `have` converts to `planned` exactly when its values
    say so (a coarser or finer time unit, floats as integers, integers as floats)."""
    if finer_unit(have, planned):
        return True
    if isinstance(have, pl.Datetime) and isinstance(planned, pl.Datetime):
        return (have.time_zone is None) == (planned.time_zone is None) and _coarser(
            have.time_unit, planned.time_unit
        )
    if isinstance(have, pl.Duration) and isinstance(planned, pl.Duration):
        return _coarser(have.time_unit, planned.time_unit)
    integer = planned in SIGNED or planned in UNSIGNED
    if have in _FLOATS and integer:
        return True
    return (have in SIGNED or have in UNSIGNED) and planned in MANTISSA


def _coarser(have: str | None, planned: str | None) -> bool:
    return TIME_UNITS.index(planned or "us") < TIME_UNITS.index(have or "us")


class NarrowedColumns:
    """The columns of one `file` whose values are checked, each with its planned type."""

    def __init__(self, file: str, planned: Mapping[str, pl.DataType]) -> None:
        self.file = file
        self.planned = dict(planned)

    def verify(self, frame: pl.DataFrame) -> None:
        """Raise SourceDataError if a value of `frame` (the file's types) would change
        when converted to the plan's."""
        for name, planned in self.planned.items():
            if name not in frame.columns:
                continue
            series = frame.get_column(name)
            if finer_unit(series.dtype, planned):
                if _beyond(series, planned):
                    raise SourceDataError(
                        f"{self.file}: column {quoted(name)} is {series.dtype} in this "
                        f"file and {planned} in the export, and some of its values are "
                        f"outside what {planned} holds ({_span(planned)}); the export "
                        "stops at this file"
                    )
            elif finer_paths(series.dtype, planned):
                if not _converts(series, planned):
                    inside = quoted_list([name + p for p in finer_paths(series.dtype, planned)])
                    raise SourceDataError(
                        f"{self.file}: column {quoted(name)} is {series.dtype} in this "
                        f"file and {planned} in the export, and some of its times ({inside}) "
                        "are outside what the export's finer unit holds; the export stops "
                        "at this file"
                    )
            elif _changes(series, planned):
                raise SourceDataError(
                    f"{self.file}: column {quoted(name)} is {series.dtype} in this file "
                    f"and {planned} in the export, and some of its values would be cut "
                    "or changed; the export stops at this file"
                )


def _steps(have: pl.Datetime | pl.Duration, planned: pl.Datetime | pl.Duration) -> int:
    """Thousands from `planned`'s unit to `have`'s (negative: `planned`'s is finer)."""
    return TIME_UNITS.index(have.time_unit or "us") - TIME_UNITS.index(planned.time_unit or "us")


def _beyond(series: pl.Series, planned: pl.DataType) -> bool:
    """Whether a time of `series` is past the span of `planned`'s finer unit."""
    have = series.dtype
    assert isinstance(have, pl.Datetime | pl.Duration)
    assert isinstance(planned, pl.Datetime | pl.Duration)
    factor = 1000 ** -_steps(have, planned)
    values = series.drop_nulls().to_physical()
    return bool(((values > (2**63 - 1) // factor) | (values < -(2**63 // factor))).any())


#: A time unit's steps per day.
_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _span(planned: pl.DataType) -> str:
    """The span of a finer time type: its first and last instant (nanoseconds), else in
    days (Polars panics writing instants before year -262143 as text)."""
    assert isinstance(planned, pl.Datetime | pl.Duration)
    unit = planned.time_unit or "us"
    if isinstance(planned, pl.Datetime) and unit == "ns":
        ends = pl.Series([-(2**63), 2**63 - 1], dtype=pl.Int64).cast(pl.Datetime("ns"))
        first, last = ends.cast(pl.String).to_list()
        return f"{first} to {last} UTC"
    days = f"{(2**63 - 1) // _PER_DAY[unit]:,} days"
    if isinstance(planned, pl.Datetime):
        return f"{days} either side of 1970-01-01"
    return f"-{days} to {days}"


def _converts(series: pl.Series, planned: pl.DataType) -> bool:
    """Whether a list, array or struct converts to `planned` without a time left out of
    its finer unit's span (Polars' error, which quotes the value, is not kept)."""
    try:
        series.cast(planned, strict=True)
    except pl.exceptions.InvalidOperationError:
        return False
    return True


def _changes(series: pl.Series, planned: pl.DataType) -> bool:
    have = series.dtype
    values = series.drop_nulls()
    if values.is_empty():
        return False
    if isinstance(have, pl.Datetime | pl.Duration):
        assert isinstance(planned, pl.Datetime | pl.Duration)
        return bool((values.to_physical() % (1000 ** _steps(have, planned)) != 0).any())
    if have in _FLOATS:
        if planned in SIGNED:
            low, high = -(2 ** (SIGNED[planned] - 1)), 2 ** (SIGNED[planned] - 1)
        else:
            low, high = 0, 2 ** UNSIGNED[planned]
        values = values.cast(pl.Float64)
        # NaN and infinities fail every comparison below but the first.
        outside = ~values.is_finite() | (values < float(low)) | (values >= float(high))
        return bool((outside | (values != values.floor())).any())
    bound = 2 ** MANTISSA[planned]
    if have in UNSIGNED:
        return bool((values > bound).any())
    return bool(((values > bound) | (values < -bound)).any())
