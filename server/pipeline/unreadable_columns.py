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

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import IO

import polars as pl
import pyarrow as pa

from sluice.server.pipeline.fixed_offsets import holds_fixed_offset, utc_schema
from sluice.server.pipeline.footer_schemas import FOOTER_FORMATS, local_schema, stored_schema
from sluice.server.pipeline.source import ResolvedSource, file_opener, shown
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
        elif not _holds(pa.schema([field])):
            hint = "a time zone Polars cannot parse; store it in UTC or with a named zone"
        else:
            continue
        return f"column {field.name!r} has type {field.type}, which Sluice cannot read ({hint})"
    return None


@dataclass(frozen=True)
class SchemaSurvey:
    """What the schemas of a source's files say."""

    #: Why a wanted column of some file cannot be read, naming the file; None: none.
    problem: str | None = None
    #: Whether some file has a fixed-offset zone (ResolvedSource.fixed_offsets).
    fixed_offsets: bool = False


def survey_source(source: ResolvedSource, wanted: Collection[str]) -> SchemaSurvey:
    """The planner's survey: a DoPut stream's schema, every local Parquet or Arrow IPC
    file's, a cloud source's first file's (the reader checks the others: survey_files);
    nothing for other sources."""
    if source.stream is not None:
        return SchemaSurvey(unreadable_column(source.stream.schema, wanted))
    if not source.files:
        return SchemaSurvey()
    return survey_files(source, source.files if not source.in_cloud else source.files[:1], wanted)


def survey_files(
    source: ResolvedSource, files: Sequence[str], wanted: Collection[str]
) -> SchemaSurvey:
    """The survey of `files` of a Parquet or Arrow IPC source, each read up to its
    footer; the same schema is checked once. A file Arrow cannot open is left to the
    reader, which says what is wrong with it."""
    if source.database is not None or source.format not in FOOTER_FORMATS:
        return SchemaSurvey()
    real = dict(zip(source.files, source.real_files, strict=False))
    open_file = file_opener(source) if source.in_cloud else None
    seen: set[pa.Schema] = set()
    fixed_offsets = False
    for path in files:
        if open_file is None:
            schema = local_schema(real.get(path, path), source.format)
        else:
            schema = _opened_schema(open_file, path, source.format)
        if schema is None:
            continue
        schema = schema.remove_metadata()
        if schema in seen:
            continue
        seen.add(schema)
        fixed_offsets = fixed_offsets or holds_fixed_offset(schema)
        problem = unreadable_column(schema, wanted)
        if problem is not None:
            return SchemaSurvey(f"{shown(path)}: {problem}", fixed_offsets)
    return SchemaSurvey(None, fixed_offsets)


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
        pl.from_arrow(schema.empty_table())
    except pl.exceptions.PanicException:
        return False
    except Exception:  # noqa: BLE001 - other refusals are for Polars' own reader to word
        return True
    return True
