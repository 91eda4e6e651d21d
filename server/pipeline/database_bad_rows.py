"""A database read's rows left out under on_bad_rows "skip": the rows holding a value the
export cannot hold (database_values; a SQLite value not of its declared type; a numeric
that does not fit its decimal), found without quoting a value, and where each was.

A skipped row has no row position: it is recorded at the position of the row handed on
after it (as a file's, see bad_rows), which is its number of kept rows before it in the
batch. A value found by a check on the whole batch (an Arrow mask) is left out with its
row; a conversion that fails on the batch as a whole (Polars names no row) is retried on
halves, down to the rows that fail alone (a few conversions per bad row; SQLite's first
finds the values a loose conversion of each column turns into NULL, and halves only for
what that misses), and the rest is converted once more as one: a batch that still fails
fails the read (values that convert alone but not together, such as times in two
formats, which leaving rows out would not mend).
A query the database itself cannot run to its end (a CAST in it failing on some value) is
no row to leave out: it fails the read whatever on_bad_rows says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow.compute as pc

from sluice.server.pipeline.bad_rows import SourceDataError

#: (kept rows of the frame before them, how many) of rows left out, offsets ascending.
Skipped = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class DatabaseRows:
    """A frame of a database read and the rows left out of it."""

    frame: pl.DataFrame
    skipped: Skipped = ()

    def slices(self, rows: int) -> Iterator[DatabaseRows]:
        """The frame in slices of at most `rows` rows, each with the rows left out
        before its last row (the ones after the frame's last row: with the last)."""
        height = self.frame.height
        if height <= rows:
            yield self
            return
        for start in range(0, height, rows):
            end = min(start + rows, height)
            mine = tuple(
                (offset - start, count)
                for offset, count in self.skipped
                if start <= offset < end or (end == height and offset == end)
            )
            yield DatabaseRows(self.frame.slice(start, rows), mine)


def skipped_at(dropped: Sequence[int]) -> Skipped:
    """Where the rows at the ascending indices `dropped` of a batch were, as Skipped."""
    found: list[tuple[int, int]] = []
    for kept_before, index in enumerate(dropped):
        offset = index - kept_before
        if found and found[-1][0] == offset:
            found[-1] = (offset, found[-1][1] + 1)
        else:
            found.append((offset, 1))
    return tuple(found)


def failing_alone(size: int, fails: Callable[[int, int], bool]) -> list[int]:
    """The rows of [0, size) that fail alone, ascending, halving the ranges that fail
    (`fails(low, high)`: whether rows low..high-1 fail together)."""
    found: list[int] = []

    def search(low: int, high: int) -> None:
        if high <= low or not fails(low, high):
            return
        if high - low == 1:
            found.append(low)
            return
        middle = (low + high) // 2
        search(low, middle)
        search(middle, high)

    search(0, size)
    return found


def refuses(convert: Callable[[], object]) -> bool:
    """Whether `convert` refuses a value (SourceDataError)."""
    try:
        convert()
    except SourceDataError:
        return True
    return False


def kept_rows(size: int, dropped: Sequence[int]) -> list[int]:
    """The indices of a batch of `size` rows that `dropped` leaves."""
    gone = set(dropped)
    return [index for index in range(size) if index not in gone]


def without_flagged(batch: Any, flagged: Any | None) -> tuple[Any, list[int]]:
    """An Arrow batch without the rows `flagged` (a boolean mask, or None for none), and
    the indices of those rows."""
    if flagged is None or not pc.any(flagged).as_py():
        return batch, []
    dropped = pc.indices_nonzero(flagged).to_pylist()
    return batch.filter(pc.invert(flagged)), dropped


def converted_rows(
    frame: pl.DataFrame, convert: Callable[[pl.DataFrame], pl.DataFrame]
) -> tuple[pl.DataFrame, list[int]]:
    """`convert(frame)`, leaving out the rows it refuses alone; and their indices."""
    try:
        return convert(frame), []
    except SourceDataError:
        pass
    dropped = failing_alone(
        frame.height, lambda low, high: refuses(lambda: convert(frame.slice(low, high - low)))
    )
    keep = pl.Series([True] * frame.height)
    for index in dropped:
        keep[index] = False
    return convert(frame.filter(keep)), dropped
