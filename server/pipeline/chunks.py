"""Chunk boundaries and the messages that carry a chunk from the encoder to the writer.

Boundaries depend only on the rows from the chunk's first row on: each chunk pulls
fixed-size batches (`batch_rows`, capped by what the chunk may still take) and closes at
`max_rows` or at the first batch boundary past `target_bytes` of encoded data. So a
resumed export rebuilds exactly the chunks an uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import polars as pl

from sluice.server.pipeline.bad_rows import SKIPPED_ROWS, BadRowTally
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.cursor_values import CursorValue, batch_maximum, later
from sluice.server.pipeline.query import CURSOR_COLUMN, hidden_resume_column
from sluice.server.pipeline.source import ROW_INDEX


@dataclass(frozen=True)
class Segment:
    """Encoded bytes of some records of chunk `index`."""

    index: int
    #: The bytes, in the pieces the encoder made them in (see Encoder.encode_pieces).
    pieces: tuple[bytes | memoryview, ...]
    records: int
    #: Source rows read so far (the next unread position).
    source_position: int

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)


@dataclass(frozen=True)
class ChunkEnd:
    index: int
    #: The file's closing bytes, in order, each taken once it is made (Parquet's last row
    #: groups and footer, still being made by the encoder's workers), so the next chunk's
    #: encoding starts now (Encoder.finish_in_pieces).
    tail: Iterator[bytes | memoryview]
    records: int
    source_start: int
    source_end: int
    #: Redaction counters of the chunk (and its skipped source rows), sorted by key.
    counters: tuple[tuple[str, int], ...] = ()
    #: Largest incremental cursor value in the chunk (JSON-safe), if the query has a cursor.
    cursor_max: CursorValue = None
    #: Database sources: the order columns' values of the chunk's last row (JSON-safe).
    source_last_key: tuple[CursorValue, ...] | None = None


class RowStream:
    """Re-slices Polars' batches (whose sizes the engine chooses) into exact row counts."""

    def __init__(self, batches: Iterator[pl.DataFrame]) -> None:
        self._batches = batches
        self._pending: pl.DataFrame | None = None

    def take(self, rows: int) -> pl.DataFrame | None:
        parts: list[pl.DataFrame] = []
        need = rows
        while need > 0:
            if self._pending is None or self._pending.height == 0:
                following = next(self._batches, None)
                if following is None:
                    break
                self._pending = following
                continue
            part = self._pending.slice(0, need)
            self._pending = self._pending.slice(need)
            parts.append(part)
            need -= part.height
        if not parts:
            return None
        # One contiguous chunk per batch: Arrow-based encoders write one record batch per
        # chunk, so a batch's memory layout must not depend on where reads happened to split
        # (a reader's frame can itself be in pieces, e.g. a Parquet slice across pages).
        if len(parts) > 1:
            return pl.concat(parts, rechunk=True)
        return parts[0] if max(parts[0].n_chunks("all"), default=1) == 1 else parts[0].rechunk()


def encode_chunks(
    config: PipelineConfig,
    rows: RowStream,
    first_index: int,
    batch_rows: int,
    workers: int = 0,
    skipped: BadRowTally | None = None,
) -> Generator[Segment | ChunkEnd, None, None]:
    """Yield the segments of each chunk followed by its ChunkEnd, until rows run out.
    Encoders that use threads (Parquet's) get `workers`, the compression workers setting.
    A chunk counts the unparseable source rows `skipped` recorded before its end."""
    index = first_index
    cursor = config.query.cursor
    resume_columns = [hidden_resume_column(i) for i in range(len(config.query.resume_key))]
    while True:
        encoder = config.encoder.make(config.chunk_context(index, workers))
        # The encoder's worker threads (Parquet's) end with the chunk, also when the
        # caller stops early and this generator is closed.
        try:
            records = encoded = 0
            source_start = source_end = -1
            counts: dict[str, int] = {}
            cursor_max: CursorValue = None
            last_key: tuple[CursorValue, ...] | None = None
            while records < config.chunk_max_rows and encoded < config.chunk_target_bytes:
                batch = rows.take(min(batch_rows, config.chunk_max_rows - records))
                if batch is None:
                    break
                positions = batch.get_column(ROW_INDEX)
                if source_start < 0:
                    source_start = int(positions[0])
                source_end = int(positions[-1]) + 1
                if cursor:
                    cursor_dtype = config.source_schema[cursor]
                    cursor_max = later(
                        cursor_max, batch_maximum(batch, CURSOR_COLUMN), cursor_dtype
                    )
                    batch = batch.drop(CURSOR_COLUMN)
                if resume_columns:
                    last_key = resume_key(batch.select(resume_columns).row(-1))
                    batch = batch.drop(resume_columns)
                batch = _take_counters(batch, config.redactor.counters, counts)
                # In slices when the format allows (EncoderKind.slice_rows): the caller
                # sees a stop between segments. Boundaries are still decided per batch.
                for part in _slices(batch.drop(ROW_INDEX), config.encoder.slice_rows):
                    segment = Segment(index, encoder.encode_pieces(part), part.height, source_end)
                    records += part.height
                    encoded += segment.size
                    yield segment
            if records == 0:
                return
            if skipped is not None:
                skipped_rows = skipped.take_before(source_end)
                if skipped_rows:
                    counts[SKIPPED_ROWS] = skipped_rows
            yield ChunkEnd(
                index,
                encoder.finish_in_pieces(),
                records,
                source_start,
                source_end,
                tuple(sorted(counts.items())),
                cursor_max,
                last_key,
            )
            index += 1
        finally:
            encoder.close()


def _slices(batch: pl.DataFrame, rows: int | None) -> Iterator[pl.DataFrame]:
    if rows is None or batch.height <= rows:
        yield batch
        return
    for start in range(0, batch.height, rows):
        yield batch.slice(start, rows)


def resume_key(values: tuple[object, ...]) -> tuple[CursorValue, ...] | None:
    """A row's order-column values as JSON-safe ones (ISO text for times, exact text for
    decimals); None when one cannot be compared back as such (a NULL, bytes)."""
    safe: list[CursorValue] = []
    for value in values:
        if isinstance(value, bool) or value is None or isinstance(value, bytes):
            return None
        if isinstance(value, int | float | str):
            safe.append(value)
        elif isinstance(value, datetime | date | time | Decimal):
            safe.append(value.isoformat() if not isinstance(value, Decimal) else str(value))
        else:
            return None
    return tuple(safe)


def _take_counters(
    batch: pl.DataFrame, counters: Mapping[str, str], counts: dict[str, int]
) -> pl.DataFrame:
    """Add the batch's redaction flags to `counts` and drop the flag columns."""
    if not counters:
        return batch
    # One multi-column sum: a cast-and-sum expression per counter (~200 of them under a
    # strict policy) cost a tenth of an export's CPU.
    sums = batch.select(pl.col(list(counters)).sum()).row(0)
    for key, value in zip(counters.values(), sums, strict=True):
        counts[key] = counts.get(key, 0) + int(value or 0)
    return batch.drop(list(counters))
