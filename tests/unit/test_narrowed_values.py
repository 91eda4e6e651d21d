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


@pytest.mark.parametrize(
    ("dtype", "planned", "span"),
    [
        (
            pl.Datetime("us"),
            pl.Datetime("ns"),
            "1677-09-21 00:12:43.145224192 to 2262-04-11 23:47:16.854775807 UTC",
        ),
        (pl.Datetime("us", "UTC"), pl.Datetime("ns", "UTC"), "2262-04-11"),
        (pl.Duration("ms"), pl.Duration("ns"), "-106,751 days to 106,751 days"),
    ],
)
def test_a_time_past_the_finer_units_span_fails_naming_column_and_span(
    dtype: pl.Datetime | pl.Duration, planned: pl.DataType, span: str
) -> None:
    per_day = {"ms": 86_400_000, "us": 86_400_000_000}[dtype.time_unit]
    inside = pl.Series("v", [-106_000 * per_day, 0, 106_000 * per_day, None]).cast(dtype)
    check = NarrowedColumns("b.parquet", {"v": planned})
    check.verify(pl.DataFrame({"v": inside}))
    # 9999-12-31 (a Duration: as long), and 1500-01-01, each past nanoseconds' span.
    for days in (2_932_896, -171_000):
        beyond = pl.Series("v", [0, days * per_day]).cast(dtype)
        with pytest.raises(SourceDataError) as failed:
            check.verify(pl.DataFrame({"v": beyond}))
        message = str(failed.value)
        assert message.startswith(f"b.parquet: column 'v' is {dtype} in this file and {planned}")
        assert f"outside what {planned} holds (" in message and span in message, message
        assert "9999" not in message and "1500" not in message, message
