"""NDJSON fields the source's columns lack. Without spec.source.schema the columns are
inferred from a file's first 100 lines, and Polars, reading a block with them, leaves
any other top-level field out without a word: an export of every column fails instead,
naming the file, the line and the field (a schema problem, not a bad row: under
on_bad_rows "skip" too). An export whose columns the caller chose has left the field
out by choice."""

from __future__ import annotations

import io
import json

import polars as pl

from sluice.server.pipeline.bad_rows import SourceDataError


def check_fields(block: bytes, schema: pl.Schema, file: str, first_line: int) -> None:
    """Raise SourceDataError when a line of `block` (whose first line is `first_line`)
    holds a top-level field `schema` lacks. Nested fields are not checked (a struct's
    fields cannot be typed in spec.source.schema)."""
    try:
        found = pl.scan_ndjson(io.BytesIO(block), infer_schema_length=None).collect_schema()
    except pl.exceptions.PolarsError:
        found = None  # a line that is not JSON: looked for line by line below
    if found is not None and all(name in schema for name in found):
        return
    for offset, line in enumerate(block.split(b"\n")):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # not JSON: the block's read fails or skips it
        if not isinstance(record, dict):
            continue
        for name in record:
            if name not in schema:
                raise SourceDataError(_message(file, first_line + offset, name))


def _message(file: str, line: int, name: str) -> str:
    return (
        f"{file}: line {line} has a field {name[:100]!r} the source's columns lack (they "
        "are inferred from the first 100 lines): give its type in spec.source.schema "
        "(CLI --schema) to export it, or choose the columns to export (spec.query.columns, "
        "CLI --columns) to leave it out"
    )
