"""Rows an incremental export leaves out because their cursor has no place in the order
of watermarks: a null cursor (or a float one that is NaN or infinite). No increment can
ever send them (nothing is "past the watermark" for them), so they are counted, never
left out silently: the manifest's incremental.rows_without_cursor.

Each such row is recorded at the position of the next row the export sends from its
batch (or just past the batch), so it is counted by the chunk holding that row, or by
the export's totals after the last chunk: the same chunk however the source is cut into
batches, so a resumed export counts the rows before its resume position exactly once.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final

import polars as pl

from sluice.server.pipeline.source import ROW_INDEX

#: Counter key (with the redaction counters of a chunk) of the rows a chunk left out.
ROWS_WITHOUT_CURSOR: Final = "source/rows_without_cursor"

_KEPT = "__sluice_kept"
_UNSENT = "__sluice_unsent"
_AT = "__sluice_at"


def rows_without_cursor(
    batch: pl.DataFrame, cursor: str, kept: pl.Expr | None, unsent: pl.Expr
) -> pl.DataFrame | None:
    """[position, count] of `batch`'s rows matching `unsent` (ascending positions), or
    None when it has none; `kept`: the rows the query sends (None: all)."""
    values = batch.get_column(cursor)
    if values.null_count() == 0 and not (values.dtype.is_float() and not values.is_finite().all()):
        return None  # the common case, without evaluating the query twice
    marks = batch.lazy().select(
        pl.col(ROW_INDEX),
        (pl.lit(True) if kept is None else kept).fill_null(False).alias(_KEPT),
        unsent.fill_null(False).alias(_UNSENT),
    )
    after_batch = int(batch.get_column(ROW_INDEX)[-1]) + 1
    counted = (
        marks.with_columns(
            pl.when(pl.col(_KEPT))
            .then(pl.col(ROW_INDEX))
            .otherwise(None)
            .backward_fill()
            .fill_null(after_batch)
            .cast(pl.Int64)
            .alias(_AT)
        )
        .filter(pl.col(_UNSENT))
        .group_by(_AT)
        .len()
        .sort(_AT)
        .collect(engine="in-memory")
    )
    return counted if counted.height else None


class RowsWithoutCursorTally:
    """Counts by position, recorded in position order by the reading thread and taken,
    in order, by the thread that closes chunks (as BadRowTally does for skipped rows)."""

    def __init__(self) -> None:
        self._pending: deque[pl.DataFrame] = deque()  # [_AT, len] frames, ascending
        self._lock = threading.Lock()

    def record(self, counted: pl.DataFrame) -> None:
        with self._lock:
            self._pending.append(counted)

    def take_before(self, position: int) -> int:
        """The rows recorded before `position` and not taken yet."""
        taken = 0
        with self._lock:
            while self._pending:
                first = self._pending[0]
                cut = int(first.get_column(_AT).search_sorted(position, side="left"))
                taken += int(first.get_column("len").head(cut).sum())
                if cut < first.height:
                    self._pending[0] = first.slice(cut)
                    break
                self._pending.popleft()
        return taken

    def take_rest(self) -> int:
        with self._lock:
            taken = sum(int(frame.get_column("len").sum()) for frame in self._pending)
            self._pending.clear()
        return taken
