"""Chunk boundaries and the messages that carry a chunk from the encoder to the writer.

Boundaries depend only on the rows from the chunk's first row on: each chunk pulls
fixed-size batches (`batch_rows`, capped by what the chunk may still take) and closes at
`max_rows` or at the first batch boundary past `target_bytes` of encoded data. So a
resumed export rebuilds exactly the chunks an uninterrupted one would have.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import polars as pl

from sluice.server.pipeline.bad_rows import SKIPPED_ROWS, BadRowTally
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.cursor_values import CursorValue, batch_maximum, later
from sluice.server.pipeline.deflate import compression_workers
from sluice.server.pipeline.encoder_contract import Encoder
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


#: Batches encoded at once by an encoder whose batches are independent
#: (EncoderKind.independent_batches: NDJSON): the current one and the next. Counted from
#: the CPUs this process may use; one keeps encoding on the caller's thread, one batch at
#: a time.
ENCODED_AT_ONCE = min(2, compression_workers(0))


@dataclass(frozen=True)
class _Taken:
    """A batch taken from the rows before its chunk is known: what the encoder gets, and
    what the chunk that takes it adds to its own records."""

    data: pl.DataFrame
    #: Rows asked of the RowStream (the batch holds fewer only at the end of the rows).
    asked: int
    records: int
    source_first: int
    source_end: int
    cursor_max: CursorValue
    last_key: tuple[CursorValue, ...] | None
    counts: tuple[tuple[str, int], ...]


class _Encoding:
    """A taken batch being encoded: on a worker (`pool`), or, without one, on the
    caller's thread when its pieces are asked for."""

    def __init__(self, taken: _Taken, encoder: Encoder, pool: ThreadPoolExecutor | None) -> None:
        self.taken = taken
        self._encoder = encoder
        self._future: Future[tuple[bytes | memoryview, ...]] | None = None
        if pool is not None:
            # The worker's log lines carry the caller's fields (a context per batch: one
            # context cannot be entered by two threads at once).
            run = contextvars.copy_context().run
            self._future = pool.submit(run, encoder.encode_pieces, taken.data)

    def pieces(self) -> tuple[bytes | memoryview, ...]:
        if self._future is None:
            return self._encoder.encode_pieces(self.taken.data)
        return self._future.result()

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()


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
    A chunk counts the unparseable source rows `skipped` recorded before its end.

    An encoder whose batches are independent (NDJSON) encodes the next batch on a worker
    while the current one is encoded on another (ENCODED_AT_ONCE 2): the caller's
    single encoding thread was the export's last stage to finish, its last batches
    encoded one by one after the redaction had ended (moderate, text-heavy). The next
    batch is taken only when its size does not depend on the current one's encoded
    bytes, i.e. is the same whether the chunk goes on or closes after it (always, unless
    the chunk's `chunk_max_rows` is about to cut it shorter), so the chunks are those of
    encoding one batch at a time: same boundaries, same bytes."""
    cursor = config.query.cursor
    resume_columns = [hidden_resume_column(i) for i in range(len(config.query.resume_key))]
    counters = config.redactor.counters

    def take(asked: int) -> _Taken | None:
        batch = rows.take(asked)
        if batch is None:
            return None
        positions = batch.get_column(ROW_INDEX)
        cursor_max: CursorValue = None
        if cursor:
            cursor_max = batch_maximum(batch, CURSOR_COLUMN)
            batch = batch.drop(CURSOR_COLUMN)
        last_key: tuple[CursorValue, ...] | None = None
        if resume_columns:
            last_key = resume_key(batch.select(resume_columns).row(-1))
            batch = batch.drop(resume_columns)
        batch, counts = _take_counters(batch, counters)
        return _Taken(
            batch.drop(ROW_INDEX),
            asked,
            batch.height,
            int(positions[0]),
            int(positions[-1]) + 1,
            cursor_max,
            last_key,
            counts,
        )

    encoded_at_once = ENCODED_AT_ONCE
    independent = config.encoder.independent_batches and encoded_at_once > 1
    pool = (
        ThreadPoolExecutor(encoded_at_once, thread_name_prefix=f"encode-{config.export_id}")
        if independent
        else None
    )
    #: A batch taken (and being encoded) before the chunk it belongs to was known.
    ahead: _Encoding | None = None
    index = first_index
    try:
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
                    asked = min(batch_rows, config.chunk_max_rows - records)
                    if ahead is not None:
                        current, ahead = ahead, None
                        assert current.taken.asked == asked, "a batch taken ahead of its size"
                    else:
                        taken = take(asked)
                        if taken is None:
                            break
                        current = _Encoding(taken, encoder, pool)
                    batch = current.taken
                    if pool is not None:
                        ahead = _take_ahead(take, encoder, pool, config, batch_rows, records, batch)
                    if source_start < 0:
                        source_start = batch.source_first
                    source_end = batch.source_end
                    if cursor:
                        cursor_max = later(
                            cursor_max, batch.cursor_max, config.source_schema[cursor]
                        )
                    if resume_columns:
                        last_key = batch.last_key
                    for key, value in batch.counts:
                        counts[key] = counts.get(key, 0) + value
                    segment = Segment(index, current.pieces(), batch.records, source_end)
                    records += batch.records
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
    finally:
        if ahead is not None:
            ahead.cancel()
        if pool is not None:
            # A batch under way finishes (one encode call); nothing outlives the generator.
            pool.shutdown(wait=True, cancel_futures=True)


def _take_ahead(
    take: Callable[[int], _Taken | None],
    encoder: Encoder,
    pool: ThreadPoolExecutor,
    config: PipelineConfig,
    batch_rows: int,
    records: int,
    current: _Taken,
) -> _Encoding | None:
    """The batch after `current`, taken and set encoding now, when its size is known
    before `current`'s encoded bytes are: the size the chunk asks for next if it goes on
    is that of a new chunk, or the chunk ends after `current` whatever its bytes. None
    otherwise (and at the end of the rows)."""
    if current.records < current.asked:
        return None  # the rows ran out
    after = records + current.records
    fresh = min(batch_rows, config.chunk_max_rows)
    if after < config.chunk_max_rows and min(batch_rows, config.chunk_max_rows - after) != fresh:
        return None
    taken = take(fresh)
    return None if taken is None else _Encoding(taken, encoder, pool)


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
    batch: pl.DataFrame, counters: Mapping[str, str]
) -> tuple[pl.DataFrame, tuple[tuple[str, int], ...]]:
    """The batch without its redaction flag columns, and the flags' sums by counter key
    (in the counters' order; a key fed by several columns appears once per column)."""
    if not counters:
        return batch, ()
    # One multi-column sum: a cast-and-sum expression per counter (~200 of them under a
    # strict policy) cost a tenth of an export's CPU.
    sums = batch.select(pl.col(list(counters)).sum()).row(0)
    counts = tuple(
        (key, int(value or 0)) for key, value in zip(counters.values(), sums, strict=True)
    )
    return batch.drop(list(counters)), counts
