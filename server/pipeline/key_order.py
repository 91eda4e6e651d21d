"""Checking, while reading, that a database source's order key never repeats.

A database source is read in the order of its `order_by` columns, and a resumed run
(or a read retried after a lost connection) continues with `WHERE key > last key`.
That is exact only when no two rows share a key: rows tied with the last journalled
key would be skipped. When the catalog cannot prove the order unique (a query, or a
SQLite/DuckDB table ordered by caller-chosen columns), the reader checks each key it
hands on against the one before it (rows arrive sorted, so a tie is two neighbours)
and fails the export FAILED_PRECONDITION naming `spec.source.order_by` before any
chunk holding the tie is committed. NULLs count as equal to each other here, as they
do in ORDER BY.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from sluice.server.errors import FailedPrecondition


class KeyOrderCheck:
    """Remembers the last key seen; `check(frame)` fails on a key equal to the one
    before it (within the frame or across the boundary with the previous frame); the
    error ends with `hint` (the source's own advice, "; ..."), if any."""

    def __init__(self, order_by: Sequence[str], hint: str = "") -> None:
        self._order_by = list(order_by)
        self._hint = hint
        self._last: pl.DataFrame | None = None

    def check(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        keys = frame.select(self._order_by)
        if self._last is not None:
            keys = pl.concat([self._last, keys], how="vertical_relaxed")
        self._last = keys.tail(1)
        if keys.height < 2:
            return
        # Row 0 has no row before it: its shift(1) is null, which eq_missing would call
        # equal to a NULL key there (NULLs sort first on SQLite, and a last NULL key is
        # carried to the next frame's row 0).
        tied = keys.select(
            pl.all_horizontal([pl.col(c).eq_missing(pl.col(c).shift(1)) for c in self._order_by])
            .slice(1)
            .any()
        ).item()
        if tied:
            raise FailedPrecondition(
                f"spec.source.order_by ({', '.join(c[:64] for c in self._order_by)}) is not "
                "unique: two rows share an order key, so a resumed export could skip or "
                "repeat rows; order by unique columns (a primary key, or add a column that "
                "tells tied rows apart)" + self._hint
            )
