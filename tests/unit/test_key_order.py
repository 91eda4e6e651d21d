"""The reader's check that a database source's order key never repeats."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.pipeline.key_order import KeyOrderCheck


def test_distinct_keys_pass_across_frames() -> None:
    check = KeyOrderCheck(["a", "b"])
    check.check(pl.DataFrame({"a": [1, 1, 2], "b": [1, 2, 1], "x": ["p", "q", "r"]}))
    check.check(
        pl.DataFrame(
            {"a": [], "b": [], "x": []}, schema={"a": pl.Int64, "b": pl.Int64, "x": pl.String}
        )
    )
    check.check(pl.DataFrame({"a": [2, None], "b": [2, 1], "x": ["s", "t"]}))


@pytest.mark.parametrize(
    "frames",
    [
        [{"a": [1, 2, 2]}],  # within a frame
        [{"a": [1, 2]}, {"a": [2, 3]}],  # across the boundary of two frames
        [{"a": [1, None]}, {"a": [None]}],  # NULLs sort together: a tie
    ],
)
def test_a_tie_fails_naming_order_by(frames: list[dict[str, list[int | None]]]) -> None:
    check = KeyOrderCheck(["a"])
    with pytest.raises(FailedPrecondition, match=r"spec\.source\.order_by \(a\) is not unique"):
        for frame in frames:
            check.check(pl.DataFrame(frame, schema={"a": pl.Int64}))


def test_a_single_null_key_at_a_frames_start_is_not_a_tie() -> None:
    """NULLs sort first on SQLite: a first row with a NULL key has no row before it to
    tie with (its shift is null too, which eq_missing would call equal)."""
    check = KeyOrderCheck(["a"])
    check.check(pl.DataFrame({"a": [None, 1, 2]}, schema={"a": pl.Int64}))
    check.check(pl.DataFrame({"a": [3, 4]}, schema={"a": pl.Int64}))
