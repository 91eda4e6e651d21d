"""NDJSON fields the source's columns lack. Without spec.source.schema the columns are
inferred from a file's first 100 lines, and Polars, reading a block with them, leaves
any other field out without a word, a top-level one or one inside a struct (a list of
structs too). Such a field fails the export instead, naming the file, the line and the
field's dotted path (a schema problem, not a bad row: under on_bad_rows "skip" too):
a top-level one when the export takes every column (one whose columns the caller chose
has left it out by choice), a nested one when its column is read. Its remedy is its
type in spec.source.schema: `'"user"."email":str'` for a struct's field, a path of
quoted names (field_paths, column_types); the message shows only a declaration that
names that very field.

Each block is checked by one native pass: pyarrow parses it with the source's columns
and infers any other field (a top-level column or a struct's child it adds); only when
it finds one are the lines looked at one by one, to name the first. A block pyarrow
cannot parse (a bad line, a value of another type), or is not given (one whose first
line does not open with `{`: pyarrow 26 crashes the process on a block opening with
`null`), is checked by Polars' inference of its fields, and, failing that too, line by
line. pyarrow's parse can stand for the
block's read (ndjson_arrow_frames)."""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
from pyarrow import json as pa_json

from sluice.format.nested_types import AnyType, instance
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.field_paths import FieldPath, declared_name

#: Arrow types a JSON value of a Polars type parses as (the check compares fields, not
#: types: a column of another type is left for pyarrow to infer).
_CHECK_TYPES: dict[type[pl.DataType], pa.DataType] = {
    pl.String: pa.string(),
    pl.Int8: pa.int64(),
    pl.Int16: pa.int64(),
    pl.Int32: pa.int64(),
    pl.Int64: pa.int64(),
    pl.UInt8: pa.int64(),
    pl.UInt16: pa.int64(),
    pl.UInt32: pa.int64(),
    pl.Float32: pa.float64(),
    pl.Float64: pa.float64(),
    pl.Boolean: pa.bool_(),
    # Dates and times are strings in JSON: parsed as the column's when it is read.
    pl.Date: pa.string(),
    pl.Datetime: pa.string(),
}


@dataclass(frozen=True)
class FieldCheck:
    """What one NDJSON read checks: the paths of the fields the source has,
    whether a new top-level field counts, and the columns whose new nested fields do."""

    known: frozenset[FieldPath]
    top_level: bool
    nested_in: frozenset[str]
    parse_schema: pa.Schema

    def parse(self, block: bytes) -> tuple[pa.Table | None, bool]:
        """pyarrow's parse of `block` (None when it cannot parse it), and whether a line
        may hold a field the source lacks that the read would leave out (then `name`)."""
        table = _arrow_table(block, self.parse_schema)
        found: set[FieldPath] | None
        if table is not None:
            found = {path for f in table.schema for path in _arrow_paths(f.type, (f.name,))}
        else:
            found = _polars_paths(block)
        suspect = found is None or any(self._counts(path) for path in found - self.known)
        return table, suspect

    def name(self, block: bytes, file: str, first_line: int) -> None:
        """Raise SourceDataError naming the first line of `block` (whose first line is
        `first_line`) that holds a field the source lacks that the read would leave out."""
        for offset, line in enumerate(block.split(b"\n")):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not JSON: the block's read fails or skips it
            if not isinstance(record, dict):
                continue
            for path, value in _paths(record, ()):
                if path not in self.known and self._counts(path):
                    raise SourceDataError(_message(file, first_line + offset, path, value))

    def _counts(self, path: FieldPath) -> bool:
        return path[0] in self.nested_in if len(path) > 1 else self.top_level


def field_check(
    schema: pl.Schema, columns: Collection[str], every_column: bool
) -> FieldCheck | None:
    """The check of a read of `columns` of an NDJSON source of `schema`; None when
    nothing could be left out (columns chosen, none of them a struct)."""
    nested = frozenset(
        name for name in columns if name in schema and len(_paths_of(schema[name], (name,))) > 1
    )
    if not every_column and not nested:
        return None
    known = frozenset(path for name, dtype in schema.items() for path in _paths_of(dtype, (name,)))
    fields = [
        pa.field(name, kind) for name, dtype in schema.items() if (kind := _parse_type(dtype))
    ]
    return FieldCheck(known, every_column, nested, pa.schema(fields))


def _arrow_table(block: bytes, parse_schema: pa.Schema) -> pa.Table | None:
    """The block's lines parsed by pyarrow in one pass, the source's columns as given and
    any other field inferred; None for a block it cannot parse (a line that is not JSON,
    a value of another type than its column's, a key twice in an object) and for one
    whose first line does not open an object: pyarrow (26.0.1) crashes the process
    (SIGSEGV) on a block opening with `null`, blank or not."""
    if not block.startswith(b"{"):
        return None
    try:
        return pa_json.read_json(
            io.BytesIO(block),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=parse_schema, unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _polars_paths(block: bytes) -> set[FieldPath] | None:
    """The field paths of a block's lines by Polars' inference (more lenient about a
    field's types than pyarrow); None when a line is not JSON."""
    try:
        found = pl.scan_ndjson(io.BytesIO(block), infer_schema_length=None).collect_schema()
    except pl.exceptions.PolarsError:
        return None
    return {path for name, dtype in found.items() for path in _paths_of(dtype, (name,))}


def _parse_type(given: AnyType) -> pa.DataType | None:
    """The type pyarrow parses a column of `dtype` as; None: inferred (a type the check
    does not map, or Null: any later value is the read's bad line, not a new field)."""
    dtype = instance(given)
    if isinstance(dtype, pl.Struct):
        children = [pa.field(f.name, kind) for f in dtype.fields if (kind := _parse_type(f.dtype))]
        return pa.struct(children)
    if isinstance(dtype, pl.List):
        inner = _parse_type(dtype.inner)
        return pa.list_(inner) if inner is not None else None
    return _CHECK_TYPES.get(type(dtype))


def _paths_of(given: AnyType, path: FieldPath) -> list[FieldPath]:
    """`path` and the paths of the fields within it (through lists too)."""
    dtype = instance(given)
    if isinstance(dtype, pl.List):
        return _paths_of(dtype.inner, path)
    if isinstance(dtype, pl.Struct):
        return [path, *(p for f in dtype.fields for p in _paths_of(f.dtype, (*path, f.name)))]
    return [path]


def _arrow_paths(kind: pa.DataType, path: FieldPath) -> list[FieldPath]:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _arrow_paths(kind.value_type, path)
    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        return [path, *(p for f in fields for p in _arrow_paths(f.type, (*path, f.name)))]
    return [path]


def _paths(value: object, prefix: FieldPath) -> Iterator[tuple[FieldPath, object]]:
    """The paths of the fields of a JSON value (through lists too), a field before those
    within it."""
    if isinstance(value, list):
        for item in value:
            yield from _paths(item, prefix)
    elif isinstance(value, dict):
        for name, inner in value.items():
            path = (*prefix, str(name))
            yield path, inner
            yield from _paths(inner, path)


def _message(file: str, line: int, path: FieldPath, value: object) -> str:
    """The failure naming the field at `path` (dotted, to read) and how spec.source.schema
    types it: a declaration that names that very field, or none."""
    typed, leaf = path, value
    if isinstance(value, dict) and value and len(path) > 1:
        typed, leaf = _first_leaf(path, value)  # a new object: its first field within
    declaration = f"{declared_name(typed)}:{_suggested(leaf)}"
    if isinstance(leaf, (dict, list)):
        # A struct the first lines lack has no struct column for a path to type.
        remedy = "spec.source.schema cannot type it (an object or a list its first lines lack)"
    elif len(declaration) > _LONGEST_SHOWN:
        remedy = "spec.source.schema cannot type it here (its path is too long to show)"
    else:
        what = "the types of its fields" if typed != path else "its type"
        remedy = (
            f"give {what} in spec.source.schema (CLI --schema), as '{declaration}', to export it"
        )
    leave_out = f"leave {path[0][:100]!r} out of" if len(path) > 1 else "choose"
    return (
        f"{file}: line {line} has a field {'.'.join(path)[:100]!r} the source's columns lack "
        f"(they are inferred from the first 100 lines): {remedy}, or {leave_out} the columns "
        "to export (spec.query.columns, CLI --columns) to leave it out"
    )


#: A declaration longer than this is not shown (it would be cut, naming another field).
_LONGEST_SHOWN = 300


def _first_leaf(path: FieldPath, value: dict[Any, object]) -> tuple[FieldPath, object]:
    """The path of the first field within an object that holds no object."""
    name, inner = next(iter(value.items()))
    if isinstance(inner, dict) and inner:
        return _first_leaf((*path, str(name)), inner)
    return (*path, str(name)), inner


#: The column type a JSON value suggests (bool before int: a bool is an int in Python).
_SUGGESTED = ((bool, "bool"), (int, "int64"), (float, "float64"), (str, "str"))


def _suggested(value: object) -> str:
    """The type a value suggests for its field's declaration."""
    return next((name for cls, name in _SUGGESTED if isinstance(value, cls)), "TYPE")
