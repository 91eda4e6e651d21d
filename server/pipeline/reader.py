"""Bounded reading of a source: frames of at most `batch_rows` rows, in file order, with
their row positions, starting at any row.

Why not Polars' collect_batches: its streaming engine decodes ahead of a slow consumer
without backpressure, so peak memory grows with the source (measured: 718 MiB at 1M rows,
3.6 GiB at 10M). Reading here pulls one batch at a time, so memory follows configuration:
for local Parquet one batch-sized slice, for cloud Parquet at most one row group, for
NDJSON one block, for CSV and IPC one batch.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import nullcontext
from functools import partial
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileOpener

from sluice.server.errors import SluiceError, safe_traceback
from sluice.server.pipeline import csv_parsing, database_source
from sluice.server.pipeline.bad_rows import BadRowTally, HeldBadRows, SourceDataError
from sluice.server.pipeline.compressed_files import refusal, sniffed
from sluice.server.pipeline.csv_parsing import CsvOptions
from sluice.server.pipeline.database_keys import resume_columns
from sluice.server.pipeline.fixed_offsets import holds_fixed_offset, with_utc_instants
from sluice.server.pipeline.footer_schemas import stored_schema
from sluice.server.pipeline.key_order import KeyOrderCheck
from sluice.server.pipeline.later_file_schemas import FileSchemaCheck
from sluice.server.pipeline.long_lines import line_end, read_line
from sluice.server.pipeline.narrowed_values import NarrowedColumns
from sluice.server.pipeline.ndjson_arrow_frames import arrow_frame
from sluice.server.pipeline.ndjson_fields import FieldCheck, field_check
from sluice.server.pipeline.row_errors import DATA_ERRORS, FileRows, csv_error
from sluice.server.pipeline.source import ROW_INDEX, ResolvedSource, file_opener
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.server.pipeline.stream_source import read_stream
from sluice.server.pipeline.unreadable_columns import survey_files
from sluice.server.storage_errors import storage_errors
from sluice.sinks.retry import RetryPolicy

_log = logging.getLogger(__name__)
#: A database connection lost mid-read is re-opened this many times in all.
READ_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=5.0)

#: Bytes read per NDJSON block (cut at the last newline, so records are never split).
NDJSON_BLOCK_BYTES = 16 * 1024 * 1024


def read_batches(
    source: ResolvedSource,
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    from_row: int = 0,
    bad_rows: BadRowTally | None = None,
    *,
    after_key: Sequence[object] | None = None,
    cancels: StatementCancels | None = None,
    every_column: bool = False,
) -> Iterator[pl.DataFrame]:
    """Yield frames [ROW_INDEX, *columns] of at most `batch_rows` rows, skipping rows
    before `from_row` (without decoding them where the format allows). A database
    source's statements in flight are cancelled by `cancels` (when given).

    A row that cannot be parsed raises SourceDataError naming the file, line and column,
    never the data; under on_bad_rows "skip" it is left out instead, and counted in
    `bad_rows` when given. An NDJSON field the schema lacks fails its file rather than
    being left out (ndjson_fields): a top-level one when the export takes `every_column`
    (none chosen), one inside a struct when its column is read."""
    data_schema = pl.Schema({n: t for n, t in schema.items() if n != ROW_INDEX})
    if source.database is not None:
        yield from _database_batches(
            source, data_schema, columns, batch_rows, from_row, after_key, cancels, bad_rows
        )
        return
    if source.stream is not None:
        for start, batch in read_stream(source.stream, max(from_row, 0)):
            for offset in range(0, batch.num_rows, batch_rows):
                piece = _cast(_frame(batch.slice(offset, batch_rows)), data_schema)
                yield _with_positions(piece, columns, start + offset, pl.Int64())
        return
    read_file = _READERS[source.format]
    if source.format == "csv" and source.tabs:
        read_file = partial(_csv, separator="\t")
    check = None
    if source.format == "ndjson":
        read_file = partial(_ndjson, fields=field_check(data_schema, columns, every_column))
    else:
        declared = [name for name, _ in source.column_types]
        first = source.file_shown(source.files[0]) if source.files else ""
        check = FileSchemaCheck(data_schema, columns, every_column, declared, first)
        read_file = partial(read_file, check=check)
    _check_every_file(source, columns, cancels, check)
    open_file = file_opener(source)
    position = 0
    for path in source.files:
        rows = FileRows(source.file_shown(path), source.on_bad_rows == "skip", bad_rows, position)
        # Cloud files are read in ranges while the frames are decoded: a storage error
        # can come from any read, and becomes a domain error here.
        with (
            source.errors_logged(path),
            storage_errors(),
            _opened(open_file, path, rows.file, not source.in_cloud) as handle,
        ):
            options = {}
            if source.in_cloud and source.format == "parquet":
                # Read by the survey or the row count already (parquet_footers).
                options["footer"] = source.footers.read(path, handle)
            pieces = read_file(
                handle,
                data_schema,
                columns,
                batch_rows,
                from_row - position,
                rows,
                source.max_record_bytes,
                **options,
            )
            read = 0
            while True:
                try:
                    start, frame = next(pieces)
                except StopIteration as done:
                    position += done.value  # the file's row count
                    break
                except SluiceError:
                    raise
                except (*DATA_ERRORS, RecursionError) as exc:
                    # Polars and Arrow quote the data they failed on: only the kind of
                    # error and where it happened leave this frame.
                    raise rows.unreadable(exc, read) from None
                except pl.exceptions.PanicException as exc:
                    # Polars' Parquet reader panics on pages that are not where the
                    # footer it read said (a file rewritten or cut in place mid-export),
                    # or on a corrupt file, or on a bug of its own: logged (type and
                    # frames, never the panic's text, which may quote data).
                    _log.warning(
                        "%s: the reader panicked after row %d:\n%s",
                        rows.file,
                        read,
                        safe_traceback(exc),
                    )
                    raise rows.undecodable(exc, read) from None
                except OSError as exc:
                    if source.in_cloud or not _vanished(exc):
                        # Cloud reads fail as storage errors; a timeout or a lost
                        # connection (a network mount) is transient, a disk or a process
                        # limit is the server's: as any other failure (as_domain_error).
                        raise
                    raise rows.changed(exc, read) from None
                read = start + frame.height
                yield _with_positions(frame, columns, position + start, schema[ROW_INDEX])


def _check_every_file(
    source: ResolvedSource,
    columns: Sequence[str],
    cancels: StatementCancels | None,
    check: FileSchemaCheck | None,
) -> None:
    """A glob's Parquet or IPC files, each up to its footer, before any row is read:
    planning looked at the first file only, and a later file's column Polars cannot hold
    (a decimal256) or whose schema differs from the plan's (`check`) failed the export
    once its rows were reached, after the chunks of the files before it. A stop
    (`cancels` fired) ends it between two files (Interrupted): a cancelled export's
    reader read every footer of a long cloud glob first."""
    if len(source.files) <= 1:
        return  # planning checked it
    stopped = threading.Event()

    def compare(path: str, schema: pa.Schema) -> None:
        if check is not None:
            with source.errors_logged(path):
                check.stored(source.file_shown(path), schema, None)

    with nullcontext() if cancels is None else cancels.cancelling(stopped.set):
        problem = survey_files(source, source.files, columns, stopped, compare).problem
    if problem is not None:
        raise SourceDataError(problem)


#: errno values of a file that is no longer there (ESTALE: gone from a network mount).
_VANISHED = frozenset({errno.ENOENT, errno.ESTALE})
#: errno values of the server's own limits, never the file's fault.
_SERVER_LIMITS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def _vanished(error: OSError) -> bool:
    """Whether a local read failed because the file is gone (deleted or renamed)."""
    return isinstance(error, FileNotFoundError) or error.errno in _VANISHED


def _opened(
    open_file: Callable[[str], IO[bytes]], path: str, shown_as: str, local: bool
) -> IO[bytes]:
    """A source file opened; a `local` one that is gone (deleted or renamed since the
    export was planned: a glob's later file, say) or that the server may not open is a
    SourceDataError naming it. A timeout or a lost connection (a network mount) and the
    server's own limits (too many open files) go through as they are (transient, or
    internal: as_domain_error); a cloud file's errors are storage errors."""
    try:
        return open_file(path)
    except OSError as exc:
        if not local or isinstance(exc, TimeoutError | ConnectionError):
            raise
        if exc.errno in _SERVER_LIMITS:
            raise
        if _vanished(exc):
            raise SourceDataError(
                f"{shown_as}: the source file is gone (deleted or renamed since the "
                "export was planned); the chunks written so far stay: resume once it is "
                "back, or start a new export"
            ) from None
        raise SourceDataError(
            f"{shown_as}: cannot open the source file ({type(exc).__name__}: "
            f"{exc.strerror or 'error'})"
        ) from None


def _database_batches(
    source: ResolvedSource,
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    from_row: int,
    after_key: Sequence[object] | None,
    cancels: StatementCancels | None,
    bad_rows: BadRowTally | None,
) -> Iterator[pl.DataFrame]:
    """A database source in its key order, from row `from_row`: after `after_key` (the
    order key of the last exported row) when given, else by OFFSET. Under on_bad_rows
    "skip" a row holding a value the export cannot hold is left out, counted in
    `bad_rows` when given.

    A connection lost mid-read (a transient error) is retried: the read continues after
    the last row handed on, in a new snapshot, when the order columns are read (the
    plan reads them whenever the key can be journalled); otherwise the export fails and
    resumes from its journal. The rows skipped after the last row handed on are read
    again then, and counted once (HeldBadRows)."""
    read = source.database
    assert read is not None
    position = max(from_row, 0)
    # The values a resumed read continues after (SQLite: hidden copies of the stored
    # values, see database_keys.resume_columns), when the plan reads them.
    key_columns = resume_columns(read.kind, read.order_by, schema)
    keyed = bool(key_columns) and all(column in columns for column in key_columns)
    if not keyed:
        key_columns = read.order_by
    read_keys = all(column in columns for column in key_columns)
    ties = (
        KeyOrderCheck(key_columns, read.order_hint) if read_keys and not read.unique_order else None
    )
    failures = 0
    held = HeldBadRows(bad_rows)
    skipped = held.hold if source.on_bad_rows == "skip" else None
    while True:
        frames = database_source.read_frames(
            read, schema, columns, batch_rows, position, after_key, cancels, skipped
        )
        try:
            for frame in frames:
                if ties is not None:
                    ties.check(frame)
                if keyed and frame.height:
                    after_key = frame.select(key_columns).row(-1)
                held.release_before(position + frame.height)
                yield _with_positions(_cast(frame, schema), columns, position, pl.Int64())
                position += frame.height
            held.release_all()
            return
        except SluiceError as exc:
            held.drop()
            failures += 1
            # DuckDB and PostgreSQL compare a NULL in a row value to NULL: no rows.
            nulls = after_key is not None and read.kind != "sqlite" and None in after_key
            if not (exc.transient and keyed and not nulls and failures < READ_RETRIES.max_attempts):
                raise
            delay = random.uniform(0.0, READ_RETRIES.delay_cap(failures - 1))  # noqa: S311
            _log.warning(
                "database source read failed at row %d (%s); continuing after its last row "
                "in a new snapshot in %.2fs",
                position,
                exc.message,
                delay,
            )
            time.sleep(delay)


#: A file reader yields (first row position in the file, frame) and returns its row count.
FileReader = Generator[tuple[int, pl.DataFrame], None, int]


def _with_positions(
    frame: pl.DataFrame, columns: Sequence[str], start: int, dtype: pl.DataType
) -> pl.DataFrame:
    positions = pl.int_range(start, start + frame.height, dtype=pl.Int64, eager=True)
    return frame.select(columns).insert_column(0, positions.cast(dtype).alias(ROW_INDEX))


def _parquet(
    handle: IO[bytes],
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    rows: FileRows,
    record_bytes: int,
    check: FileSchemaCheck | None = None,
    footer: pq.FileMetaData | None = None,
) -> FileReader:
    local = _local_path(handle)
    # pre_buffer=False: the default would buffer whole column chunks ahead of need.
    # The footer only, unless given (parquet_footers).
    parquet = pq.ParquetFile(handle, pre_buffer=False, metadata=footer)
    narrowed = None
    if check is not None:
        narrowed = check.stored(rows.file, parquet.schema_arrow, parquet.metadata)
    if local is not None and not holds_fixed_offset(parquet.schema_arrow):
        # Polars' own reader panics on a fixed-offset zone (fixed_offsets): such a file
        # is read through Arrow, as a cloud one is.
        metadata = parquet.metadata
        return (
            yield from _local_parquet(local, metadata, schema, columns, batch_rows, skip, narrowed)
        )
    offset = 0
    for group in range(parquet.num_row_groups):
        group_rows = parquet.metadata.row_group(group).num_rows
        if offset + group_rows <= skip:
            offset += group_rows  # already exported: not even decoded
            continue
        batches = parquet.iter_batches(
            batch_size=batch_rows, row_groups=[group], columns=list(columns) or None
        )
        for batch in batches:
            frame = _cast(pl.from_arrow(with_utc_instants(batch)), schema, narrowed)
            yield from _skip_rows(offset, frame, skip)
            offset += batch.num_rows
    return offset


def _local_path(handle: IO[bytes]) -> str | None:
    """The path of a local file opened through fsspec, else None."""
    path = getattr(handle, "path", None)
    if isinstance(handle, LocalFileOpener) and isinstance(path, str) and os.path.isfile(path):
        return path
    return None


def _local_parquet(
    path: str,
    metadata: pq.FileMetaData,
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    narrowed: NarrowedColumns | None = None,
) -> FileReader:
    """A local Parquet file through Polars' own reader, one slice of `batch_rows` at a time
    (it decodes only the pages a slice needs): decoding straight into Polars' string
    views costs about half of Arrow's reader followed by pl.from_arrow, which copies every
    string once more.

    Slices follow the file's row groups: a slice starting inside a row group decodes
    that row group's pages from its start, so reading a 262,144-row group as four
    batch-sized slices decoded it about two and a half times (a third of an export's
    read CPU). Each row group is read in pieces of up to PARQUET_READ_BATCHES batches
    and handed on in batches, so memory stays a few batches, whatever the file. The
    first piece is one batch (see first_batch_alone)."""
    scan = pl.scan_parquet(path, glob=False, hive_partitioning=False)
    if columns:
        scan = scan.select(columns)
    start = max(skip, 0)
    pieces = row_group_pieces(metadata, batch_rows * PARQUET_READ_BATCHES)
    for low, high in first_batch_alone(pieces, start, batch_rows):
        piece = _cast(scan.slice(low, high - low).collect(), schema, narrowed)
        for offset in range(0, piece.height, batch_rows):
            yield low + offset, piece.slice(offset, batch_rows)
    return int(metadata.num_rows)


#: Batches a local Parquet file is decoded in at once, at most (within one row group).
PARQUET_READ_BATCHES = 4


def first_batch_alone(
    pieces: Iterable[tuple[int, int]], start: int, batch_rows: int
) -> Iterator[tuple[int, int]]:
    """`pieces` from row `start` on, the first one cut after one batch: nothing
    downstream (the encoder's workers) can begin before the first batch arrives, and
    decoding a whole piece first left a core idle for most of it (text-heavy, 1M rows:
    about 140 ms for a 262,144-row piece, 20 ms for its first 65,536 rows). The rest of
    that piece decodes the first batch's pages once more (about 10 ms of CPU), once per
    export."""
    first = True
    for low, high in pieces:
        if high <= start:
            continue
        low = max(low, start)
        if first and high - low > batch_rows:
            yield low, low + batch_rows
            low += batch_rows
        first = False
        yield low, high


def row_group_pieces(metadata: pq.FileMetaData, max_rows: int) -> Iterator[tuple[int, int]]:
    """[start, end) row ranges of at most `max_rows` that never cross a row group's edge."""
    first = 0
    for group in range(metadata.num_row_groups):
        end = first + metadata.row_group(group).num_rows
        for low in range(first, end, max_rows):
            yield low, min(low + max_rows, end)
        first = end


def _ipc_batches(handle: IO[bytes]) -> Iterator[pa.RecordBatch]:
    handle.seek(0)
    try:
        file_reader = pa_ipc.open_file(handle)
    except pa.ArrowInvalid:
        handle.seek(0)
        yield from pa_ipc.open_stream(handle)
        return
    for index in range(file_reader.num_record_batches):
        yield file_reader.get_batch(index)


def _ipc(
    handle: IO[bytes],
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    rows: FileRows,
    record_bytes: int,
    check: FileSchemaCheck | None = None,
) -> FileReader:
    narrowed = None
    if check is not None:
        try:
            stored = stored_schema(handle, "ipc")
        except pa.ArrowInvalid:
            stored = None  # not an Arrow file: reading it says so
        if stored is not None:
            narrowed = check.stored(rows.file, stored, None)
    batches = _ipc_batches(handle)
    if columns:
        # Only the columns read are converted: another may be of a type Polars cannot hold.
        batches = (batch.select(list(columns)) for batch in batches)
    return (yield from _arrow_pieces(batches, schema, batch_rows, skip, rows, narrowed))


def _ndjson(
    handle: IO[bytes],
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    rows: FileRows,
    record_bytes: int,
    fields: FieldCheck | None = None,
) -> FileReader:
    _refuse_compressed(handle, rows)
    offset = 0
    for first_line, block in _line_blocks(handle, record_bytes, rows):
        table, suspect = fields.parse(block) if fields is not None else (None, False)
        frame = None
        if table is not None and not suspect:
            frame = arrow_frame(table, block, schema)
        del table
        if frame is None:
            frame = _ndjson_block(block, schema, rows, first_line)
        if fields is not None and suspect:
            fields.name(block, rows.file, first_line)  # after the read: a bad line first
        rows.flush(offset + frame.height)
        for start in range(0, frame.height, batch_rows):
            piece = frame.slice(start, batch_rows)
            yield from _skip_rows(offset, piece, skip)
            offset += piece.height
    return offset


def _ndjson_block(block: bytes, schema: pl.Schema, rows: FileRows, first_line: int) -> pl.DataFrame:
    """The records of a block of whole lines. When the block does not parse, its bad
    lines are found by halving (a few parses per bad line) and skipped or reported."""
    try:
        return _read_ndjson(block, schema)
    except pl.exceptions.PolarsError:
        pass
    lines = block.split(b"\n")
    good: list[pl.DataFrame] = []

    def parse(low: int, high: int) -> None:
        text = b"\n".join(lines[low:high])
        if not text.strip():
            return
        try:
            good.append(_read_ndjson(text, schema))
            return
        except pl.exceptions.PolarsError:
            if high - low == 1:
                rows.bad_line(first_line + low, _NOT_AN_OBJECT)
                return
        middle = (low + high) // 2
        parse(low, middle)
        parse(middle, high)

    parse(0, len(lines))
    return pl.concat(good) if good else pl.DataFrame(schema=schema)


#: What a line Polars cannot read with the source's types is (with its columns' types
#: inferred from the first lines, a later value of another type is one).
_NOT_AN_OBJECT = (
    "is not a JSON object of the source's columns (or a value's type is not its column's, "
    "as inferred from the first 100 lines unless given: spec.source.schema)"
)
#: Polars' NDJSON reader panics on these types ("unexpected dtype"): read wider, then
#: cast (a value out of range fails its line).
_READ_WIDER: dict[pl.DataType, pl.DataType] = {
    pl.Int8(): pl.Int64(),
    pl.Int16(): pl.Int64(),
    pl.UInt8(): pl.UInt64(),
    pl.UInt16(): pl.UInt64(),
}


def _read_ndjson(data: bytes, schema: pl.Schema) -> pl.DataFrame:
    wider = {name: _READ_WIDER.get(dtype, dtype) for name, dtype in schema.items()}
    frame = pl.read_ndjson(io.BytesIO(data), schema=wider)
    if all(schema[name] == dtype for name, dtype in wider.items()):
        return frame
    return frame.cast(dict(schema.items()), strict=True)


def _line_blocks(handle: IO[bytes], max_line: int, rows: FileRows) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines, with the line number each starts at: NDJSON escapes
    newlines inside values, so a newline always ends a record. A line longer than
    `max_line` bytes fails the file naming it: one without an end (concatenated objects)
    was carried whole, copied again at every read, until the memory ran out. A read
    holding no newline (a line longer than a read) has its line measured before it is
    held (long_lines): refused having held one read, not `max_line` bytes."""
    handle.seek(0)
    size = min(NDJSON_BLOCK_BYTES, max_line)
    carry = b""  # the start of a line not ended yet (the end of the last read)
    begun = 0  # where that line starts
    line = 1
    while True:
        data = handle.read(size)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            # A read without a newline: its line is measured first, holding nothing.
            carry = data = b""
            end = line_end(handle, begun, begun + max_line)
            if end is None:
                raise _too_long(rows, line, begun, max_line)
            long_line = read_line(handle, begun, end)
            if long_line.strip():
                yield line, long_line
            del long_line
            line += 1
            begun = end + 1
            continue
        if len(carry) + data.find(b"\n") > max_line:
            raise _too_long(rows, line, begun, max_line)
        block = carry + data[: cut + 1] if carry else data[: cut + 1]
        begun += len(block)
        carry = data[cut + 1 :]
        if block.strip():
            yield line, block
        line += block.count(b"\n")
    if carry.strip():
        yield line, carry


def _too_long(rows: FileRows, line: int, begun: int, max_line: int) -> SourceDataError:
    return SourceDataError(
        f"{rows.file}: line {line} (from byte {begun}) is longer than {_size(max_line)} "
        "(the server's max_record_bytes; is the file one JSON object per line?)"
    )


def _size(count: int) -> str:
    """Bytes in MiB when whole, else in bytes."""
    return f"{count >> 20} MiB" if count % (1 << 20) == 0 else f"{count} bytes"


def _refuse_compressed(handle: IO[bytes], rows: FileRows) -> None:
    """A text file holding gzip or zstd (a later file of a glob: planning checks the
    first) fails naming it, before its bytes are parsed as text."""
    compression = sniffed(handle)
    if compression is not None:
        raise SourceDataError(refusal(rows.file, compression))


def _csv(
    handle: IO[bytes],
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    rows: FileRows,
    record_bytes: int,
    separator: str = ",",
    check: FileSchemaCheck | None = None,
) -> FileReader:
    """Arrow's streaming parser fails a row longer than about two of its blocks
    ("straddles two block boundaries"): a CSV field or row that long, or an unclosed
    quote, which makes every row after it one value. The file fails, naming the rows read
    before it: reading on with bigger blocks turned a stray quote into hundreds of
    thousands of rows merged into one value, or skipped as one bad row. A shorter
    unclosed quote fails it too, naming its line (csv_quotes).

    The separator is the source's (ResolvedSource.tabs): a checked file's handle is named
    /proc/self/fd/N, whatever the file's name (checked_files)."""
    _refuse_compressed(handle, rows)
    if check is not None:
        check.header(rows.file, handle, separator)
    options = CsvOptions(schema, columns, separator, rows.file)
    handed = skip
    try:
        pieces = _arrow_pieces(options.open(handle, rows), schema, batch_rows, skip, rows)
        while True:
            try:
                start, frame = next(pieces)
            except StopIteration as done:
                return int(done.value)
            yield start, frame
            handed = start + frame.height
    except pa.ArrowInvalid as exc:
        unclosed = options.quotes.error(handle)
        if unclosed is not None:
            raise unclosed from None
        if _straddles(exc):
            raise SourceDataError(
                f"{rows.file}: cannot read on after row {handed}: a CSV field or row longer "
                f"than {_size(csv_parsing.CSV_BLOCK_BYTES)}, or an unclosed quote"
            ) from None
        # Parse and conversion errors quote the row: name the line and column instead.
        raise csv_error(exc, rows, partial(options.locate, handle)) from None


def _straddles(error: pa.ArrowInvalid) -> bool:
    """Whether Arrow's CSV parser failed on a row longer than its blocks."""
    return "straddl" in str(error)


def _arrow_pieces(
    batches: Iterable[pa.RecordBatch],
    schema: pl.Schema,
    batch_rows: int,
    skip: int,
    rows: FileRows,
    narrowed: NarrowedColumns | None = None,
) -> FileReader:
    """Arrow record batches as frames of at most `batch_rows`, skipping rows before
    `skip` without converting them. Rows the parser skipped are counted at the end of
    the batch they were parsed with."""
    offset = 0
    for batch in batches:
        rows.flush(offset + batch.num_rows)
        for start in range(0, batch.num_rows, batch_rows):
            piece = batch.slice(start, batch_rows)
            if offset + piece.num_rows > skip:
                frame = _cast(_frame(piece), schema, narrowed)
                yield from _skip_rows(offset, frame, skip)
            offset += piece.num_rows
    rows.flush(offset)
    return offset


def _frame(piece: pa.RecordBatch) -> pl.DataFrame:
    """A slice of an Arrow batch as a Polars frame. Polars fails on a sliced fixed-size
    list column with nulls ("validity mask length must be equal to the number of values
    divided by size"), so an Array column of an Arrow file or a Flight put failed the
    export when its batch was longer than a pipeline batch: such a column alone is copied
    to a fresh array first. A fixed-offset zone is read as UTC (fixed_offsets)."""
    columns = piece.columns
    sliced = [
        position
        for position, column in enumerate(columns)
        if column.null_count and pa.types.is_fixed_size_list(column.type) and _sliced(column)
    ]
    if sliced:
        for position in sliced:
            columns[position] = pa.concat_arrays([columns[position]])
        piece = pa.RecordBatch.from_arrays(columns, schema=piece.schema)
    frame = pl.from_arrow(with_utc_instants(piece))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _sliced(column: pa.FixedSizeListArray) -> bool:
    """True when the column is a slice of a longer one: at an offset, or a first slice
    (offset 0) whose values run on past its rows, which Polars fails on as well."""
    return bool(column.offset) or len(column.values) != len(column) * column.type.list_size


def _skip_rows(offset: int, frame: pl.DataFrame, skip: int) -> Iterator[tuple[int, pl.DataFrame]]:
    """Yield (first row position within the file, frame) minus rows before `skip`."""
    if offset + frame.height <= skip:
        return
    if offset < skip:
        frame = frame.slice(skip - offset)
        offset = skip
    yield offset, frame


def _cast(
    frame: pl.DataFrame | pl.Series,
    schema: pl.Schema,
    narrowed: NarrowedColumns | None = None,
) -> pl.DataFrame:
    """Give every batch the schema the plan validated against (Arrow and Polars readers
    can differ in small ways, e.g. dictionary vs categorical, string views); the values
    of a later file's `narrowed` columns are checked first (narrowed_values)."""
    assert isinstance(frame, pl.DataFrame)
    if narrowed is not None:
        narrowed.verify(frame)
    # The frame's schema once: frame.schema builds it anew at every call (a 5,000-column
    # batch took 66 s when it was read once per column).
    have = frame.schema
    wanted = {n: schema[n] for n, t in have.items() if n in schema and t != schema[n]}
    return frame.cast(wanted) if wanted else frame  # type: ignore[arg-type]


_READERS: dict[str, Callable[..., FileReader]] = {
    "parquet": _parquet,
    "ipc": _ipc,
    "ndjson": _ndjson,
    "csv": _csv,
}
