"""Patterns anchored with `$` are matched whole: re.match with `$` also accepts a line
break after the text ("x\n"), so values read back from storage or a database with one
were taken as valid."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.cursor_values import epoch_nanoseconds
from sluice.server.pipeline.postgres_reading import _snapshot_id


def test_an_exported_snapshot_id_is_matched_whole() -> None:
    assert _snapshot_id("00000003-0000001B-1") == "00000003-0000001B-1"
    with pytest.raises(ValueError, match="not a snapshot id"):
        _snapshot_id("00000003-0000001B-1\n")


def test_a_datetime_watermark_with_a_line_break_is_no_datetime() -> None:
    dtype = pl.Datetime("us")
    assert epoch_nanoseconds("1970-01-01T00:00:01.5", dtype) == 1_500_000_000
    with pytest.raises(ValueError):
        epoch_nanoseconds("1970-01-01T00:00:01.5\n", dtype)
