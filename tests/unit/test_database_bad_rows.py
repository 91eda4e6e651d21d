"""Where a database read's skipped rows are counted: at the position of the row handed on
after them, in the slice holding it, and once when a retried read meets them again."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.bad_rows import BadRowTally, HeldBadRows
from sluice.server.pipeline.database_bad_rows import (
    DatabaseRows,
    failing_alone,
    skipped_at,
)


def test_skipped_rows_are_placed_before_the_next_kept_row() -> None:
    # Rows 0, 3, 4 and 9 of a 10-row batch left out: 0 before kept row 0, 3 and 4
    # before kept row 2, 9 after the last kept row (offset 6, the batch's end).
    assert skipped_at([0, 3, 4, 9]) == ((0, 1), (2, 2), (6, 1))
    assert skipped_at([]) == ()


def test_halving_finds_the_rows_that_fail_alone() -> None:
    bad = {0, 7, 8, 63}
    calls = []

    def fails(low: int, high: int) -> bool:
        calls.append((low, high))
        return any(low <= row < high for row in bad)

    assert failing_alone(64, fails) == sorted(bad)
    assert len(calls) < 64  # not one conversion per row


def test_slices_keep_each_skipped_row_before_its_next_row() -> None:
    rows = DatabaseRows(pl.DataFrame({"id": range(5)}), ((0, 1), (2, 1), (4, 2), (5, 1)))
    slices = list(rows.slices(2))
    assert [s.frame["id"].to_list() for s in slices] == [[0, 1], [2, 3], [4]]
    assert [s.skipped for s in slices] == [((0, 1),), ((0, 1),), ((0, 2), (1, 1))]


def test_rows_held_after_the_last_row_handed_on_count_once_when_read_again() -> None:
    tally = BadRowTally()
    held = HeldBadRows(tally)
    held.hold(3, 1)  # before row 3 of a frame of rows 0-4
    held.hold(5, 2)  # after its last row
    held.release_before(5)
    # The read is lost; its retry continues after row 4 and meets those two again.
    held.drop()
    held.hold(5, 2)
    held.hold(6, 1)
    held.release_before(7)  # a frame of rows 5-6
    held.release_all()
    assert tally.take_before(4) == 1
    assert tally.take_before(6) == 2
    assert tally.take_rest() == 1
