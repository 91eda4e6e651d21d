"""Chunk boundaries and the messages that carry a chunk from the encoder to the writer.

Boundaries depend only on the rows from the chunk's first row on: each chunk pulls
fixed-size batches (`batch_rows`, capped by what the chunk may still take) and closes at
`max_rows` or at the first batch boundary past `target_bytes` of encoded data. So a
resumed export rebuilds exactly the chunks an uninterrupted one would have.

An encoder that returns records' bytes only calls later (Parquet holds three row groups
back while workers make them) would overshoot that way by those batches: a 4 MiB target
made one 13.5 MiB chunk. Its chunks are cut where the estimate reaches the target
instead: the bytes returned plus the rows held back at the chunk's bytes per row so far
(Encoder.size_estimate), the batch that would carry the chunk past the target cut to the
rows that fit, the chunk's first batch small (EncoderKind.first_batch_rows) so that a row
costs something known early. The estimate only reads row groups made in batch order,
never which worker finished first, so boundaries stay a function of the rows.

"Near the target" (CHUNK_BYTES_NEAR): every chunk but the last stores within 15% of
`target_bytes`, when the chunk's rows are alike in size (a chunk whose later rows are
much larger than its first ones can still pass it by what the estimate missed). Measured
on the demo's events and the text-heavy benchmark rows (300k-1M rows, 1-16 MiB targets):
0.91-1.00x the target. The estimate starts from the first small row group, which can cost
much more per row than later ones (nested rows: ~1.7x, chunks closed at 0.34-0.58x), so
before a batch is cut the held row groups are waited for (Encoder.size_estimate,
settled): the cut is then made from their exact bytes and the later row groups' bytes
per row (nested rows, 128 KiB-1 MiB targets: 0.91-1.07x, last chunks aside). The footer
(page index, row group metadata) is left out of the estimate: a few KiB per row group.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import polars as pl

from sluice.server.pipeline.bad_rows import SKIPPED_ROWS, BadRowTally
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.cursor_values import CursorValue, batch_maximum, later
from sluice.server.pipeline.encoder_contract import Encoder, SizeEstimate
from sluice.server.pipeline.polars_panics import polars_panics
from sluice.server.pipeline.query import CURSOR_COLUMN, hidden_resume_column
from sluice.server.pipeline.rows_without_cursor import (
    ROWS_WITHOUT_CURSOR,
    RowsWithoutCursorTally,
)
from sluice.server.pipeline.source import ROW_INDEX

#: How near the target every chunk but the last stores, as a share of it, for an encoder
#: that estimates its size (see the module's docstring).
CHUNK_BYTES_NEAR = 0.15
#: The fewest rows a batch is cut to for a chunk's target (Encoder.size_estimate): with
#: less room left, the chunk closes that much short of its target.
SPLIT_ROWS_AT_LEAST = 1024


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
        #: Frames read but not taken yet, in order (a peeked one first).
        self._queue: deque[pl.DataFrame] = deque()

    def take(self, rows: int) -> pl.DataFrame | None:
        parts: list[pl.DataFrame] = []
        need = rows
        while need > 0:
            if not self._queue:
                following = next(self._batches, None)
                if following is None:
                    break
                self._queue.append(following)
                continue
            head = self._queue[0]
            part = head.slice(0, need)
            if head.height > need:
                self._queue[0] = head.slice(need)
            else:
                self._queue.popleft()
            if part.height:
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

    def peek(self, rows: int) -> pl.DataFrame | None:
        """The next `rows` rows (fewer at the end), left to be taken: later takes slice
        the one contiguous frame returned."""
        frame = self.take(rows)
        if frame is not None:
            self._queue.appendleft(frame)
        return frame


def encode_chunks(
    config: PipelineConfig,
    rows: RowStream,
    first_index: int,
    batch_rows: int,
    workers: int = 0,
    skipped: BadRowTally | None = None,
    without_cursor: RowsWithoutCursorTally | None = None,
) -> Generator[Segment | ChunkEnd, None, None]:
    """Yield the segments of each chunk followed by its ChunkEnd, until rows run out.
    Encoders that use threads (Parquet's) get `workers`, the compression workers setting.
    A chunk counts the unparseable source rows `skipped`, and the rows `without_cursor`
    an increment left out, recorded before its end."""
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
            if config.encoder.first_batch_rows is not None:
                # The chunk's first batch is cut small; what the encoder decides once per
                # chunk (Parquet's dictionaries) is still decided from a whole batch.
                sample = rows.peek(min(batch_rows, config.chunk_max_rows))
                if sample is not None:
                    encoder.sample(sample.drop(_hidden_columns(config, resume_columns)))
            while records < config.chunk_max_rows and encoded < config.chunk_target_bytes:
                wanted = _rows_wanted(config, encoder, records, encoded, batch_rows)
                batch = rows.take(wanted) if wanted else None
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
                for start, part in _slices(batch.drop(ROW_INDEX), config.encoder.slice_rows):
                    # Progress counts the source rows up to the slice's last, not the
                    # batch's (the chunk's source_end stays the batch's end).
                    read = int(positions[start + part.height - 1]) + 1
                    with polars_panics(f"encoding chunk {index} as {config.encoder.name}"):
                        pieces = encoder.encode_pieces(part)
                    segment = Segment(index, pieces, part.height, read)
                    records += part.height
                    encoded += segment.size
                    yield segment
            if records == 0:
                return
            if skipped is not None:
                skipped_rows = skipped.take_before(source_end)
                if skipped_rows:
                    counts[SKIPPED_ROWS] = skipped_rows
            if without_cursor is not None:
                left_out = without_cursor.take_before(source_end)
                if left_out:
                    counts[ROWS_WITHOUT_CURSOR] = left_out
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


def _rows_wanted(
    config: PipelineConfig, encoder: Encoder, records: int, encoded: int, batch_rows: int
) -> int:
    """Rows of the chunk's next batch; 0 to close the chunk. An encoder that holds records
    back (Encoder.size_estimate) has its chunk cut where its estimated size reaches the
    target, and its first batch no larger than EncoderKind.first_batch_rows."""
    # The rest of a batch after a small first one, so that later batches start where
    # they would have (multiples of batch_rows from the chunk's start): a source read in
    # batch_rows pieces is then not cut and joined again (a copy) for every batch.
    wanted = min(batch_rows - records % batch_rows, config.chunk_max_rows - records)
    if records == 0:
        return min(wanted, config.encoder.first_batch_rows or wanted)
    room = _room(config, encoder.size_estimate(), encoded)
    if room is None or room >= wanted:
        return wanted
    # Before cutting, the exact bytes of the held rows: the estimate from the chunk's
    # first rows alone can be far off (nested rows: chunks of 0.34-0.58x the target,
    # their small first row group costing ~1.7x a later one per row).
    room = _room(config, encoder.size_estimate(settled=True), encoded)
    if room is None or room >= wanted:
        return wanted
    # A sliver of room is left empty: a row group that small costs more than it holds.
    return room if room >= SPLIT_ROWS_AT_LEAST else 0


def _room(config: PipelineConfig, estimate: SizeEstimate | None, encoded: int) -> int | None:
    """Rows that still fit the chunk's target by `estimate`; None without one."""
    if estimate is None or estimate.bytes_per_row <= 0:
        return None
    held = estimate.bytes_held
    expected = encoded + (estimate.rows_held * estimate.bytes_per_row if held is None else held)
    return math.ceil((config.chunk_target_bytes - expected) / estimate.bytes_per_row)


def _hidden_columns(config: PipelineConfig, resume_columns: list[str]) -> list[str]:
    """The columns of a read batch that the encoder never sees."""
    cursor = [CURSOR_COLUMN] if config.query.cursor else []
    return [ROW_INDEX, *cursor, *resume_columns, *config.redactor.counters]


def _slices(batch: pl.DataFrame, rows: int | None) -> Iterator[tuple[int, pl.DataFrame]]:
    """The batch in slices of at most `rows` rows, each with its first row's offset."""
    if rows is None or batch.height <= rows:
        yield 0, batch
        return
    for start in range(0, batch.height, rows):
        yield start, batch.slice(start, rows)


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
