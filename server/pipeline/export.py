"""Run one export's pipeline on three threads joined by bounded queues, so a slow
stage stops the ones before it:

  reader:  source batches → query → redaction      (server.pipeline.prefetch; with
           redaction, two batches at once on workers: server.pipeline.ordered_workers)
  caller:  chunk boundaries → encoding
  writer:  compression → encryption → digests → store (compressors add workers)
  commit:  make a written chunk durable (fsync, multipart completion) → journal it

Every heavy step (Parquet decoding, Polars expressions and writers, zstd, hashing, file
and network I/O) releases the GIL, so the stages overlap on separate cores. A chunk's
commit overlaps the writing of the next one, but commits run one at a time and in
order: chunk N+1 is never journalled before chunk N. A Parquet chunk's last row groups
and footer are made by its encoder's workers while the caller encodes the next chunk
(ChunkEnd.tail then yields them as they are made, in queue order). A chunk
counts only once journalled, so an interruption loses at most the chunks in flight.
Once `stop` is set no commit starts: only a chunk whose commit was under way is still
journalled, so a run ends within one chunk of its cancel, shutdown or lost lease (a
written chunk refused its commit goes the way of the chunk being written: a shutdown
keeps its stored parts, a cancel discards them). A lease lost (or left unconfirmed) hands
every upload of the run over at once: no request of any writer starts after that, since
the new holder may be continuing the same uploads.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import polars as pl

from sluice.server.errors import (
    DataLoss,
    FailedPrecondition,
    Interrupted,
    InvalidArgument,
    LeaseLost,
)
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS, BadRowTally
from sluice.server.pipeline.byte_budget import ByteBudget
from sluice.server.pipeline.chunks import ChunkEnd, RowStream, Segment, encode_chunks
from sluice.server.pipeline.compressors import zstd_contexts_reused
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.cursor_values import CursorValue
from sluice.server.pipeline.deflate import compression_workers
from sluice.server.pipeline.ndjson_pages import ndjson_pages_reused
from sluice.server.pipeline.open_chunk import OpenChunk, make_compressor
from sluice.server.pipeline.ordered_workers import in_order
from sluice.server.pipeline.polars_panics import PolarsPanicked, polars_panics
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.query import CompiledQuery
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.results import ChunkResult, Counters, PipelineProgress, add_counters
from sluice.server.pipeline.row_selection import RowSelection
from sluice.server.pipeline.rows_without_cursor import (
    ROWS_WITHOUT_CURSOR,
    RowsWithoutCursorTally,
    rows_without_cursor,
)
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.server.pipeline.stopping import hand_over_on_lease_lost, keeps_uploads
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks.base import Sink, SinkWriter, UploadJournal
from sluice.sinks.errors import JournalRefused, ObjectExists, StorageError, UploadHandedOver


class CommittedChunk(Protocol):
    """What a resume needs of a chunk committed earlier: its ChunkResult, or the record
    it was journalled as."""

    @property
    def index(self) -> int: ...
    @property
    def records(self) -> int: ...
    @property
    def stored_bytes(self) -> int: ...
    @property
    def source_end(self) -> int: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def source_last_key(self) -> tuple[CursorValue, ...] | None: ...


@dataclass(frozen=True)
class ResumePoint:
    """Where an export continues: after its last journalled chunk."""

    next_index: int = 0
    from_row: int = 0
    totals: PipelineProgress = field(default_factory=PipelineProgress)
    #: Database sources: the order key of the last exported row (read WHERE key > it).
    after_key: tuple[CursorValue, ...] | None = None

    @classmethod
    def after(cls, chunks: Sequence[CommittedChunk], source_rows_total: int = 0) -> ResumePoint:
        if not chunks:
            return cls(totals=PipelineProgress(source_rows_total=source_rows_total))
        last = chunks[-1]
        return cls(
            next_index=last.index + 1,
            from_row=last.source_end,
            after_key=last.source_last_key,
            totals=PipelineProgress(
                records=sum(c.records for c in chunks),
                chunks=len(chunks),
                stored_bytes=sum(c.stored_bytes for c in chunks),
                source_rows_done=last.source_end,
                source_rows_total=source_rows_total,
                counters=_sum_counters(chunks),
            ),
        )


class ExportObserver(Protocol):
    def before_commit(self, index: int) -> None:
        """Raise to refuse making chunk `index` durable: the run lost the right to write
        (another replica holds the export now). Called just before each chunk's commit."""
        ...

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        """Journal the chunk; it counts as committed only once this returns."""
        ...

    def progress(self, progress: PipelineProgress) -> None: ...

    def upload_journal(self, key: str) -> UploadJournal:
        """Where a resumable sink journals its upload of `key` (only asked of resumable sinks)."""
        ...


@dataclass(frozen=True)
class PipelineOptions:
    batch_rows: int
    queue_depth: int
    #: Compression workers setting (zstd, gzip, zip, and the Parquet encoder).
    zstd_threads: int
    #: Key of the content digest (HMAC-SHA256 of each chunk's plaintext).
    content_key: bytes
    #: Encoded bytes queued for the writer, at most (0: only `queue_depth` bounds them).
    queue_bytes: int = 0
    #: Whether a chunk object found under the key of a chunk being written, with other
    #: bytes, is stale and replaced (resumable sinks): no journal entry names it, since a
    #: run writes only chunks after the last journalled one. False once a manifest names
    #: the export's chunks (a job store behind its storage): other bytes are then
    #: corruption, DATA_LOSS, and nothing is replaced.
    replace_stale_chunks: bool = True


_DONE = object()
_POLL_SECONDS = 0.2
#: Source batches read and transformed ahead of the encoder: enough to overlap the two,
#: few enough that memory stays bounded by a handful of batches.
_PREFETCH_BATCHES = 2
#: Batches queried and redacted at once (server.pipeline.ordered_workers): the stage
#: then keeps up with the encoder on two cores. Each worker past the first holds one
#: more batch (and its result) in flight. Counted from the CPUs this process may use
#: (its affinity), not the machine's: one allowed CPU keeps the stage serial.
_TRANSFORM_WORKERS = min(2, compression_workers(0))
#: Source batches read and redacted as one (in `batch_rows`; the first batch alone, see
#: _first_in_pieces). The redaction's text pass makes ~130 Polars calls per batch whatever
#: its size (gate scans, the rules on the rows they picked, the merges back): ~9 ms of
#: CPU on top of what its rows cost (moderate, text-heavy), ~0.14 CPU s per 1M rows in
#: batches of 65,536. jsonl+zstd+age+moderate of 1M text-heavy rows through the daemon,
#: alternating with 1: median daemon CPU 3.87 -> 3.68 s, peak RSS ~700 -> ~850 MiB (each
#: worker redacts twice the rows at once); 4: ~0.3 CPU s less, ~+170 MiB. The redacted
#: batches are cut back to `batch_rows`, so the frames queued for the encoder hold no
#: more rows than before, and what is exported is the same: redaction works row by row
#: (its per-run memories only save work, see redaction/distinct_values.py, verdicts.py)
#: and the encoder cuts its own batches from the rows (chunks.RowStream).
REDACTED_TOGETHER = 2
#: The most rows one redaction call is given by pairing: a stop or cancel waits for the
#: redaction under way, so a call stays no larger than one batch of 131,072 rows was before
#: pairing (the default 65,536 pairs). Larger `batch_rows` already spread the per-call
#: cost over enough rows, and are redacted one batch at a time.
REDACTED_ROWS_AT_MOST = 131_072


def redacted_together(batch_rows: int, rewrites: bool) -> int:
    """Source batches of `batch_rows` redacted as one: REDACTED_TOGETHER while they hold
    at most REDACTED_ROWS_AT_MOST rows, else 1 (and 1 when nothing is rewritten)."""
    if rewrites and batch_rows * REDACTED_TOGETHER <= REDACTED_ROWS_AT_MOST:
        return REDACTED_TOGETHER
    return 1


def run_pipeline(
    config: PipelineConfig,
    sink: Sink,
    resume: ResumePoint,
    observer: ExportObserver,
    stop: threading.Event,
    options: PipelineOptions,
    selection: RowSelection | None = None,
) -> PipelineProgress:
    """Export every remaining chunk (of `selection`'s rows, when given); return the final
    totals. Raises Interrupted when `stop` is set: committed chunks stay, a chunk whose
    commit was under way finishes it, and no other commit starts; the chunks written but
    not committed are discarded, except that an ExportStop set by a shutdown (or a lost
    lease) suspends their upload for the next run to continue."""
    writer = _ChunkWriterThread(config, sink, resume.totals, observer, options, stop)
    writer.start()
    skipped = BadRowTally(resume.from_row)
    without_cursor = RowsWithoutCursorTally()
    # A stop (or a failure) leaves the reader early: a database statement it waits on is
    # cancelled then, rather than run to its end first.
    cancels = StatementCancels()
    try:
        batches = query_batches(
            config,
            resume.from_row,
            options.batch_rows,
            selection=selection,
            bad_rows=skipped,
            without_cursor=without_cursor,
            after_key=resume.after_key,
            cancels=cancels,
        )
        with prefetched(
            batches,
            _PREFETCH_BATCHES,
            f"reader-{config.export_id}",
            stop=stop,
            interrupt=cancels.cancel_all,
        ) as ready:
            rows = RowStream(ready)
            chunks = encode_chunks(
                config,
                rows,
                resume.next_index,
                options.batch_rows,
                options.zstd_threads,
                skipped,
                without_cursor,
            )
            # Closed on the way out, so the encoder's worker threads end now rather than
            # whenever the traceback that holds this frame is dropped. The chunks'
            # NDJSON batches, encoded on this thread, reuse a few files' pages.
            with ndjson_pages_reused(), closing(chunks):
                for item in chunks:
                    if stop.is_set():
                        raise Interrupted("export interrupted")
                    writer.put(item)
        writer.put(_DONE)
    except BaseException:
        writer.abandon()
        raise
    finally:
        writer.join()
    writer.raise_failure()
    # Rows skipped (or without a cursor) after the last chunk's rows belong to no chunk:
    # the totals carry them.
    after_last_chunk = (
        (SKIPPED_ROWS, skipped.take_rest()),
        (ROWS_WITHOUT_CURSOR, without_cursor.take_rest()),
    )
    if not any(count for _, count in after_last_chunk):
        return writer.totals
    counters = add_counters(writer.totals.counters, after_last_chunk)
    return replace(writer.totals, counters=counters)


def query_batches(
    config: PipelineConfig,
    from_row: int,
    batch_rows: int,
    *,
    query: CompiledQuery | None = None,
    selection: RowSelection | None = None,
    bad_rows: BadRowTally | None = None,
    without_cursor: RowsWithoutCursorTally | None = None,
    after_key: Sequence[object] | None = None,
    cancels: StatementCancels | None = None,
) -> Iterator[pl.DataFrame]:
    """Bounded source batches through the query and redaction stages (Polars expressions
    on each batch's lazy frame); only `selection`'s rows when one is given. Source rows
    skipped as unparseable are counted in `bad_rows` when given; a database source's
    statements in flight are cancelled by `cancels` when given; rows an increment can
    never send are counted in `without_cursor` when given. Batches are read on the
    caller's thread and, when redacted, queried and redacted on workers, handed on in
    order (the redactor's per-run memory is safe to share: see distinct_values.py)."""
    query = query or config.query
    # Redaction runs on batches of a few source batches (see REDACTED_TOGETHER).
    together = redacted_together(batch_rows, config.redactor.rewrites)
    raw = read_batches(
        config.source,
        config.source_schema,
        query.required_columns,
        batch_rows * together,
        from_row,
        bad_rows,
        after_key=after_key,
        cancels=cancels,
        every_column=query.every_column,
    )

    count_without_cursor = without_cursor is not None and query.without_cursor is not None

    def transform(batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        if selection is not None:
            batch = selection.keep(batch)
        # The batch is already bounded, so nothing is gained by streaming it in morsels;
        # the in-memory engine runs the redaction's batch function once per batch, not
        # once per morsel (moderate redaction: ~0.5 CPU s less per 1M rows).
        try:
            with polars_panics("querying and redacting the source's rows"):
                unsent = None
                if count_without_cursor and batch.height:
                    assert query.without_cursor is not None
                    unsent = rows_without_cursor(
                        batch, query.cursor, query.predicate, query.without_cursor
                    )
                redacted = config.redactor.apply(query.apply(batch.lazy()))
                return redacted.collect(engine="in-memory"), unsent
        except pl.exceptions.PolarsError as exc:
            failure = _query_failure(query, batch)
            if failure is None:
                raise
            raise failure from exc
        except PolarsPanicked:
            if not _query_panics(query, batch):
                raise  # the redaction's, or Polars' own: INTERNAL naming the stage
            raise InvalidArgument(
                "spec.query.where",
                "Polars panicked evaluating the query on the source's rows (a failure "
                "inside the library on a value, as when a time far out of range is cast "
                "to text); write the where another way",
            ) from None

    # Redaction (or a predicate) is worth two batches at once (text-heavy 1M, moderate:
    # ~16% less wall, the same CPU); a bare projection is not worth the hop to a worker
    # (jsonl+zstd with workers forced: no faster, ~0.06 CPU s more).
    workers = _TRANSFORM_WORKERS if config.redactor.rewrites or query.predicate is not None else 1
    batches = _first_in_pieces(raw, batch_rows) if together > 1 else raw
    for frame, unsent in in_order(transform, batches, workers, f"transform-{config.export_id}"):
        if unsent is not None and without_cursor is not None:
            without_cursor.record(unsent)  # in position order: on this thread
        # Slices are views: no copy (and none of an empty frame).
        for start in range(0, frame.height, batch_rows):
            yield frame.slice(start, batch_rows)


def _query_failure(query: CompiledQuery, batch: pl.DataFrame) -> FailedPrecondition | None:
    """When a batch fails in the transform, whether the caller's query alone fails on it
    (a `CAST(email AS INT)` over text that is no number): then the request was valid and
    the data is not, FAILED_PRECONDITION naming the error's type, never its message
    (Polars quotes the value). None: the query passes, so the failure is the daemon's."""
    try:
        query.apply(batch.lazy()).collect(engine="in-memory")
    except pl.exceptions.PolarsError as exc:
        return FailedPrecondition(
            "the query (spec.query.where, a time range or an incremental cursor) cannot be "
            f"evaluated on the source's rows ({type(exc).__name__}: an operation or CAST "
            "fails on some value); change the where so that it holds for every row's type"
        )
    return None


def _query_panics(query: CompiledQuery, batch: pl.DataFrame) -> bool:
    """When a batch panicked Polars in the transform, whether the caller's query alone
    does (its where: a time range's or a cursor's comparisons do not panic)."""
    if query.predicate is None:
        return False
    try:
        query.apply(batch.lazy()).collect(engine="in-memory")
    except pl.exceptions.PanicException:
        return True
    except pl.exceptions.PolarsError:
        return False
    return False


def _first_in_pieces(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """`frames`, the first cut into frames of `rows` (views, no copy): the encoder then
    starts once `rows` rows are redacted, as early as with batches of `rows`."""
    try:
        first = next(frames, None)
        if first is None:
            return
        for start in range(0, first.height, rows):
            yield first.slice(start, rows)
        yield from frames
    finally:
        # Closed with this generator (ordered_workers closes it on the reading thread):
        # the read behind it (a database cursor, a file) ends now, not when collected.
        if isinstance(frames, Generator):
            frames.close()


class _ChunkWriterThread:
    def __init__(
        self,
        config: PipelineConfig,
        sink: Sink,
        totals: PipelineProgress,
        observer: ExportObserver,
        options: PipelineOptions,
        stop: threading.Event,
    ) -> None:
        self._config = config
        self._stop = stop
        self._sink = sink
        self._observer = observer
        self._options = options
        self._queue: queue.Queue[object] = queue.Queue(maxsize=options.queue_depth)
        self._queued_bytes = ByteBudget(options.queue_bytes)
        # The writer and the committer run in the caller's context (a copy), so what they
        # log (storage retries) carries the export's log context (export_id, dataset).
        self._context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=self._context.run,
            args=(self._run,),
            name=f"writer-{config.export_id}",
            daemon=True,
        )
        self._failure: BaseException | None = None
        #: Set when the lease is lost, or unconfirmed (a renewal before a commit failed: a
        #: store that could not be asked cannot tell). The run's uploads are then handed
        #: over, never aborted: the replica that holds the export now may continue them,
        #: so every writer stops sending at once (its journal says so).
        self._handed_over = threading.Event()
        # The heartbeat finding the lease taken hands the uploads over too, and wakes
        # whatever waits for the hand-over (a part waiting to retry).
        hand_over_on_lease_lost(stop, self._handed_over)
        self._abandoned = threading.Event()
        #: Totals including every chunk written, committed or not.
        self.totals = totals
        self._open: OpenChunk | None = None
        # One committer: commits overlap the next chunk's writing, never each other.
        self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"commit-{config.export_id}")
        self._committing: Future[None] | None = None

    def start(self) -> None:
        self._thread.start()

    def put(self, item: object) -> None:
        # Bounded put with a poll, so a failed or stopped writer never leaves the reader
        # blocked.
        size = item.size if isinstance(item, Segment) else 0
        while size:
            self.raise_failure()
            if self._stop.is_set():
                raise Interrupted("export interrupted")
            if self._queued_bytes.take(size, _POLL_SECONDS):
                break
        while True:
            self.raise_failure()
            if self._stop.is_set():
                raise Interrupted("export interrupted")
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def abandon(self) -> None:
        self._abandoned.set()

    def join(self) -> None:
        self._thread.join()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        # The chunks' zstd streams, one after another on this thread, share a context.
        with zstd_contexts_reused():
            self._write_all()

    def _write_all(self) -> None:
        try:
            # Checking `stop` here too ends a shutdown after the current segment rather
            # than after everything queued behind it.
            while not (self._abandoned.is_set() or self._stop.is_set()):
                try:
                    item = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if item is _DONE:
                    self._await_commit()
                    return
                if isinstance(item, Segment):
                    self._queued_bytes.give_back(item.size)
                    self._write(item)
                elif isinstance(item, ChunkEnd):
                    self._finish(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader thread to raise
            self._fail(exc)
        finally:
            # The commit under way finishes (or refuses, when `stop` came first) before
            # the run ends: commits never outlive it.
            try:
                self._await_commit()
            except BaseException as exc:  # noqa: BLE001 - handed to the reader thread
                self._fail(exc)
            self._committer.shutdown()
            if self._open is not None:
                open_writer, self._open = self._open.writer, None
                try:
                    self._close_unfinished(open_writer, self._failure)
                except BaseException as exc:  # noqa: BLE001 - handed to the reader thread
                    self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        failure = translate_storage_error(exc) if isinstance(exc, StorageError) else exc
        if isinstance(failure, LeaseLost):
            # Found out here (a progress save refused, a refusal at the commit): no writer
            # of the run sends anything more from now on, not the commit under way either,
            # which the closing wait below lets finish.
            self._handed_over.set()
        if self._failure is None:
            self._failure = failure

    def _close_unfinished(self, writer: SinkWriter, failure: BaseException | None) -> None:
        """A shutdown keeps the stored parts of the chunk in flight for the next start
        (the caller then keeps its journal); a cancel or any `failure` discards them,
        except a lost lease, or one a failed renewal left unconfirmed: the run's uploads
        are then handed over (none of its writers sends anything more) and the replica
        that took the export over continues them. Either way a local temporary file
        goes now (stores that write through one)."""
        lost = isinstance(failure, LeaseLost) or self._handed_over.is_set()
        stopped = failure is None or isinstance(failure, Interrupted)
        if lost:
            self._handed_over.set()  # first, so the other writer stops sending too
            writer.suspend()
        elif stopped and keeps_uploads(self._stop):
            writer.suspend()
        else:
            writer.abort()

    def _chunk(self, index: int) -> OpenChunk:
        if self._open is None:
            key = self._config.chunk_key(index)
            writer: SinkWriter
            if self._sink.capabilities.resumable:
                # Resumable sinks continue a journalled upload and never overwrite
                # blindly: a replica that lost its lease without knowing yet may still be
                # completing a chunk the new holder journalled. A run writes only chunks
                # after the last journalled one, so no journal entry names an object
                # under this key: one a crash published unjournalled is kept when
                # identical, else replaced as stale (encoded by another Sluice, Polars
                # or pyarrow, or with other settings), fenced by this run's lease through
                # the journal, so a resume never fails on it for good.
                journal = _RunJournal(self._observer.upload_journal(key), self._handed_over)
                writer = self._sink.create(
                    key,
                    overwrite=False,
                    journal=journal,
                    replace_stale=self._options.replace_stale_chunks,
                )
            else:
                writer = self._sink.create(key, overwrite=True)
            self._open = OpenChunk(
                index,
                writer,
                make_compressor(
                    self._config, self._options.zstd_threads, self._config.chunk_stem(index)
                ),
                self._config.cipher.make(),
                self._options.content_key,
            )
        return self._open

    def _write(self, segment: Segment) -> None:
        if self._committing is not None and self._committing.done():
            self._await_commit()  # raises now if the previous chunk failed to commit
        try:
            self._chunk(segment.index).write_pieces(segment.pieces, segment.records)
        except UploadHandedOver:
            # Only the echo of a refused commit, when one handed the upload over: the run
            # fails with the refusal's own error (lost, or a store that could not be
            # asked), which the commit raises here. Otherwise the stop of a lost lease
            # did (LeaseLost).
            self._await_commit()
            raise
        in_flight = self._open
        assert in_flight is not None
        # Records and bytes count what is written; chunks only what is journalled (a
        # commit finishes its journal entry before its future is done).
        committing = self._committing is not None and not self._committing.done()
        self._observer.progress(
            replace(
                self.totals,
                records=self.totals.records + in_flight.records,
                chunks=self.totals.chunks - committing,
                stored_bytes=self.totals.stored_bytes + in_flight.stored,
                source_rows_done=segment.source_position,
            )
        )

    def _finish(self, end: ChunkEnd) -> None:
        # In order: the previous chunk is journalled before this one's commit starts (it
        # had all of this chunk's writing to finish).
        self._await_commit()
        chunk = self._chunk(end.index)
        # A Parquet tail may still be in the making: the reader is already encoding the
        # next chunk, whose segments wait in the queue behind this end. Each piece is
        # digested and stored as soon as it is made.
        for piece in end.tail:
            chunk.write(piece, 0)
        chunk.close()
        self._open = None
        self.totals = replace(
            self.totals,
            records=self.totals.records + end.records,
            chunks=self.totals.chunks + 1,
            stored_bytes=self.totals.stored_bytes + chunk.stored,
            source_rows_done=end.source_end,
            counters=add_counters(self.totals.counters, end.counters),
        )
        self._committing = self._committer.submit(
            self._context.copy().run, self._commit, chunk, end, self.totals
        )

    def _await_commit(self) -> None:
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.result()

    def _commit(self, chunk: OpenChunk, end: ChunkEnd, totals: PipelineProgress) -> None:
        """Make the written chunk durable, then journal it with the totals up to it;
        refused once `stop` is set (checked after before_commit, which may set it)."""
        try:
            self._observer.before_commit(end.index)
        except BaseException:
            # A refused commit leaves the lease lost or unconfirmed (a store that could
            # not renew it cannot tell): another replica may hold the export and resume
            # this chunk's journalled upload, so its stored parts are kept, never
            # aborted, and no part of any upload of the run is sent any more (this
            # chunk's, or the next one's, which the writer thread may be writing now and
            # closes after this). The writer is closed here, since no one else holds it
            # any more (a local temporary file would stay until the next run of the
            # export swept it).
            self._handed_over.set()
            self._close_unfinished(chunk.writer, None)
            raise
        if self._stop.is_set():
            # Past this check the chunk is published and must be journalled, or a
            # resume would write it again; before it, a stop costs only its rewrite. So
            # a stop lets at most the commit already under way finish, however many
            # chunks the writer has ready behind it. (Refused because of the stop, which
            # is not a failure.)
            self._close_unfinished(chunk.writer, None)
            raise Interrupted(f"export interrupted before chunk {end.index} was committed")
        started = time.monotonic()
        try:
            info = chunk.writer.commit()
        except ObjectExists as exc:
            # Refused only when the run may not replace a stale object (a manifest names
            # the export's chunks): other bytes under a named chunk's key are corruption.
            raise DataLoss(
                f"chunk {end.index} is stored with other bytes than this run produced, "
                "and a manifest names it"
            ) from exc
        commit_seconds = time.monotonic() - started
        if info.size != chunk.stored:
            raise DataLoss(f"chunk {end.index} stored {info.size} bytes, expected {chunk.stored}")
        result = ChunkResult(
            index=end.index,
            path=self._config.chunk_name(end.index),
            records=end.records,
            stored_bytes=chunk.stored,
            sha256=chunk.sha256.hexdigest(),
            content_digest=chunk.content.text(),
            source_start=end.source_start,
            source_end=end.source_end,
            committed_at=datetime.now(UTC),
            counters=end.counters,
            cursor_max=end.cursor_max,
            source_last_key=end.source_last_key,
            commit_seconds=commit_seconds,
        )
        try:
            self._observer.chunk_committed(result, totals)
        except LeaseLost:
            # The chunk is published, but the lease is gone: the writer thread may be
            # sending the next chunk's parts, which the new holder may be sending too.
            self._handed_over.set()
            raise


class _RunJournal:
    """A chunk's upload journal as the run hands it to the sink: handed over once the
    run knows its lease lost or unconfirmed (`handed_over`), or once the journal itself
    knows (the store's journal hears of a lease the heartbeat found taken). A write the
    journal refuses (its lease's fence, or a store that cannot be asked) hands every
    upload of the run over at once: the refusal is how the run may first hear that the
    lease is gone, while its other writer is sending a chunk's parts or completing it."""

    def __init__(self, journal: UploadJournal, handed_over: threading.Event) -> None:
        self._journal = journal
        self._run_handed_over = handed_over

    def load(self) -> str | None:
        return self._journal.load()

    def save(self, state: str) -> None:
        try:
            self._journal.save(state)
        except JournalRefused:
            self._run_handed_over.set()
            raise

    def clear(self) -> None:
        try:
            self._journal.clear()
        except JournalRefused:
            self._run_handed_over.set()
            raise

    def handed_over(self) -> bool:
        return self._run_handed_over.is_set() or self._journal.handed_over()

    def wait_handed_over(self, timeout: float) -> bool:
        # The run's event is set when its own journal's lease is lost too (the pipeline
        # links it to the stop), so this one wait covers both.
        return self.handed_over() or self._run_handed_over.wait(timeout) or self.handed_over()


def _sum_counters(chunks: Sequence[CommittedChunk]) -> Counters:
    total: Counters = ()
    for chunk in chunks:
        total = add_counters(total, chunk.counters)
    return total
