"""Which columns an output format can write: checked while planning, so a column no
encoder of the format can write is refused naming the column and the format, before any
I/O, instead of failing the export midway (or, worse, panicking in Polars)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from sluice.server.errors import DataDependentArgument, quoted
from sluice.server.pipeline.data_types import AnyType, instance

#: Formats that hold bytes: natively (Parquet, Arrow IPC), or as base64 (XML's
#: xs:base64Binary, YAML's !!binary); the others have no notation for them.
_BINARY_FORMATS = frozenset({"parquet", "arrow", "xml", "yaml"})
#: Formats that write a map natively (Parquet, Arrow IPC) or as a JSON object (jsonl,
#: json, and csv and markdown, whose nested values are JSON text). XML and YAML have no
#: encoding of maps yet.
_MAP_FORMATS = frozenset({"parquet", "arrow", "jsonl", "json", "csv", "markdown"})
#: Formats that write a map as a JSON object, whose keys are text: a map's keys must be
#: text already, or dates and times (written as their text, as everywhere).
_JSON_OBJECT_FORMATS = frozenset({"jsonl", "json", "csv", "markdown"})
_TEXT_KEYS = (pl.String, pl.Categorical, pl.Enum, pl.Date, pl.Datetime, pl.Time, pl.Duration)


def _within(dtype: AnyType) -> Iterator[pl.DataType]:
    """The type and every type nested in it (struct fields, list items, map keys and
    values)."""
    dtype = instance(dtype)
    yield dtype
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from _within(field.dtype)
    elif isinstance(dtype, pl.List | pl.Array):
        yield from _within(dtype.inner)
    elif isinstance(dtype, pl.Map):
        yield from _within(dtype.key)
        yield from _within(dtype.value)


def _problem(format_name: str, dtype: pl.DataType) -> str:
    """Why `format_name` cannot write a column of this type ("" when it can)."""
    types = list(_within(dtype))
    if format_name not in _BINARY_FORMATS and any(isinstance(t, pl.Binary) for t in types):
        return f"holds bytes, which {format_name} cannot write; use parquet, arrow, xml or yaml"
    maps = [t for t in types if isinstance(t, pl.Map)]
    if maps and format_name not in _MAP_FORMATS:
        return f"holds a map, which {format_name} cannot write; use parquet, arrow, jsonl or json"
    if format_name in _JSON_OBJECT_FORMATS:
        for kind in maps:
            if not isinstance(instance(kind.key), _TEXT_KEYS):
                return (
                    f"is a map with {instance(kind.key)} keys, which {format_name} cannot "
                    "write (JSON object keys are text); use parquet or arrow, or cast the "
                    "keys to text"
                )
    return ""


def check_columns_fit(format_name: str, schema: pl.Schema) -> None:
    """Raise InvalidArgument on spec.output.format naming the first column the format
    cannot write, why, and what to do instead."""
    for name, dtype in schema.items():
        problem = _problem(format_name, dtype)
        if problem:
            raise DataDependentArgument(
                "spec.output.format",
                f"column {quoted(name)} {problem}, or leave the column out (query.columns)",
            )
