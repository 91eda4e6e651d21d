"""SQLite values converted to their declared types under on_bad_rows "skip": the rows
left out are exactly those holding a value that fails alone, whether a loose pass over
each column finds it (text in an INTEGER column, an inexact decimal) or the halving
search behind it (a float an integer column would truncate), and no value is nulled."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.sqlite_values import sqlite_frame, sqlite_rows

SCHEMA = pl.Schema({"id": pl.Int64, "amount": pl.Decimal(10, 2), "day": pl.Date})


def _alone(row: tuple[Any, ...]) -> bool:
    try:
        sqlite_frame([row], SCHEMA, [0, 1, 2])
    except SourceDataError:
        return True
    return False


def test_skip_leaves_out_exactly_the_rows_that_fail_alone() -> None:
    good = [
        (0, 12345678, "2024-01-01"),
        (1, "1.50000000000000000000000000000000000", "2024-01-02"),  # exactly 1.50
        (2, 0.1 + 0.2, None),  # 0.30 but for the float's last bit
        (3, None, "2024-01-04"),
    ]
    bad = [
        ("x", 1, "2024-01-05"),  # text in INTEGER
        (1.5, 1, "2024-01-06"),  # a float the loose pass truncates to 1
        (6, "1.50000000000000000000000000000000001", "2024-01-07"),  # would be rounded
        (7, 123456789, "2024-01-08"),  # more digits than DECIMAL(10,2)
        (8, 1, "2024-02-30"),  # no such day
        (9, 1, 20240101),  # a number in a DATE column
    ]
    rows = [good[0], bad[0], bad[1], good[1], *bad[2:5], good[2], bad[5], good[3]]
    assert [_alone(row) for row in rows] == [row in bad for row in rows]
    read = sqlite_rows(rows, SCHEMA, [0, 1, 2], skip_bad=True)
    assert read.frame["id"].to_list() == [0, 1, 2, 3]
    assert read.frame["amount"].to_list() == [
        Decimal("12345678.00"), Decimal("1.50"), Decimal("0.30"), None
    ]  # fmt: skip
    assert read.skipped == ((1, 2), (2, 3), (3, 1))


def test_times_in_two_formats_fail_under_skip_naming_the_column_not_skip() -> None:
    schema = pl.Schema({"ts": pl.Datetime("us")})
    rows = [("2024-01-02 03:04:05",), ("2024-01-02 03:04:05+02:00",), (17,)]
    with pytest.raises(SourceDataError) as caught:
        sqlite_rows(rows, schema, [0], skip_bad=True)
    message = str(caught.value)
    assert "column 'ts'" in message and "not together" in message, message
    assert "on_bad_rows" not in message
