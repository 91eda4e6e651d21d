"""PostgreSQL column types -> Arrow/Polars types, and the SQL that reads each column.

Types with a faithful Arrow counterpart are read as they are: bool, int2/4/8 (Int16/32/64),
float4/8, numeric(p,s) (Decimal(p,s); numeric without a precision is read as its exact
text, since no fixed decimal holds every value), text/varchar/char/name, bytea (Binary),
date, time, timestamp (naive), timestamptz (UTC), and one-dimensional arrays of these
(lists). Types without one are read as their PostgreSQL text, which is exact: uuid
(canonical form), json/jsonb (JSON text), interval (ISO 8601, e.g. "P1Y2M3DT4H5M6S",
since a duration type cannot hold months), and anything else (enums, inet, ranges...).

Values these types cannot hold fail the export naming the column and the row, never a
changed value (database_values): 'infinity' and '-infinity' timestamps and dates,
time '24:00:00', and arrays of more than one dimension or with a lower bound other
than 1 (array_shapes).

json and jsonb travel in their binary forms, not `::text`: ADBC's driver decodes them into
their exact text (json's text as stored, jsonb's normal form: what the output functions
give) in an Arrow extension type the reader unwraps; the cast cost the backend about
0.03-0.04 CPU s per 1M rows of the benchmark's jsonb, the binary form costs the driver
nothing more. numeric(p,s) stays `::text`: its binary form costs the driver 0.35 CPU s
more per 1M rows (formatting base-10000 digits) than it saves the backend (0.08)
(benchmarks/postgres_backend_cpu.py and the report of the PR that measured it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

#: Base types read as they are, by pg_type.typname.
_NATIVE: dict[str, pl.DataType] = {
    "bool": pl.Boolean(),
    "int2": pl.Int16(),
    "int4": pl.Int32(),
    "int8": pl.Int64(),
    "float4": pl.Float32(),
    "float8": pl.Float64(),
    "text": pl.String(),
    "varchar": pl.String(),
    "bpchar": pl.String(),
    "name": pl.String(),
    "bytea": pl.Binary(),
    "date": pl.Date(),
    "time": pl.Time(),
    "timestamp": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
}
#: Types read as text whose binary form the driver decodes into that same text.
_BINARY_TEXT = frozenset({"json", "jsonb"})
#: Largest precision of a decimal Arrow/Polars holds (decimal128).
_MAX_PRECISION = 38


@dataclass(frozen=True)
class ColumnType:
    """How one column is read: its Polars type and whether it is cast to text in SQL."""

    dtype: pl.DataType
    as_text: bool = False
    #: A text[] cast for arrays of types read as text.
    as_text_array: bool = False
    #: A computed column: the SQL expression (e.g. a row's visibility in a snapshot).
    expression: str = ""
    #: Sent as exact text and converted by the reader (numeric(p,s): the driver hands
    #: numeric over as an opaque extension type).
    via_text: bool = False
    #: Selected in its binary form although the pipeline sees text (json, jsonb): the
    #: driver decodes it into the text the output function would give.
    binary_text: bool = False

    def select(self, quoted_name: str) -> str:
        """The select-list expression reading the column under its own name."""
        if self.expression:
            return f"{self.expression} AS {quoted_name}"
        if self.as_text_array or (self.via_text and isinstance(self.dtype, pl.List)):
            return f"{quoted_name}::text[] AS {quoted_name}"
        if self.binary_text:
            return quoted_name
        if self.as_text or self.via_text:
            return f"{quoted_name}::text AS {quoted_name}"
        return quoted_name


#: Name of the select-list item array_shapes adds (after the columns read).
ARRAY_SHAPES = "sluice_array_shapes"


def array_shapes(columns: Sequence[tuple[str, ColumnType]]) -> str:
    """A select-list item (or "" when no column is an array): per row, the place in
    `columns` (quoted name, reading) of the first array of more than one dimension or
    whose lower bound is not 1, else NULL. The driver flattens such an array into one
    list ('{{1,2},{3,4}}' became [1,2,3,4], '[0:2]={7,8,9}' lost its bounds): the
    reader refuses the row instead (database_values)."""
    terms = [
        f"WHEN array_ndims({name}) > 1 OR array_lower({name}, 1) <> 1 THEN {place}"
        for place, (name, reading) in enumerate(columns)
        if isinstance(reading.dtype, pl.List) and not reading.expression
    ]
    if not terms:
        return ""
    return f"CASE {' '.join(terms)} END AS {ARRAY_SHAPES}"


def column_type(typname: str, element: str | None, typmod: int) -> ColumnType:
    """The reading of a column of type `typname` (its element type's name for arrays,
    from pg_type.typelem; its atttypmod / the result's type modifier)."""
    if element is not None and typname.startswith("_"):
        inner = column_type(element, None, typmod)
        if inner.as_text:
            return ColumnType(pl.List(pl.String()), as_text_array=True)
        return ColumnType(pl.List(inner.dtype), via_text=inner.via_text)
    if typname == "numeric":
        precision, scale = numeric_modifier(typmod)
        if precision is None or max(precision, scale) > _MAX_PRECISION or scale < 0:
            return ColumnType(pl.String(), as_text=True)
        # numeric(2,5) (scale above precision, PostgreSQL 15) holds values below 10^-3
        # with 5 places: Decimal(5,5) holds them all; Decimal(2,5) none.
        return ColumnType(pl.Decimal(max(precision, scale), scale), via_text=True)
    if typname in _BINARY_TEXT:
        return ColumnType(pl.String(), as_text=True, binary_text=True)
    native = _NATIVE.get(typname)
    if native is not None:
        return ColumnType(native)
    return ColumnType(pl.String(), as_text=True)


def numeric_modifier(typmod: int) -> tuple[int | None, int]:
    """(precision, scale) of a numeric type modifier; (None, 0) for plain numeric."""
    if typmod < 4:
        return None, 0
    packed = typmod - 4  # VARHDRSZ
    scale = packed & 0x7FF
    if scale >= 0x400:  # PostgreSQL 15 allows negative scales, stored in 11 bits
        scale -= 0x800
    return (packed >> 16) & 0xFFFF, scale
