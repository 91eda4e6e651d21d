"""A set of source rows to export, by position: what a keyed export found inserted or
changed. Positions are sorted, so each batch looks up only its own range of them."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.source import ROW_INDEX


class RowSelection:
    def __init__(self, positions: pl.Series) -> None:
        self._positions = positions.cast(pl.Int64).sort()

    def __len__(self) -> int:
        return self._positions.len()

    def keep(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The rows of `batch` (which holds ROW_INDEX, ascending) that are selected."""
        if batch.height == 0:
            return batch
        rows = batch.get_column(ROW_INDEX)
        low = int(self._positions.search_sorted(int(rows[0]), side="left"))
        high = int(self._positions.search_sorted(int(rows[-1]), side="right"))
        wanted = self._positions.slice(low, high - low)
        return batch.filter(pl.col(ROW_INDEX).cast(pl.Int64).is_in(wanted.implode()))
