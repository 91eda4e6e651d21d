"""Source columns of an Arrow type Polars cannot hold, found from the Arrow schema before
Polars reads it: a decimal of more than 38 digits (Arrow's decimal256), or a timestamp
whose zone Polars cannot parse (a fixed offset never is one: every reader relabels it
UTC, see fixed_offsets). Polars panics on them, while planning or only once the rows are
read; planning names the column instead.

Every file of a glob is checked, from its footer alone: local files while planning (a
later file's decimal256 failed the export once its rows were reached, after the chunks
of the files before it), cloud files (a ranged read each, too slow for CreateExport on
a long glob) by the reader before its first row, so before any chunk is written."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import IO

import polars as pl
import pyarrow as pa

from sluice.server.errors import Interrupted
from sluice.server.pipeline.empty_tables import empty_table
from sluice.server.pipeline.fixed_offsets import holds_fixed_offset, offset_columns, utc_schema
from sluice.server.pipeline.footer_schemas import (
    FOOTER_FORMATS,
    FOOTER_READERS,
    local_schema,
    stored_schema,
)
from sluice.server.pipeline.ordered_workers import in_order
from sluice.server.pipeline.parquet_footers import CLOUD_FOOTER_READERS
from sluice.server.pipeline.source import ResolvedSource, file_opener
from sluice.server.pipeline.stream_source import holds_decimal256
from sluice.server.storage_errors import storage_errors


def unreadable_column(schema: pa.Schema, wanted: Collection[str] = ()) -> str | None:
    """Why the first of the `wanted` columns (all when empty) cannot be read, naming it
    and its type; None when Polars holds them all (fixed-offset zones read as UTC)."""
    schema = utc_schema(schema)
    if not any(holds_decimal256(field.type) for field in schema) and _holds(schema):
        return None
    for field in schema:
        if wanted and field.name not in wanted:
            continue
        if holds_decimal256(field.type):
            hint = "decimals are read up to 38 digits; leave it out with spec.query.columns"
        elif _holds(pa.schema([field])):
            continue
        elif not pa.types.is_timestamp(field.type) or field.type.tz is None:
            return cannot_read(field)
        else:
            hint = "a time zone Polars cannot parse; store it in UTC or with a named zone"
        return f"column {field.name!r} has type {field.type}, which Sluice cannot read ({hint})"
    return None


def cannot_read(field: pa.Field) -> str:
    """What a column of a type Polars cannot hold (a run-end encoded one, say) is."""
    return (
        f"column {field.name!r} has type {field.type}, which Sluice cannot read (leave it "
        "out with spec.query.columns, or store it as a plain type)"
    )


@dataclass(frozen=True)
class SchemaSurvey:
    """What the schemas of a source's files say."""

    #: Why a wanted column of some file cannot be read, naming the file; None: none.
    problem: str | None = None
    #: Whether some file has a fixed-offset zone (ResolvedSource.fixed_offsets).
    fixed_offsets: bool = False
    #: The columns with a fixed-offset zone, each with the zone of the first file that
    #: has it (fixed_offsets.offset_columns): what chains begun before offsets were read
    #: as UTC keep (planning/offset_zones.py).
    offsets: tuple[tuple[str, str], ...] = ()


def survey_source(source: ResolvedSource, wanted: Collection[str]) -> SchemaSurvey:
    """The planner's survey: a DoPut stream's schema, a file source's first Parquet or
    Arrow IPC file's (the reader checks every file, on the run's thread before its first
    row: survey_files; a glob of 100,000 local files took longer than a client waits for
    CreateExport when planning read them all); nothing for other sources."""
    if source.stream is not None:
        schema = source.stream.schema
        offsets = tuple(offset_columns(schema).items())
        return SchemaSurvey(unreadable_column(schema, wanted), bool(offsets), offsets)
    if not source.files:
        return SchemaSurvey()
    return survey_files(source, source.files[:1], wanted)


def survey_files(
    source: ResolvedSource,
    files: Sequence[str],
    wanted: Collection[str],
    stop: threading.Event | None = None,
    each: Callable[[str, pa.Schema], object] | None = None,
) -> SchemaSurvey:
    """The survey of `files` of a Parquet or Arrow IPC source, each read up to its
    footer (local files by FOOTER_READERS threads); the same schema is checked once, by
    unreadable_column then by `each` (given the file and its schema: the reader's check
    against the plan, which raises). A file Arrow cannot open is left to the reader,
    which says what is wrong with it. Raises Interrupted once `stop` is set."""
    if source.database is not None or source.format not in FOOTER_FORMATS:
        return SchemaSurvey()
    seen: set[pa.Schema] = set()
    fixed_offsets = False
    offsets: dict[str, str] = {}
    with closing(_schemas(source, files)) as schemas:
        for path, schema in zip(files, schemas, strict=True):
            if stop is not None and stop.is_set():
                raise Interrupted("export interrupted while checking its source files")
            if schema is None:
                continue
            schema = schema.remove_metadata()
            if schema in seen:
                continue
            seen.add(schema)
            fixed_offsets = fixed_offsets or holds_fixed_offset(schema)
            for column, zone in offset_columns(schema).items():
                offsets.setdefault(column, zone)
            problem = unreadable_column(schema, wanted)
            if problem is not None:
                source.log_file(path)
                return SchemaSurvey(f"{source.file_shown(path)}: {problem}", fixed_offsets)
            if each is not None:
                each(path, schema)
    return SchemaSurvey(None, fixed_offsets, tuple(offsets.items()))


def _schemas(
    source: ResolvedSource, files: Sequence[str]
) -> Generator[pa.Schema | None, None, None]:
    """Each file's schema, in order (None: not one Arrow opens)."""
    if source.in_cloud:
        open_file = file_opener(source)

        def stored(path: str) -> pa.Schema | None:
            if source.format != "parquet":
                return _opened_schema(open_file, path, source.format)
            try:  # kept for the rest of the run (parquet_footers)
                return source.footers.footer(path, open_file).schema.to_arrow_schema()
            except pa.ArrowInvalid:
                return None  # not a Parquet file: for the reader to say

        yield from in_order(stored, files, min(CLOUD_FOOTER_READERS, len(files)), "footers")
        return
    real = dict(zip(source.files, source.real_files, strict=False))

    def read(path: str) -> pa.Schema | None:
        return local_schema(real.get(path, path), source.format)

    workers = min(FOOTER_READERS, len(files))
    yield from in_order(read, files, workers, "footers")


def _opened_schema(
    open_file: Callable[[str], IO[bytes]], path: str, source_format: str
) -> pa.Schema | None:
    with storage_errors(), open_file(path) as handle:
        try:
            return stored_schema(handle, source_format)
        except pa.ArrowInvalid:
            return None  # not a Parquet or IPC file: for the reader to say


def _holds(schema: pa.Schema) -> bool:
    try:
        pl.from_arrow(empty_table(schema))
    except pl.exceptions.PanicException:
        return False
    except Exception:  # noqa: BLE001 - other refusals are for Polars' own reader to word
        return True
    return True
