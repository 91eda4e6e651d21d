"""The values of a later file's column whose type is narrower than the plan's only in
form, checked as its batches are converted: nanoseconds where the plan has microseconds
(pandas and Spark write nanoseconds, pyarrow microseconds), floats where it has integers
(pandas writes an integer column with a missing value as floats), integers where it has
floats beyond the float's mantissa. Such a file is exported when every value converts
exactly; a value that would change fails it (FAILED_PRECONDITION) naming the file and
the column, never the value. What later_file_schemas accepts on these terms."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from sluice.server.errors import quoted
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


def checkable(have: pl.DataType, planned: pl.DataType) -> bool:
    """Whether a column of type `have` converts to `planned` exactly when its values
    say so (a coarser time unit, floats as integers, integers as floats)."""
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
            if _changes(series, planned):
                raise SourceDataError(
                    f"{self.file}: column {quoted(name)} is {series.dtype} in this file "
                    f"and {planned} in the export, and some of its values would be cut "
                    "or changed; the export stops at this file"
                )


def _changes(series: pl.Series, planned: pl.DataType) -> bool:
    have = series.dtype
    values = series.drop_nulls()
    if values.is_empty():
        return False
    if isinstance(have, pl.Datetime | pl.Duration):
        steps = TIME_UNITS.index(have.time_unit or "us")
        unit = planned.time_unit if isinstance(planned, pl.Datetime | pl.Duration) else None
        steps -= TIME_UNITS.index(unit or "us")
        return bool((values.to_physical() % (1000**steps) != 0).any())
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
