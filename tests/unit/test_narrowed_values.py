"""Values of a later file's column narrower than the plan's only in form: a value that
would change when converted fails the file naming the column, never the value."""

from __future__ import annotations

import math

import polars as pl
import pytest

from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.narrowed_values import NarrowedColumns


@pytest.mark.parametrize(
    ("values", "dtype", "planned", "changes"),
    [
        ([30.0, None, -2.0], pl.Float64, pl.Int64, False),
        ([2.5], pl.Float64, pl.Int64, True),
        ([math.nan], pl.Float64, pl.Int64, True),
        ([math.inf], pl.Float64, pl.Int64, True),
        ([2.0**63], pl.Float64, pl.Int64, True),
        ([-(2.0**63)], pl.Float64, pl.Int64, False),
        ([-1.0], pl.Float32, pl.UInt8, True),
        ([255.0], pl.Float32, pl.UInt8, False),
        ([256.0], pl.Float32, pl.UInt8, True),
        ([2**53, -(2**53)], pl.Int64, pl.Float64, False),
        ([2**53 + 1], pl.Int64, pl.Float64, True),
        ([2**64 - 1], pl.UInt64, pl.Float64, True),
        ([-3_000, 5_000], pl.Datetime("ns"), pl.Datetime("us"), False),
        ([-3_001], pl.Datetime("ns"), pl.Datetime("us"), True),
        ([1_000_000], pl.Duration("ns"), pl.Duration("ms"), False),
        ([1_000], pl.Duration("ns"), pl.Duration("ms"), True),
        ([None], pl.Float64, pl.Int8, False),
    ],
)
def test_a_value_that_would_change_fails_naming_the_column_only(
    values: list[object], dtype: pl.DataType, planned: pl.DataType, changes: bool
) -> None:
    source = pl.Series("v", values, dtype=pl.Int64 if dtype.is_temporal() else None)
    frame = pl.DataFrame({"id": range(len(values)), "v": source.cast(dtype)})
    check = NarrowedColumns("b.parquet", {"v": planned})
    if not changes:
        check.verify(frame)
        return
    with pytest.raises(SourceDataError) as failed:
        check.verify(frame)
    message = str(failed.value)
    assert message.startswith(f"b.parquet: column 'v' is {dtype} in this file and {planned}")
    assert all(str(v) not in message for v in values if v not in (None, 0))
