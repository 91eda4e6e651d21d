"""Encoders turn record batches into the bytes of one chunk file.

A fresh encoder is made per chunk, so every chunk is a complete, standalone file
(a CSV with its header, a JSON document, a Parquet or Arrow file with its footer).
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Final, cast

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.data_types import categoricals_as_text, without_categoricals
from sluice.server.pipeline.deflate import compression_workers

# Re-exported: the registry's users name the context and the contract from here too.
from sluice.server.pipeline.encoder_contract import ChunkContext as ChunkContext
from sluice.server.pipeline.encoder_contract import Encoder as Encoder
from sluice.server.pipeline.encoder_contract import SizeEstimate
from sluice.server.pipeline.formula_cells import formulas_as_text, header_as_text
from sluice.server.pipeline.markdown_encoding import MarkdownEncoder
from sluice.server.pipeline.ndjson_pages import current_pages
from sluice.server.pipeline.parquet_dictionary import dictionary_columns
from sluice.server.pipeline.parquet_stitch import (
    ParquetPart,
    ParquetStitcher,
    split_file,
    take_arrow_schema,
)
from sluice.server.pipeline.thrift_compact import ThriftStruct
from sluice.server.pipeline.xml_encoding import XmlEncoder
from sluice.server.pipeline.yaml_encoding import YamlEncoder


@dataclass(frozen=True)
class EncoderKind:
    name: str
    extension: str
    #: True when the format compresses internally, so no outer compressor applies.
    internal_compression: bool
    make: Callable[[ChunkContext], Encoder]
    #: The most rows the pipeline gives one `encode` call, for formats whose bytes do not
    #: depend on how the rows are split into calls (a record's text depends only on its
    #: values): a stop is seen between calls, so a cancel waits for one slice, not a whole
    #: batch (65,536 rows took PyYAML's representer ~20 s). None: whole batches (Parquet
    #: and Arrow write one row group / record batch per call).
    slice_rows: int | None = None
    #: The most rows of a chunk's first batch, for encoders that estimate their size
    #: (Encoder.size_estimate) from the bytes of the records they made: a small first row
    #: group is made soon, so the chunk's next batches can be cut to its target.
    first_batch_rows: int | None = None
    #: The Polars schema the manifest declares for records of a given schema: Arrow
    #: files hold categoricals as strings (ArrowIpcEncoder), so their manifests say so;
    #: the text formats declare the source's types, whatever their text spells.
    written_schema: Callable[[pl.Schema], pl.Schema] = lambda schema: schema


class _Spool(io.RawIOBase):
    """A write-only file that hands out what was written since the last drain."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self._parts.append(chunk)
        return len(chunk)

    def drain(self) -> bytes:
        return b"".join(self.drain_pieces())

    def drain_pieces(self) -> tuple[bytes, ...]:
        """What was written since the last drain, in the pieces it was written in."""
        out = tuple(self._parts)
        self._parts.clear()
        return out


def _nested_as_json(batch: pl.DataFrame) -> pl.DataFrame:
    """CSV has no nested values: write structs and lists as JSON text."""
    nested = [n for n, t in batch.schema.items() if t.is_nested()]
    if not nested:
        return batch
    return batch.with_columns(
        # Wrapping in a one-field struct reuses Polars' JSON writer for lists too.
        pl.struct(pl.col(n).alias("v")).struct.json_encode().str.slice(5).str.head(-1).alias(n)
        for n in nested
    )


class NdjsonEncoder(Encoder):
    def __init__(self, _: ChunkContext) -> None:
        pass

    def encode(self, batch: pl.DataFrame) -> bytes:
        # Written the plain way, not joined from encode_pieces: one buffer for those who
        # want one (tombstones), and the reference the pieces are held to
        # (tests/unit/test_encoder_contract.py), which a join could never disagree with.
        buffer = io.BytesIO()
        temporal_as_text(batch).write_ndjson(buffer)
        return buffer.getvalue()

    def encode_pieces(self, batch: pl.DataFrame) -> tuple[bytes | memoryview, ...]:
        """The bytes of `encode`: inside an export (ndjson_pages_reused) one view of
        the reused file Polars wrote them to (server/pipeline/ndjson_pages.py), else
        the few buffers Polars' writer hands over (a batch's ~30 MB in ~11 MB pieces).
        Kept apart, they reach the digests and the compressor as they are: a BytesIO,
        or a join, copied each batch once more into freshly mapped memory, whose page
        faults and copy cost ~0.2 CPU s per 1M events rows
        (benchmarks/encode_profile.py)."""
        text = temporal_as_text(batch)
        pages = current_pages()
        if pages is not None and (written := pages.write(text)) is not None:
            return written
        spool = _Spool()
        # A binary file to Polars, which only writes to it (typed as IO[bytes]).
        text.write_ndjson(cast(IO[bytes], spool))
        return spool.drain_pieces()

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


class JsonDocumentEncoder(Encoder):
    """One JSON document per chunk: {"metadata": {...}, "data": [records...]}, streamed."""

    def __init__(self, context: ChunkContext) -> None:
        self._header = (
            b'{"metadata":'
            + json.dumps(
                {
                    "format": "sluice-json-v1",
                    "export_id": context.export_id,
                    "dataset": context.dataset,
                    "chunk": context.index,
                },
                separators=(",", ":"),
            ).encode()
            + b',"data":[\n'
        )
        self._started = False

    def encode(self, batch: pl.DataFrame) -> bytes:
        buffer = io.BytesIO()
        temporal_as_text(batch).write_ndjson(buffer)
        # NDJSON escapes newlines inside values, so each line is exactly one record.
        body = buffer.getvalue().rstrip(b"\n").replace(b"\n", b",\n")
        if not body:
            return b""
        prefix = self._header if not self._started else b",\n"
        self._started = True
        return prefix + body

    def finish(self) -> bytes:
        return (b"" if self._started else self._header) + b"\n]}\n"

    def close(self) -> None:
        pass


class CsvEncoder(Encoder):
    def __init__(self, context: ChunkContext) -> None:
        self._header_written = False
        self._neutralise = context.neutralise_formulas

    def encode(self, batch: pl.DataFrame) -> bytes:
        buffer = io.BytesIO()
        header = not self._header_written
        if self._neutralise:
            batch = formulas_as_text(batch)
            if header:  # column names are cells of the spreadsheet too
                buffer.write(header_as_text(batch.columns))
                header = False
        _nested_as_json(temporal_as_text(batch)).write_csv(buffer, include_header=header)
        self._header_written = True
        return buffer.getvalue()

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


#: How many row groups a Parquet encoder holds back: encode() of batch k returns row group k - 3.
#: Fixed, never derived from the CPU count, so the bytes each call returns, and with them the chunk
#: boundaries a resumed export must find again, are the same on every machine. A change of it
#: changes the bytes, which a resume across the change survives: a stored part whose digests differ
#: is sent again, and a chunk object a crash completed but never journalled is replaced as stale
#: (chunks are written with replace_stale; journalled ones are never rewritten). Three behind
#: leave a row group queued whenever a worker of two frees: with two, a worker that finished while
#: the caller still waited for the older row group on the other one found the queue empty until the
#: caller had handed that one on and taken the next batch. Events, 1M rows, busy machine (load 7-9
#: on 2 cores, so the times are stretched): with two, a worker idled that way in 5 of 6 exports
#: (3-59 ms each); with three in none of 6. Waits for the reader (a batch not yet decoded) are
#: another matter, left as they were. The price is one more batch in flight: peak RSS +12 MiB
#: (events) and +35 MiB (text-heavy), 5 runs each.
PARQUET_ROW_GROUPS_BEHIND: Final = 3
#: Rows of a Parquet chunk's first row group: made while the caller takes the next batch
#: (~0.05 s for 8,192 events rows), it tells the chunk what a row costs before the row
#: groups held back do, so a chunk can end near its target even when the target is a few
#: batches' bytes (a 4 MiB target made 13.5 MiB chunks: four row groups were given before
#: the first one's size was known).
PARQUET_FIRST_ROWS: Final = 8192
#: Row groups being encoded at once, at most: the ones held back and the newest.
_PARQUET_IN_FLIGHT: Final = PARQUET_ROW_GROUPS_BEHIND + 1


def parquet_workers(configured: int) -> int:
    """Row groups a Parquet encoder encodes at once: `configured`, or 0 for one per CPU
    this process may use; never more than the row groups in flight (more would only sit
    idle).

    One less than the CPUs was tried: on a busy machine it looked cheaper (text-heavy,
    300k rows), but on the idle one it cost wall time everywhere: Polars-ceiling
    Parquet 0.59-0.63x -> 0.42-0.44x, a 10M-row Parquet export from a file 849k -> 646k
    rows/s (benchmarks/results/ceiling.md, flight.md). One worker cannot keep up with
    the reader on 2 cores."""
    if configured > 0:
        return min(configured, _PARQUET_IN_FLIGHT)
    return min(compression_workers(0), _PARQUET_IN_FLIGHT)


class ParquetEncoder(Encoder):
    """One row group per batch, each encoded by a worker thread as a standalone Parquet
    file (pyarrow releases the GIL but writes one file's row groups one at a time), then
    stitched into one file in batch order (see server/pipeline/parquet_stitch.py). The
    result is the file pyarrow's ParquetWriter writes for the same batches, byte for
    byte, whatever the number of workers."""

    def __init__(self, context: ChunkContext) -> None:
        self._context = context
        self._stitcher = ParquetStitcher()
        #: Row groups being encoded, oldest first; at most _PARQUET_IN_FLIGHT.
        self._pending: deque[Future[ParquetPart]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        #: The chunk's writer options and reference footer, made by a worker.
        self._setup: Future[_ChunkSetup] | None = None
        #: Rows of each pending row group; rows and bytes of each one returned.
        self._pending_rows: deque[int] = deque()
        self._made: list[tuple[int, int]] = []
        #: The chunk's first whole batch, to choose its dictionaries from (see `sample`).
        self._sample: pl.DataFrame | None = None

    def encode(self, batch: pl.DataFrame) -> bytes:
        return b"".join(self.encode_pieces(batch))

    def encode_pieces(self, batch: pl.DataFrame) -> tuple[bytes | memoryview, ...]:
        """The bytes of `encode`: the file's magic on the first call, then the row group
        of PARQUET_ROW_GROUPS_BEHIND calls before, as the view of the file Arrow wrote
        that it is."""
        header = b""
        if self._pool is None or self._setup is None:
            workers = parquet_workers(self._context.workers)
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="parquet")
            # First in the pool's queue, so a worker has taken it before any row group
            # waits for it; its failure (an unwritable schema) surfaces as theirs. Made
            # there, not here: the dictionary choice (~12-15 ms per 65k-row batch) held
            # up the caller, who meanwhile reads the next batch for the other worker.
            first = self._sample if self._sample is not None else batch
            self._setup = self._pool.submit(_chunk_setup, first, self._context)
            self._sample = None
            header = self._stitcher.start()
        self._pending.append(self._pool.submit(_parquet_row_group, batch, self._setup))
        self._pending_rows.append(batch.height)
        if len(self._pending) <= PARQUET_ROW_GROUPS_BEHIND:
            return (header,) if header else ()
        return (header, *self._next()) if header else self._next()

    def sample(self, rows: pl.DataFrame) -> None:
        """Dictionaries are chosen from these rows, the chunk's whole first batch, not
        from its small first row group (PARQUET_FIRST_ROWS): a column with ~10k distinct
        values in 65,536 rows repeats enough there, not in 8,192, and lost its dictionary
        for the whole chunk (+15% bytes)."""
        self._sample = rows

    def size_estimate(self, *, settled: bool = False) -> SizeEstimate | None:
        """The rows of the row groups held back, and the bytes per row of the ones
        returned, or of the chunk's first row group (waited for) before any is.
        `settled`: waits for every held row group; their bytes exactly, and the bytes per
        row of the chunk's row groups after its small first one (if any is made)."""
        try:
            if settled:
                held = [len(part.result().data) for part in self._pending]
                sizes = [*self._made, *zip(self._pending_rows, held, strict=True)]
                later = sizes[1:] or sizes
                rows = sum(r for r, _ in later)
                if not rows:
                    return None
                per_row = sum(b for _, b in later) / rows
                return SizeEstimate(sum(self._pending_rows), per_row, sum(held))
            if self._made:
                made, rows = sum(b for _, b in self._made), sum(r for r, _ in self._made)
            elif self._pending:
                made, rows = len(self._pending[0].result().data), self._pending_rows[0]
            else:
                return None
        except BaseException:
            self.close()
            raise
        return SizeEstimate(sum(self._pending_rows), made / max(1, rows))

    def finish(self) -> bytes:
        if self._pool is None:
            return b""
        try:
            return b"".join(_file_end(self._pending, self._stitcher))
        finally:
            self.close()

    def finish_in_pieces(self) -> Iterator[bytes | memoryview]:
        """The row groups still held back, each as the view of its file once its worker
        is done, then the page index and footer (made by the thread taking them): the
        pipeline's writer digests and stores each while the next is still encoded. The
        encoder is spent: `close` no longer touches the queued work, and the workers end
        once it is done.

        With one future of the whole tail (made on the workers), the writer started on the
        chunk's last ~7.5 MB (three row groups of 65,536 events rows, the footer) only
        once the last row group was made, and the export's end waited for it; now the
        first of them is stored while the last two are encoded, and ~4 MB are left after
        the last one (benchmarks/_stage_trace_serve.py). Events, 1M rows, warm exports on
        a machine at load 7-11, median of 5-6 per run, alternating: the writer done 17 /
        28 / 33 ms after the last row group's end, against 40 / 34 / 32 ms before."""
        pool, pieces = self._spend()
        if pool is not None:
            pool.shutdown(wait=False)  # queued row groups still run; then the workers end
        return pieces

    def close(self) -> None:
        self._pending.clear()
        self._pending_rows.clear()
        if self._pool is not None:
            # Queued row groups are cancelled; workers finish the one in hand (pyarrow
            # cannot be interrupted), then end.
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _spend(self) -> tuple[ThreadPoolExecutor | None, Iterator[bytes | memoryview]]:
        """The pool, handed over with the encoder's queued row groups (their pieces and
        the footer, as _file_end makes them): the encoder no longer holds either."""
        pool, self._pool = self._pool, None
        pending, self._pending = self._pending, deque()
        self._pending_rows = deque()
        return pool, _file_end(pending, self._stitcher) if pool is not None else iter(())

    def _next(self) -> tuple[bytes | memoryview, ...]:
        """The oldest row group's bytes, waiting for its worker if needed."""
        try:
            part = self._pending.popleft().result()
            self._made.append((self._pending_rows.popleft(), len(part.data)))
            return self._stitcher.add_pieces(part)
        except BaseException:
            self.close()
            raise


def _file_end(
    pending: deque[Future[ParquetPart]], stitcher: ParquetStitcher
) -> Iterator[bytes | memoryview]:
    """The row groups still pending, in order, each once its worker is done, then the
    page index and footer."""
    for part in pending:
        yield from stitcher.add_pieces(part.result())
    yield stitcher.finish()


@dataclass(frozen=True)
class _ChunkSetup:
    #: pyarrow's write_table options, the same for every row group of the chunk.
    options: dict[str, Any]
    #: The FileMetaData of the chunk's schema as to_arrow types it (see _arrow_table).
    reference: ThriftStruct


#: How large a column's dictionary may grow in a row group before pyarrow writes the rest
#: of the column plain (pyarrow's default: 1 MiB). The encoder gives a dictionary only to
#: columns that repeat (parquet_dictionary), so past 1 MiB the values are long, not
#: distinct: the demo events' messages (18k distinct of 65,536, 3 MB of dictionary) hit it
#: a third of the way in, and each row group then paid for building the dictionary and
#: for compressing the rest as plain text (6.5 MB instead of 3.1 per row group through
#: zstd). With 8 MiB: events 1M rows 51.9 -> 50.4 MB, the encoder's CPU -0.02 to -0.04 s,
#: the text-heavy file unchanged (no dictionary there reaches 1 MiB). A dictionary page is
#: read whole, so the limit stays bounded: past it pyarrow still falls back.
PARQUET_DICTIONARY_PAGE_LIMIT: Final = 8 * 1024 * 1024


def _chunk_setup(first: pl.DataFrame, context: ChunkContext) -> _ChunkSetup:
    codec = context.codec if context.codec != "none" else None
    options = {
        "compression": codec or "none",
        "compression_level": context.level if codec else None,
        # Decided once per chunk, from its first whole batch (see parquet_dictionary).
        "use_dictionary": dictionary_columns(first),
        "dictionary_pagesize_limit": PARQUET_DICTIONARY_PAGE_LIMIT,
    }
    return _ChunkSetup(options, _reference_metadata(first, options))


def _parquet_row_group(batch: pl.DataFrame, setup: Future[_ChunkSetup]) -> ParquetPart:
    """`batch` as a standalone one-row-group Parquet file, taken apart for stitching."""
    # Converted before waiting: the first row group's conversion overlaps the chunk's
    # dictionary choice on the other worker.
    table = _arrow_table(batch)
    chunk = setup.result()
    # Written into Arrow's memory, not a BytesIO: Arrow handed each page over as a new
    # Python bytes object, which the BytesIO copied again into a buffer it grew by
    # realloc, and the row group was then cut out of it and joined to the magic: three
    # copies into freshly faulted-in pages. Arrow's pool (mimalloc) reuses its pages from
    # one row group to the next. Warm 1M-row PostgreSQL -> Parquet export, daemon CPU
    # 0.695 -> 0.65 s, minor page faults ~35k -> ~20k (benchmarks/postgres_daemon_cpu.py).
    out = pa.BufferOutputStream()
    # One row group per batch keeps memory per chunk bounded by the batch size.
    pq.write_table(table, out, row_group_size=max(1, table.num_rows), **chunk.options)
    # One copy of exactly the file's size, and the row group leaves as a view of it (see
    # ParquetStitcher.add_pieces): Arrow's stream grows by doubling and keeps its
    # capacity, so a view of Arrow's buffer held up to twice the bytes the export queue
    # counts for it (a 4.4 MB row group held 8.4 MB). Measured against that view: the
    # same CPU (0.657 vs 0.651 s), peak RSS ~20 MiB lower.
    part = split_file(out.getvalue().to_pybytes())
    take_arrow_schema(part, chunk.reference)
    return part


def _reference_metadata(batch: pl.DataFrame, options: dict[str, Any]) -> ThriftStruct:
    """The FileMetaData pyarrow writes for `batch`'s columns as to_arrow types them (large
    strings, not views), with the chunk's options: every row group's footer takes its
    Arrow schema from here (take_arrow_schema). An empty table: ~1 ms, once per chunk."""
    out = io.BytesIO()
    pq.write_table(batch.clear().to_arrow(), out, row_group_size=1, **options)
    return split_file(out.getvalue()).metadata


#: Arrow types pyarrow writes to Parquet as they come from Polars' C stream, beside the
#: type to_arrow exports them as: the same Parquet column either way (take_arrow_schema).
#: Only at the top level: pyarrow cannot yet write a view inside a list ("Slicing not
#: implemented for StringView"), so nested views are cast.
_WRITTEN_AS_VIEWS: Final = {
    pa.large_string(): pa.string_view(),
    pa.large_binary(): pa.binary_view(),
}


def _arrow_table(batch: pl.DataFrame) -> pa.Table:
    """The batch for pyarrow's Parquet writer, made on the calling worker's thread and for
    less CPU than `batch.to_arrow()`, into a file of the same bytes.

    Polars' to_arrow copies every string out of its views on Polars' own thread pool,
    which the source's reader keeps busy decoding: a worker's row group waited there
    behind the reader (its thread ran 0.5 ms of a 65k-row conversion's ~11 ms). The
    views come through the Arrow C stream as they are instead, without a copy. Top-level
    string and binary columns stay views, which pyarrow writes as the same Parquet
    columns (the footer's Arrow schema is put back to to_arrow's by the caller); the
    other columns are cast by Arrow to to_arrow's types. Casting the string columns too
    cost ~0.09 CPU s per 1M events rows (a copy of every string into fresh pages).
    A frame in several chunks keeps to_arrow: the stream hands it over as one chunk, and
    pyarrow's fallback from a full dictionary can then land elsewhere (seen with
    use_dictionary=True on 20k text-heavy rows); the encoder's batches come in one."""
    if any(chunks > 1 for chunks in batch.n_chunks("all")):
        return batch.to_arrow()
    types = batch.clear().to_arrow().schema
    # Not pa.table(batch): it asks whether the batch is a pandas frame first, which
    # imports pandas (~0.16 CPU s, once per daemon: the 1,000-row gauge's 0.15 s).
    table = pa.RecordBatchReader.from_stream(batch).read_all()
    if table.schema == types:
        return table
    fields, columns = [], []
    for field, column in zip(types, table.columns, strict=True):
        if column.type == _WRITTEN_AS_VIEWS.get(field.type):
            field = field.with_type(column.type)
        elif column.type != field.type:
            column = column.cast(field.type)
        fields.append(field)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=types.metadata))


def _only_these_rows(table: pa.Table) -> pa.Table:
    """The table with the columns whose written buffers could reach past its rows copied
    into buffers of its rows alone.

    A batch is often a slice of a larger frame, and the IPC writer writes a sliced column's
    buffers only trimmed to whole bytes or to its offsets: a struct or list column kept
    other rows' values (a chunk of rows 300-600 held row 600's request.referrer, and the
    values under null list slots went along), and a validity bitmap kept the bits of the
    rows after the last one in its final byte, as a boolean's values did. Those bytes broke
    the contract that a resumed export stores the same chunks, and stored data from outside
    the chunk. `take` writes fresh buffers of the rows it picks. Other flat columns without
    nulls are written without a bitmap and trimmed to their rows, so they are left alone
    (events, 1M rows to arrow in 65,536-row slices: +0.14 CPU s when every column was
    copied; copying the struct device alone +0.036 CPU s on 0.45, 0.034 of it the take)."""
    rows: pa.Array | None = None
    for position, field in enumerate(table.schema):
        column = table.column(position)
        if _may_reach_past_its_rows(field.type) or column.null_count:
            # Polars builds the indices natively; pa.array(range(n)) went through a Python
            # int per row (~4-7 ms CPU per 65k-row batch, against ~0.02 ms).
            rows = rows if rows is not None else pl.int_range(table.num_rows, eager=True).to_arrow()
            table = table.set_column(position, field, column.take(rows))
    return table


def _may_reach_past_its_rows(kind: pa.DataType) -> bool:
    """Whether a column of this type without nulls can still be written with other rows'
    bytes: a struct or list keeps its children whole, and a boolean's values are a bitmap
    written whole bytes at a time (at offset 0 the final byte kept the next rows' bits; at
    other offsets the writer shifts them into a fresh one). Fixed-width columns (a
    dictionary's indices too) are trimmed to their rows. A sliced pyarrow string column
    would not be (its values ran on past the slice), but to_arrow copies Polars' string
    views into fresh buffers of the batch's rows, so those come without other rows."""
    return bool(pa.types.is_nested(kind) or pa.types.is_boolean(kind))


class ArrowIpcEncoder(Encoder):
    def __init__(self, _: ChunkContext) -> None:
        self._spool = _Spool()
        self._writer: ipc.RecordBatchFileWriter | None = None

    def encode(self, batch: pl.DataFrame) -> bytes:
        # An IPC file holds one dictionary per column, and Polars hands each batch's
        # categoricals over with a dictionary of their own values only: a chunk of two
        # batches failed ("Dictionary replacement detected"). Written as strings (Enum
        # keeps its dictionary, the same in every batch).
        batch = categoricals_as_text(batch)
        table = _only_these_rows(batch.to_arrow(compat_level=pl.CompatLevel.oldest()))
        if self._writer is None:
            self._writer = ipc.new_file(self._spool, table.schema)
        self._writer.write_table(table)
        return self._spool.drain()

    def finish(self) -> bytes:
        if self._writer is not None:
            self._writer.close()
        return self._spool.drain()

    def close(self) -> None:
        pass


#: Rows per encode call of the formats for people (xml, yaml, markdown): ~0.07 CPU s of
#: YAML or XML for the demo's events (300k rows: 2.8 s). Smaller slices cost more per row
#: (131k events rows, one core: YAML 0.92 s in 65,536-row calls, 1.14 s in 8,192-row ones,
#: 2.26 s in 2,048-row ones).
TEXT_SLICE_ROWS: Final = 8192

ENCODERS: dict[str, EncoderKind] = {
    kind.name: kind
    for kind in (
        EncoderKind("jsonl", "jsonl", False, NdjsonEncoder),
        EncoderKind("json", "json", False, JsonDocumentEncoder),
        EncoderKind("csv", "csv", False, CsvEncoder),
        EncoderKind(
            "parquet", "parquet", True, ParquetEncoder, first_batch_rows=PARQUET_FIRST_ROWS
        ),
        EncoderKind("arrow", "arrow", False, ArrowIpcEncoder, written_schema=without_categoricals),
        EncoderKind("xml", "xml", False, XmlEncoder, slice_rows=TEXT_SLICE_ROWS),
        EncoderKind("yaml", "yaml", False, YamlEncoder, slice_rows=TEXT_SLICE_ROWS),
        EncoderKind("markdown", "md", False, MarkdownEncoder, slice_rows=TEXT_SLICE_ROWS),
    )
}

#: Formats asked for by name that Sluice refuses on purpose, and why (the error says it).
REFUSED_FORMATS: dict[str, str] = {
    "pickle": "pickle is not offered: loading a pickle runs code chosen by whoever wrote "
    "it, so an export in it could not be opened safely; use arrow or parquet (typed, "
    "columnar, readable from Python with pyarrow or polars)",
}


def arrow_schema(schema: pl.Schema) -> pa.Schema:
    """The Arrow schema records of this Polars schema are exported with."""
    return pl.DataFrame(schema=schema).to_arrow().schema
