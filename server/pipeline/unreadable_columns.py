"""Source columns of an Arrow type Polars cannot hold, found from the Arrow schema before
Polars reads it: a decimal of more than 38 digits (Arrow's decimal256) or a timestamp
whose zone is a fixed offset Polars cannot parse ("+05:30", as pandas writes for
datetime.timezone(timedelta(hours=5, minutes=30))). Polars panics on them, while
planning or only once the rows are read; planning names the column instead."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sluice.server.pipeline.source import ResolvedSource
from sluice.server.pipeline.stream_source import holds_decimal256


def unreadable_column(schema: pa.Schema, wanted: Collection[str] = ()) -> str | None:
    """Why the first of the `wanted` columns (all when empty) cannot be read, naming it
    and its type; None when Polars holds them all."""
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


def unreadable_source_column(source: ResolvedSource, wanted: Collection[str]) -> str | None:
    """unreadable_column of a DoPut stream, or of a local Parquet or Arrow IPC source's
    first file; None for other sources."""
    if source.stream is not None:
        return unreadable_column(source.stream.schema, wanted)
    if source.database is not None or source.in_cloud or not source.files:
        return None
    schema = file_schema((source.real_files or source.files)[0], source.format)
    return None if schema is None else unreadable_column(schema, wanted)


def file_schema(path: str, source_format: str) -> pa.Schema | None:
    """The Arrow schema of a local Parquet or Arrow IPC file; None for other formats or
    a file Arrow cannot open (its reader then says what is wrong)."""
    try:
        if source_format == "parquet":
            return pq.read_schema(path)
        if source_format == "ipc":
            with pa.memory_map(path) as handle:
                return pa.ipc.open_file(handle).schema
    except (OSError, pa.ArrowException):
        return None
    return None


def _holds(schema: pa.Schema) -> bool:
    try:
        pl.from_arrow(schema.empty_table())
    except pl.exceptions.PanicException:
        return False
    except Exception:  # noqa: BLE001 - other refusals are for Polars' own reader to word
        return True
    return True
