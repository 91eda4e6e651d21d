"""Column types a caller may give a CSV or NDJSON source (spec.source.schema) instead of
inferred ones: inference reads the first rows only and turns card numbers, phone numbers
and zip codes into integers (leading zeros gone, identifiers no longer text).

An NDJSON schema is inferred from the first 100 lines: a field that is null in all of
them was read as nulls (a later value failed its line as "not a JSON object of the
source's columns", or was skipped under on_bad_rows "skip"), and one absent from all of
them was left out of the export without a word. So an NDJSON source's types may also
name columns its first lines lack: they are added after the inferred ones; and a path of
quoted names ('"user"."email"', field_paths) types a field inside a struct column,
added when its first lines lack it (a struct's field new past them was left out too).
Any other name is a column's, dots and all ("service.name"). A CSV source's header names
all its columns, so an unknown one is the caller's mistake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from sluice.format.nested_types import AnyType, instance
from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.field_paths import FieldPath, parse_name

_FIELD: Final = "spec.source.schema"
#: Source formats whose columns may be given types.
TYPED_FORMATS: Final = ("csv", "ndjson")
#: Canonical type names and the Polars types the source is read as.
COLUMN_TYPES: Final[dict[str, pl.DataType]] = {
    "str": pl.String(),
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "uint64": pl.UInt64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    #: With a zone offset in every value ("2024-05-01T10:00:00Z"), kept as UTC.
    "datetime_utc": pl.Datetime("us", "UTC"),
}
_ALIASES: Final = {
    "string": "str",
    "utf8": "str",
    "text": "str",
    "float": "float64",
    "double": "float64",
    "boolean": "bool",
    "timestamp": "datetime",
    "timestamptz": "datetime_utc",
}
MAX_COLUMNS: Final = 10_000


def canonical_types(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The (column, type) pairs with canonical type names; InvalidArgument naming
    spec.source.schema for an empty or repeated column or an unknown type."""
    if len(pairs) > MAX_COLUMNS:
        raise InvalidArgument(_FIELD, f"at most {MAX_COLUMNS} columns")
    seen: set[FieldPath] = set()
    canonical = []
    for name, kind in pairs:
        if not name:
            raise InvalidArgument(_FIELD, "a column name is empty")
        path = _path(name)
        if path in seen:
            raise InvalidArgument(_FIELD, f"column {name[:100]!r} is listed twice")
        seen.add(path)
        key = kind.strip().lower()
        key = _ALIASES.get(key, key)
        if key not in COLUMN_TYPES:
            raise InvalidArgument(
                _FIELD,
                f"unknown type {kind[:40]!r} for column {name[:100]!r}; expected one of "
                f"{', '.join(COLUMN_TYPES)}",
            )
        canonical.append((name, key))
    return tuple(canonical)


def with_column_types(
    schema: pl.Schema, pairs: Sequence[tuple[str, str]], *, add_missing: bool = False
) -> pl.Schema:
    """`schema` with the given columns' types replaced; every column must exist, unless
    `add_missing` (NDJSON), when the missing ones are added after the others, and a path
    of quoted names ('"user"."email"') types a field inside the struct column it starts
    with (through lists of structs too), added when missing."""
    paths = [(_path(name), name, kind) for name, kind in pairs]
    named = {path[0]: kind for path, _, kind in paths if len(path) == 1}
    missing = [name for name in named if name not in schema]
    if missing and not add_missing:
        raise InvalidArgument(
            _FIELD,
            f"no column {missing[0][:100]!r} in the source (its columns: {_names(schema)})",
        )
    columns: dict[str, AnyType] = {
        **{name: COLUMN_TYPES[named[name]] if name in named else dtype
           for name, dtype in schema.items()},
        **{name: COLUMN_TYPES[named[name]] for name in missing},
    }  # fmt: skip
    for path, name, kind in paths:
        if len(path) == 1:
            continue
        if not add_missing or path[0] not in columns:
            raise InvalidArgument(
                _FIELD,
                f"{name[:100]!r} names a field inside {path[0][:100]!r}, which is no struct "
                f"column of the source (its columns: {_names(schema)})",
            )
        columns[path[0]] = _with_field(columns[path[0]], list(path[1:]), COLUMN_TYPES[kind], name)
    return pl.Schema(columns)


def _path(name: str) -> FieldPath:
    try:
        return parse_name(name)
    except ValueError as exc:
        raise InvalidArgument(
            _FIELD,
            f"{name[:100]!r} is neither a column's name nor a path of quoted names "
            f'(\'"user"."email"\'): {exc}',
        ) from None


def _with_field(
    given: AnyType | None, path: list[str], kind: pl.DataType, name: str
) -> pl.DataType:
    """`given` (a struct, a list of them, or None: a struct made) with the field at
    `path` of type `kind`; InvalidArgument for a path through a column of another type."""
    dtype = None if given is None else instance(given)
    if isinstance(dtype, pl.List):
        return pl.List(_with_field(dtype.inner, path, kind, name))
    if dtype is not None and not isinstance(dtype, pl.Struct):
        raise InvalidArgument(
            _FIELD,
            f"{name[:100]!r} names a field inside a field that is not a struct (its type: {dtype})",
        )
    fields = {field.name: field.dtype for field in dtype.fields} if dtype is not None else {}
    head, *rest = path
    fields[head] = _with_field(fields.get(head), rest, kind, name) if rest else kind
    return pl.Struct(fields)


def _names(schema: pl.Schema) -> str:
    # The row-position column the source adds is the pipeline's, not the caller's.
    return ", ".join(name for name in schema if not name.startswith("__sluice"))[:500]
