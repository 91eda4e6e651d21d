"""Sources: resolve a file URI or glob into a sorted file list, its schema and its files.

The file list is sorted and every row gets its position in the concatenated files
(ROW_INDEX), so a resumed export sees the same rows in the same order. Only the places
sinks.locations allows are read: local files (inside the allowed source roots) are
scanned by Polars; S3 and Azure files are listed and read through the storage sinks
with their profile (see cloud_files). SQLite and DuckDB files (sqlite:///ABS/PATH,
duckdb:///ABS/PATH) are read-only database sources (see database_source). Any other URI
is refused before any I/O.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, Any

import polars as pl
from fsspec.implementations.local import LocalFileSystem

from sluice.server.allowed_roots import (
    outside_message,
    real_within,
    resolved_roots,
    within_roots,
)
from sluice.server.errors import InvalidArgument, SluiceError, quoted
from sluice.server.pipeline import cloud_files, database_source
from sluice.server.pipeline.checked_files import open_checked
from sluice.server.pipeline.column_types import with_column_types
from sluice.server.pipeline.compressed_files import refusal, sniffed
from sluice.server.pipeline.database_source import DatabaseRead
from sluice.server.pipeline.fixed_offsets import holds_fixed_offset
from sluice.server.pipeline.footer_schemas import FOOTER_READERS, local_rows, local_schema
from sluice.server.pipeline.long_lines import line_end, read_line
from sluice.server.pipeline.ordered_workers import in_order
from sluice.server.pipeline.parquet_footers import ParquetFooters
from sluice.server.pipeline.piece_counts import count_file_rows
from sluice.server.pipeline.postgres_source import (
    LOOK_CONNECT_RETRIES,
    LOOK_CONNECT_TIMEOUT,
    PostgresTarget,
    check_profile,
)
from sluice.server.pipeline.row_errors import DATA_ERRORS
from sluice.server.pipeline.source_glob import expand_local, has_magic
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.server.pipeline.stream_source import (
    STREAM_FORMAT,
    StreamRead,
    is_stream_uri,
    polars_schema,
    schema_of,
)
from sluice.server.source_profiles import PostgresProfile
from sluice.server.storage_errors import storage_errors
from sluice.sinks import ObjectInfo
from sluice.sinks.locations import (
    DATABASE_SCHEMES,
    LocationRefused,
    classify_source,
    postgres_address,
    without_credentials,
    without_secrets,
)
from sluice.sinks.profiles import AzureProfile, S3Profile

_log = logging.getLogger("sluice.source")

#: Name of the row-position column added to every source; never exported.
ROW_INDEX = "__sluice_row"

_FORMAT_BY_EXTENSION = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}
_FORMAT_ALIASES = {"jsonl": "ndjson", "arrow": "ipc", "feather": "ipc"}
SOURCE_FORMATS = ("parquet", "csv", "ndjson", "jsonl", "arrow", "ipc")


@dataclass(frozen=True)
class ResolvedSource:
    """A source after validation: concrete files in read order and their format."""

    uri: str
    format: str
    files: tuple[str, ...]
    #: "local", "s3" or "azure" (sinks.locations).
    kind: str = "local"
    #: The storage profile S3 and Azure files are read with (secret references only).
    profile: S3Profile | AzureProfile | None = None
    #: What a row that cannot be parsed does: "fail" or "skip" (see bad_rows).
    on_bad_rows: str = "fail"
    #: CSV and NDJSON: (column, type name in column_types.COLUMN_TYPES) replacing inferred
    #: types (NDJSON: or adding columns its first lines lack).
    column_types: tuple[tuple[str, str], ...] = ()
    #: Database sources: what is read and in which order (format "sqlite" or "duckdb").
    database: DatabaseRead | None = None
    #: Stream sources (records pushed by Arrow Flight DoPut, format "flight").
    stream: StreamRead | None = None
    #: Local files: each of `files` resolved as confinement checked it; what is opened
    #: (see checked_files), so a symlink swapped in after the check is not followed.
    real_files: tuple[str, ...] = ()
    #: S3 and Azure files: each of `files` as the listing that found it had it (size and
    #: version): the identity a run journals (run_facts), without listing them again.
    objects: tuple[ObjectInfo, ...] = ()
    #: Longest NDJSON line or CSV row read (settings.max_record_bytes).
    max_record_bytes: int = 256 * 1024 * 1024
    #: Local Parquet and IPC files: the first file has a fixed-offset zone, which Polars'
    #: scans panic on (fixed_offsets), so their rows are counted through Arrow. Set by
    #: the planner, which reads the first file's schema (unreadable_columns).
    fixed_offsets: bool = False
    #: S3 and Azure Parquet files: their footers, each read once by the run this source
    #: was resolved for (planning, the row count and the reader share them).
    footers: ParquetFooters = field(default_factory=ParquetFooters, compare=False, repr=False)
    #: Files: the named source `uri` is the hidden location of ("" for a caller's own
    #: URI). Its errors name it and a file's place, never a path (file_shown).
    source_name: str = ""

    def file_shown(self, path: str) -> str:
        """One of `files` as callers' errors name it: the path (without credentials) of
        a caller's own URI; for a named source, its name and the file's place."""
        if not self.source_name:
            return shown(path)
        return f"named source {quoted(self.source_name)}, {self._place(path)}"

    def log_file(self, path: str) -> None:
        """The server log's line for an error about a named source's file: which file
        it is (callers are told only its place)."""
        if self.source_name:
            # INFO: often the caller's mistake (a wrong format, a bad value), which the
            # operator need not act on; the caller's message names only the place.
            _log.info("named source %r, %s is %s", self.source_name, self._place(path), shown(path))

    @contextmanager
    def errors_logged(self, path: str) -> Iterator[None]:
        """Around the reading of one of `files`: a domain error it raises is logged with
        the file's path when the source is named (log_file)."""
        try:
            yield
        except SluiceError:
            self.log_file(path)
            raise

    def _place(self, path: str) -> str:
        if path in self.files:
            return f"file {self.files.index(path) + 1} of {len(self.files)}"
        return "a file"

    @property
    def in_cloud(self) -> bool:
        """Whether the files are in an S3 bucket or Azure container (read via sinks)."""
        return cloud_files.is_cloud(self.uri)

    @property
    def tabs(self) -> bool:
        """.tsv files are CSV with tabs; reading them with commas yields one wide column."""
        return all(f.lower().endswith(".tsv") for f in self.files)

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the source; never credentials."""
        if self.stream is not None:
            # The URI carries the schema, which the manifest records on its own.
            return {"uri": "flight:DoPut", "format": self.format, "files": 0}
        described: dict[str, Any] = {
            "uri": without_credentials(self.uri),
            "format": self.format,
            "files": len(self.files),
        }
        if self.database is not None:
            described.update(self.database.describe())
        return described


def resolve_source(
    uri: str,
    format_name: str,
    allowed_roots: Sequence[Path],
    profile: S3Profile | AzureProfile | None = None,
    *,
    table: str = "",
    query: str = "",
    order_by: Sequence[str] = (),
    source_profile: tuple[str, PostgresProfile] | None = None,
    read_connections: int = 1,
    quick_look: bool = False,
    source_name: str = "",
) -> ResolvedSource:
    """Expand the URI into sorted files, check confinement and the format; for a database,
    check the table or query and settle the order rows are read in. A PostgreSQL source
    is read with `source_profile` (its name and settings), on up to `read_connections`
    connections in one snapshot. `quick_look` (ListSources): its server is tried once,
    for at most LOOK_CONNECT_TIMEOUT seconds. `source_name`: the named source `uri` is
    the hidden location of (a database source's errors name it, not its address or
    path)."""
    if not uri.strip():
        raise InvalidArgument("spec.source.uri", "is required")
    if is_stream_uri(uri):
        return _resolve_stream(uri, format_name, profile, table, query, order_by)
    try:
        location = classify_source(uri)
    except LocationRefused as exc:
        raise InvalidArgument("spec.source.uri", str(exc)) from None
    if location.kind == "postgresql":
        return _resolve_postgres(
            location.target,
            source_profile,
            format_name,
            table,
            query,
            order_by,
            read_connections,
            quick_look=quick_look,
            source_name=source_name,
        )
    if location.kind == "sqlite" or location.kind == "duckdb":
        return _resolve_database(
            uri,
            location.kind,
            location.target,
            allowed_roots,
            profile,
            format_name,
            table,
            query,
            order_by,
            source_name=source_name,
        )
    for name, value in (("table", table), ("query", query), ("order_by", order_by)):
        if value:
            raise InvalidArgument(
                f"spec.source.{name}",
                f"applies to database sources ({', '.join(s + ':///' for s in DATABASE_SCHEMES)})",
            )
    real_files: list[str] = []
    objects: list[ObjectInfo] = []
    if location.kind == "local":
        files, real_files = _expand_local(location.target, allowed_roots, source_name)
    else:
        listed = _expand_cloud(uri, profile)
        files = [file for file, _ in listed]
        objects = [info for _, info in listed]
    fmt = _pick_format(format_name, files)
    return ResolvedSource(
        uri=uri,
        format=fmt,
        files=tuple(files),
        kind=location.kind,
        profile=profile,
        real_files=tuple(real_files),
        objects=tuple(objects),
        source_name=source_name,
    )


def _resolve_stream(
    uri: str,
    format_name: str,
    profile: S3Profile | AzureProfile | None,
    table: str,
    query: str,
    order_by: Sequence[str],
) -> ResolvedSource:
    """A flight: source: records pushed by a put. Its inbox settings (stream_read) are
    the daemon's, added by the planner."""
    schema = schema_of(uri)
    if profile is not None:
        raise InvalidArgument("spec.source.profile", "storage profiles apply to s3:// and az://")
    if format_name and format_name.lower() != STREAM_FORMAT:
        raise InvalidArgument("spec.source.format", "a flight: source has format flight")
    if table or query or order_by:
        raise InvalidArgument("spec.source", "table, query and order_by apply to databases")
    stream = StreamRead(key="", schema=schema, inflight_batches=1, idle_seconds=1.0)
    return ResolvedSource(uri=uri, format=STREAM_FORMAT, files=(), kind="stream", stream=stream)


def _resolve_database(
    uri: str,
    kind: database_source.DatabaseKind,
    path: str,
    allowed_roots: Sequence[Path],
    profile: S3Profile | AzureProfile | None,
    format_name: str,
    table: str,
    query: str,
    order_by: Sequence[str],
    *,
    source_name: str = "",
) -> ResolvedSource:
    if profile is not None:
        raise InvalidArgument("spec.source.profile", "storage profiles apply to s3:// and az://")
    if format_name and format_name.lower() != kind:
        raise InvalidArgument("spec.source.format", f"a {kind}:// source has format {kind}")
    _check_confined(path, allowed_roots)
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        raise InvalidArgument("spec.source.uri", f"database file does not exist: {_shorten(path)}")
    read = database_source.plan_read(kind, real, table, query, order_by, source_name=source_name)
    return ResolvedSource(uri=uri, format=kind, files=(real,), kind=kind, database=read)


def _resolve_postgres(
    uri: str,
    source_profile: tuple[str, PostgresProfile] | None,
    format_name: str,
    table: str,
    query: str,
    order_by: Sequence[str],
    read_connections: int = 1,
    *,
    quick_look: bool = False,
    source_name: str = "",
) -> ResolvedSource:
    if source_profile is None:
        raise InvalidArgument(
            "spec.source.profile",
            "a postgresql:// source needs a source profile (the server's source_profiles)",
        )
    if format_name and format_name.lower() != "postgresql":
        raise InvalidArgument("spec.source.format", "a postgresql:// source has format postgresql")
    address = postgres_address(uri)
    name, profile = source_profile
    check_profile(address, name, profile)
    target = PostgresTarget(
        address, name, profile, read_connections=read_connections, source_name=source_name
    )
    if quick_look:
        timeout = min(profile.connect_timeout, LOOK_CONNECT_TIMEOUT)
        target = replace(
            target,
            profile=profile.model_copy(update={"connect_timeout": timeout}),
            connect_retries=LOOK_CONNECT_RETRIES,
        )
    read = database_source.plan_read("postgresql", uri, table, query, order_by, target)
    return ResolvedSource(uri=uri, format="postgresql", files=(), kind="postgresql", database=read)


def scan(source: ResolvedSource) -> pl.LazyFrame:
    """A lazy frame over local files, in order, with ROW_INDEX first."""
    if source.in_cloud:
        raise ValueError("S3 and Azure sources are read through their sinks, not scanned")
    files = _local_paths(source)
    if source.format == "parquet":
        frame = pl.scan_parquet(files, row_index_name=ROW_INDEX)
    elif source.format == "csv":
        frame = pl.scan_csv(
            files, row_index_name=ROW_INDEX, try_parse_dates=True, separator=_separator(source)
        )
    elif source.format == "ndjson":
        frame = pl.scan_ndjson(files, row_index_name=ROW_INDEX)
    else:
        frame = pl.scan_ipc(files, row_index_name=ROW_INDEX)
    return frame


def read_schema(source: ResolvedSource) -> pl.Schema:
    """The source's columns and types, ROW_INDEX first, with the types the caller gave
    (column_types) in place of inferred ones. Cloud sources take them from the first
    file's footer or first block."""
    if source.stream is not None:
        # Int64 positions: a stream can carry more rows than UInt32 counts.
        return pl.Schema({ROW_INDEX: pl.Int64(), **polars_schema(source.stream.schema)})
    if source.database is not None:
        columns = database_source.read_schema(source.database)
        # Int64 positions: a table can hold more rows than UInt32 counts.
        return pl.Schema({ROW_INDEX: pl.Int64(), **columns})
    try:
        schema = _inferred_schema(source)
    except DATA_ERRORS:
        if source.format != "ndjson":
            raise
        # A line that is not JSON among those Polars infers from: name it, or infer
        # from the other lines when such lines are to be skipped.
        schema = _schema_of_good_lines(source)
    return with_column_types(schema, source.column_types, add_missing=source.format == "ndjson")


def first_file(source: ResolvedSource) -> ResolvedSource:
    """The source narrowed to its first file (a local CSV glob whose later headers hold
    its columns in another order, which Polars' scan of them all refuses)."""
    return replace(source, files=source.files[:1], real_files=source.real_files[:1])


def _inferred_schema(source: ResolvedSource) -> pl.Schema:
    if source.format in {"csv", "ndjson"}:
        _refuse_compressed(source)
    if source.format == "ndjson":
        # From the first _INFER_LINES lines, as Polars infers (local files too: a file
        # without newlines is one line, and was read whole at ~5x its size).
        with closing(_head_lines(source, source.files[0])) as lines:
            if not source.in_cloud:
                # Checked within the cap, then inferred by Polars from the file itself
                # (as on main: it maps the file, and holds no second copy of the lines).
                for _ in islice(lines, _INFER_LINES):
                    pass
                return scan(source).collect_schema()
            head = [line for _, line in islice(lines, _INFER_LINES)]
        return (
            pl.scan_ndjson(io.BytesIO(b"\n".join(head))).with_row_index(ROW_INDEX).collect_schema()
        )
    if not source.in_cloud:
        first = local_schema(_local_paths(source)[0], source.format)
        if first is not None and holds_fixed_offset(first):
            # Polars' scan panics on such a zone: the columns as every reader gives them.
            return cloud_files.empty_frame(first).with_row_index(ROW_INDEX).collect_schema()
        return scan(source).collect_schema()
    first = source.files[0]
    if source.format == "parquet":
        footer = source.footers.footer(first, file_opener(source))
        sample = cloud_files.empty_frame(footer.schema.to_arrow_schema())
    else:
        with file_opener(source)(first) as handle:
            sample = cloud_files.sample_frame(handle, source.format, _separator(source))
    return sample.with_row_index(ROW_INDEX).collect_schema()


def _refuse_compressed(source: ResolvedSource) -> None:
    """A CSV or NDJSON source whose first file is compressed under a plain name is the
    caller's mistake, refused before its rows are counted (each later file is checked
    as it is read)."""
    file = source.files[0]
    with storage_errors(), file_opener(source)(file) as handle:
        compression = sniffed(handle)
    if compression is not None:
        source.log_file(file)
        raise InvalidArgument("spec.source.uri", refusal(source.file_shown(file), compression))


#: Lines Polars infers an NDJSON schema from (its default).
_INFER_LINES = 100
#: Bytes read at a time for the lines a schema is inferred from.
_HEAD_READ_BYTES = 1024 * 1024


def _head_lines(source: ResolvedSource, file: str) -> Generator[tuple[int, bytes]]:
    """The non-blank lines of a text file from its start, with their numbers, as many as
    are taken. The schema is inferred from all the lines it needs or refused, never from
    fewer: past source.max_record_bytes from the file's start, the line being read
    is INVALID_ARGUMENT (one without an end was read whole, at ~5x its size). A line
    longer than two reads is measured before it is held (long_lines)."""
    cap = source.max_record_bytes
    number = 0
    with storage_errors(), file_opener(source)(file) as handle:
        pieces: list[bytes] = []  # the start of a line not ended yet, in reads
        read = 0
        begun = 0  # where the line being read starts
        while read <= cap:
            chunk = handle.read(min(_HEAD_READ_BYTES, cap + 1 - read))
            if not chunk:
                last = b"".join(pieces)
                if last.strip():
                    yield number + 1, last
                return
            if pieces and b"\n" not in chunk:
                pieces = []
                end = line_end(handle, begun, cap)
                if end is None:
                    break
                number += 1
                line = read_line(handle, begun, end)
                if line.strip():
                    yield number, line
                read = begun = handle.tell()  # past its newline, or at the file's end
                continue
            read += len(chunk)
            start = 0
            while (cut := chunk.find(b"\n", start)) >= 0:
                number += 1
                line = b"".join([*pieces, chunk[start:cut]]) if pieces else chunk[start:cut]
                pieces, start = [], cut + 1
                begun = read - len(chunk) + start
                if line.strip():
                    yield number, line
            if start < len(chunk):
                pieces.append(chunk[start:])
    source.log_file(file)
    raise InvalidArgument(
        "spec.source.uri", _too_big_to_infer(source.file_shown(file), number + 1, cap)
    )


def _too_big_to_infer(file_shown: str, lines: int, cap: int) -> str:
    size = f"{cap >> 20} MiB" if cap % (1 << 20) == 0 else f"{cap} bytes"
    if lines == 1:
        return (
            f"{file_shown}: line 1 is longer than {size} (the server's max_record_bytes; "
            "is the file one JSON object per line?)"
        )
    return (
        f"{file_shown}: its first {lines} lines are longer than {size} together (the "
        f"server's max_record_bytes), too much to infer a schema from (the first "
        f"{_INFER_LINES} lines are read): put shorter lines first or raise max_record_bytes"
    )


def _schema_of_good_lines(source: ResolvedSource) -> pl.Schema:
    file = source.files[0]
    good: list[bytes] = []
    # (_head_lines logs its own refusal: not under errors_logged, which would log twice.)
    with closing(_head_lines(source, file)) as lines:
        for number, line in lines:
            if len(good) >= _INFER_LINES:
                break
            try:
                is_object = isinstance(json.loads(line), dict)
            except ValueError:
                is_object = False
            if is_object:
                good.append(line)
            elif source.on_bad_rows != "skip":
                source.log_file(file)
                raise InvalidArgument(
                    "spec.source.uri",
                    f"{source.file_shown(file)}: line {number} is not a JSON object "
                    '(on_bad_rows "skip" leaves such lines out)',
                )
    if not good:
        source.log_file(file)
        raise InvalidArgument(
            "spec.source.uri", f"{source.file_shown(file)}: no JSON object in its first lines"
        )
    frame = pl.read_ndjson(io.BytesIO(b"\n".join(good)))
    return frame.lazy().with_row_index(ROW_INDEX).collect_schema()


def count_rows(
    source: ResolvedSource,
    cancels: StatementCancels | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Rows in the source before any filter (cheap for parquet and IPC metadata); 0 when
    unknown (cloud sources other than parquet, which would have to be read whole). A
    database's counting statement is cancelled by `cancels` when given; local CSV and
    NDJSON files, read whole, are counted piece by piece and Interrupted once `stop`
    is set."""
    if source.stream is not None:
        return 0  # unknown until the caller ends the stream
    if source.database is not None:
        return database_source.count_rows(source.database, cancels)
    if not source.in_cloud:
        if source.format in {"csv", "ndjson"}:
            separator = _separator(source) if source.format == "csv" else None
            return count_file_rows(file_opener(source), source.files, separator, stop)
        if source.fixed_offsets:
            paths = _local_paths(source)
            count = partial(local_rows, source_format=source.format)
            return sum(in_order(count, paths, min(FOOTER_READERS, len(paths)), "footers"))
        return int(scan(source).select(pl.len()).collect().item())
    if source.format != "parquet":
        return 0
    with closing(source.footers.each(source.files, file_opener(source))) as footers:
        return sum(footer.num_rows for footer in footers)


def _local_paths(source: ResolvedSource) -> list[str]:
    """A local source's files as they are opened (the paths confinement checked)."""
    return list(source.real_files or source.files)


def _separator(source: ResolvedSource) -> str:
    """A CSV source's field separator (TSV files: tabs)."""
    return "\t" if source.tabs else ","


def file_opener(source: ResolvedSource) -> Callable[[str], IO[bytes]]:
    """Opens the source's files for reading: S3 and Azure through their sink (seekable,
    ranged, retried), local ones as plain files (fsspec's local opener, which the
    readers recognise; never fsspec.open, which would read "a::b" as a chained URL).
    A checked local file is opened as it was checked (see checked_files)."""
    if source.in_cloud:
        return cloud_files.opener(source.files, source.profile)
    local = LocalFileSystem()
    checked = dict(zip(source.files, source.real_files, strict=False))

    def open_file(path: str) -> IO[bytes]:
        real = checked.get(path)
        if real is not None:
            return open_checked(path, real)
        opened: IO[bytes] = local.open(path, "rb")
        return opened

    return open_file


def _expand_local(
    pattern: str, allowed_roots: Sequence[Path], source_name: str = ""
) -> tuple[list[str], list[str]]:
    """The files a local name or glob matches, each checked within the allowed roots, and
    their resolved paths (each file and root resolved once: a glob may match 100,000).
    A named source's errors name it (and a file's place), its paths going to the log
    only: a run plans it again, and what it finds then reaches the caller as it is."""
    named = f"named source {quoted(source_name)}" if source_name else None
    if not has_magic(pattern):
        _check_confined(pattern, allowed_roots, named)
        files = [pattern] if os.path.isfile(pattern) else []
    else:
        # The literal folder part is checked first, so nothing outside is even listed.
        literal = pattern.split("*")[0].split("?")[0].split("[")[0]
        _check_confined(literal, allowed_roots, named)
        files = expand_local(pattern)
    if not files:
        what = "no file matches" if has_magic(pattern) else "file does not exist:"
        if named is not None:
            _log.warning("%s: %s %s", named, what, pattern)
            missing = "no file matches its uri" if has_magic(pattern) else "its file does not exist"
            raise InvalidArgument("spec.source.uri", f"{named}: {missing}")
        raise InvalidArgument("spec.source.uri", f"{what} {_shorten(pattern)}")
    real_roots = resolved_roots(allowed_roots)
    real_files = []
    for number, file in enumerate(files, start=1):
        real = os.path.realpath(file)
        if not real_within(real, real_roots):
            place = None if named is None else f"{named}, file {number} of {len(files)}"
            raise InvalidArgument("spec.source.uri", _outside(file, allowed_roots, place))
        real_files.append(real)
    return files, real_files


def _check_confined(path: str, roots: Sequence[Path], named: str | None = None) -> None:
    """Reject paths outside the allowed source roots, following symlinks."""
    if not within_roots(path, roots):
        raise InvalidArgument("spec.source.uri", _outside(path, roots, named))


def _outside(path: str, roots: Sequence[Path], shown_as: str | None = None) -> str:
    """`shown_as`: what the caller is told in place of `path` (a named source's file);
    the path is then logged."""
    if shown_as is not None:
        _log.warning("%s is %s", shown_as, path)
    return outside_message(
        path, roots, "source", "allowed_source_roots", "--allow-source-root", sent=shown_as
    )


def _expand_cloud(
    uri: str, profile: S3Profile | AzureProfile | None
) -> list[tuple[str, ObjectInfo]]:
    root, pattern = cloud_files.split(uri)
    files = cloud_files.CloudFiles(root, profile).expand(pattern)
    if not files:
        # Without its query: a glob's '?' cannot be told from a SAS token's.
        raise InvalidArgument(
            "spec.source.uri", f"no file matches {_shorten(without_secrets(uri))}"
        )
    return files


def _pick_format(requested: str, files: Sequence[str]) -> str:
    if requested:
        name = requested.lower()
        if name not in SOURCE_FORMATS:
            raise InvalidArgument(
                "spec.source.format",
                f"unknown source format {requested!r}; expected one of {', '.join(SOURCE_FORMATS)}",
            )
        return _FORMAT_ALIASES.get(name, name)
    formats = {_FORMAT_BY_EXTENSION.get(Path(f).suffix.lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise InvalidArgument(
            "spec.source.format",
            "cannot infer the source format from the file names; set it explicitly",
        )
    (fmt,) = formats
    assert fmt is not None
    return fmt


def shown(path: str) -> str:
    """A source file as errors and logs name it: without any credentials."""
    return without_credentials(path)


def _shorten(text: str, limit: int = 300) -> str:
    """Echoed request text stays short (gRPC trailers have a size limit)."""
    return text if len(text) <= limit else text[:limit] + "..."
