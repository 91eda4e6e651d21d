"""A Parquet row group's columns are cut into contiguous runs, one per worker, of about
equal estimated encoding cost; every column lands in exactly one run, in order."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.parquet_columns import column_parts


def frame(rows: int = 1_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": range(rows),
            "at": range(rows),
            "text": ["x" * 200] * rows,  # the costly one: most of the bytes
            "flag": [True] * rows,
            "request": [{"path": "/p", "tags": ["a", "b"], "q": 1}] * rows,
            "amount": [0.5] * rows,
        }
    )


@pytest.mark.parametrize("parts", [0, 1, 2, 3, 6, 9])
def test_runs_are_the_columns_in_order_none_empty(parts: int) -> None:
    runs = column_parts(frame(), parts)
    assert [name for run in runs for name in run] == frame().columns
    assert all(runs)
    assert len(runs) == max(1, min(parts, len(frame().columns)))


def test_the_cut_follows_the_estimated_cost_not_the_column_count() -> None:
    # The text column weighs more than all others together: it ends the first run.
    assert column_parts(frame(), 2) == [["id", "at", "text"], ["flag", "request", "amount"]]
    # A struct counts each of its leaves.
    narrow = frame().select("id", "at", "flag", "request")
    assert column_parts(narrow, 2) == [["id", "at", "flag"], ["request"]]


def test_a_frame_without_columns_is_one_run_and_one_without_rows_is_still_cut() -> None:
    assert column_parts(pl.DataFrame(), 2) == [[]]
    runs = column_parts(frame(0), 2)
    assert len(runs) == 2
    assert [name for run in runs for name in run] == frame().columns
