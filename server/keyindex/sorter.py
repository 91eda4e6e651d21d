"""External sort of index rows by key digest, in memory bounded by configuration.

Digests are uniformly distributed, so their first byte splits rows into 256 ranges of
about equal size: rows are spilled to one temporary file per range, then each range is
read back and sorted alone. Peak memory is one spill batch plus one range (rows / 256),
and all the work is vectorised Polars/Arrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc as pa_ipc

from sluice.server.keyindex.digests import KEY_DIGEST

RANGES = 256
_RANGE = "__sluice_range"


def range_upper(number: int) -> bytes | None:
    """Exclusive upper bound of digest range `number` (None for the last one)."""
    return bytes([number + 1]) if number + 1 < RANGES else None


class RangeSorter:
    def __init__(self, folder: Path, spill_rows: int, schema: pl.Schema) -> None:
        self._folder = folder
        self._spill_rows = spill_rows
        self._buffered: list[pl.DataFrame] = []
        self._buffered_rows = 0
        self._writers: dict[int, Any] = {}
        self._schema = schema

    @property
    def schema(self) -> pl.Schema:
        """The columns of the rows it sorts."""
        return self._schema

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self._buffered.append(frame)
        self._buffered_rows += frame.height
        if self._buffered_rows >= self._spill_rows:
            self._spill()

    def ranges(self, *, keep: bool = False) -> Iterator[tuple[int, pl.DataFrame]]:
        """Every digest range in order, each sorted by key digest (empty ones too).
        `keep`: leave the spill files for reread (disk use then stays at its peak,
        the one it has when the first range is read, until the folder is removed)."""
        self._spill()
        for writer in self._writers.values():
            writer.close()
        empty = pl.DataFrame(schema=self._schema)
        for number in range(RANGES):
            path = self._path(number)
            if number not in self._writers:
                yield number, empty
                continue
            with pa.memory_map(str(path)) as source:
                table = pa_ipc.open_stream(source).read_all()
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            if not keep:
                path.unlink()
            yield number, frame.sort(KEY_DIGEST)

    def reread(self, column: str) -> Iterator[pl.Series]:
        """One column of the rows ranges(keep=True) read, a range at a time, unsorted."""
        for number in sorted(self._writers):
            with pa.memory_map(str(self._path(number))) as source:
                table = pa_ipc.open_stream(source).read_all()
            values = pl.from_arrow(table.column(column))
            assert isinstance(values, pl.Series)
            yield values.alias(column)

    def discard(self) -> None:
        """Drop every row added, unread."""
        self._buffered, self._buffered_rows = [], 0
        for number, writer in self._writers.items():
            writer.close()
            self._path(number).unlink(missing_ok=True)
        self._writers = {}

    def _spill(self) -> None:
        if not self._buffered:
            return
        frame = pl.concat(self._buffered).with_columns(
            pl.col(KEY_DIGEST).bin.encode("hex").str.slice(0, 2).str.to_integer(base=16)
            .alias(_RANGE)
        )  # fmt: skip
        self._buffered, self._buffered_rows = [], 0
        for (value,), part in frame.partition_by(_RANGE, as_dict=True).items():
            number = int(str(value))
            table = part.drop(_RANGE).to_arrow()
            writer = self._writers.get(number)
            if writer is None:
                writer = pa_ipc.new_stream(str(self._path(number)), table.schema)
                self._writers[number] = writer
            writer.write_table(table)

    def _path(self, number: int) -> Path:
        return self._folder / f"range-{number:03d}.arrows"
