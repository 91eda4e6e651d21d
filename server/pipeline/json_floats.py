"""NaN and infinities in JSON text (jsonl, json, and the nested values of csv and
markdown, which are JSON).

JSON has no notation for them, and Polars' JSON writer writes them as `null`, so a NaN
read back as a missing value: a silently changed value. Sluice writes them as the strings
`"NaN"`, `"Infinity"` and `"-Infinity"`, as Protocol Buffers' JSON mapping does for float
and double fields, so they stay apart from nulls and from every number; at any depth
(in lists, arrays, structs and map values).

Only a column that holds such a value in the batch takes this path: its text is made by
column-wise Polars expressions, every finite float's by Polars' float-to-text cast (which
writes the same digits as the JSON writer) and every other value's by Polars' own JSON
writer, so a record's text depends only on its values. Other batches go to the JSON
writer untouched, at the cost of one `is_finite` pass over their float values.
"""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.data_types import AnyType, instance

NON_FINITE_TEXT = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def _floats_within(expression: pl.Expr, dtype: AnyType) -> list[pl.Expr]:
    """Every float value nested in the column, each group as one flat expression."""
    dtype = instance(dtype)
    if dtype.is_float():
        return [expression]
    if isinstance(dtype, pl.List):
        return _floats_within(expression.list.explode(), dtype.inner)
    if isinstance(dtype, pl.Array):
        return _floats_within(expression.arr.explode(), dtype.inner)
    if isinstance(dtype, pl.Struct):
        return [
            found
            for field in dtype.fields
            for found in _floats_within(expression.struct.field(field.name), field.dtype)
        ]
    if isinstance(dtype, pl.Map):
        entries = expression.map.entries().list.explode()
        return _floats_within(entries.struct.field("value"), dtype.value)
    return []


def non_finite_columns(frame: pl.DataFrame) -> set[str]:
    """The columns holding NaN or an infinity, at any depth."""
    checks = [
        (~values.is_finite()).any().alias(f"{position}.{part}")
        for position, (name, dtype) in enumerate(frame.schema.items())
        for part, values in enumerate(_floats_within(pl.col(name), dtype))
    ]
    if not checks or frame.height == 0:
        return set()
    found = frame.select(checks).row(0, named=True)
    columns = frame.columns
    return {columns[int(key.split(".")[0])] for key, hit in found.items() if hit}


def _member_key(name: str) -> str:
    """`"name":` as Polars' JSON writer spells the key."""
    line = pl.DataFrame({name: [None]}).write_ndjson()
    return line[1 : -len("null}\n")]


def _writer_text(expression: pl.Expr) -> pl.Expr:
    # Polars' JSON writer on a one-member object; the member's value cut out of it.
    return pl.struct(expression.alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def json_text(expression: pl.Expr, dtype: AnyType) -> pl.Expr:
    """The value's JSON text ("null" for a null), non-finite floats as strings."""
    dtype = instance(dtype)
    if dtype.is_float():
        body = (
            pl.when(expression.is_nan())
            .then(pl.lit(NON_FINITE_TEXT["nan"]))
            .when(expression == float("inf"))
            .then(pl.lit(NON_FINITE_TEXT["inf"]))
            .when(expression == float("-inf"))
            .then(pl.lit(NON_FINITE_TEXT["-inf"]))
            .otherwise(expression.cast(pl.String))
        )
    elif not _floats_within(expression, dtype):
        return _writer_text(expression)
    elif isinstance(dtype, pl.List | pl.Array):
        listed = expression.arr.to_list() if isinstance(dtype, pl.Array) else expression
        items = listed.list.eval(json_text(pl.element(), dtype.inner)).list.join(",")
        body = pl.concat_str(pl.lit("["), items, pl.lit("]"))
    elif isinstance(dtype, pl.Struct):
        members = [
            pl.concat_str(
                pl.lit(_member_key(f.name)), json_text(expression.struct.field(f.name), f.dtype)
            )
            for f in dtype.fields
        ]
        body = pl.concat_str(pl.lit("{"), pl.concat_str(members, separator=","), pl.lit("}"))
    else:
        assert isinstance(dtype, pl.Map)
        entry = pl.concat_str(
            _writer_text(pl.element().struct.field("key")),
            pl.lit(":"),
            json_text(pl.element().struct.field("value"), dtype.value),
        )
        items = expression.map.entries().list.eval(entry).list.join(",")
        body = pl.concat_str(pl.lit("{"), items, pl.lit("}"))
    return pl.when(expression.is_null()).then(pl.lit("null")).otherwise(body)


def records_with_non_finite(frame: pl.DataFrame) -> bytes | None:
    """The batch's JSON lines (one record each, newline-terminated) when a column holds
    NaN or an infinity at any depth; None otherwise (write it with Polars)."""
    special = non_finite_columns(frame)
    if not special:
        return None
    members = [
        pl.concat_str(
            pl.lit(_member_key(name)),
            json_text(pl.col(name), dtype) if name in special else _writer_text(pl.col(name)),
        )
        for name, dtype in frame.schema.items()
    ]
    line = pl.concat_str(pl.lit("{"), pl.concat_str(members, separator=","), pl.lit("}\n"))
    return "".join(frame.select(line.alias("line")).to_series().to_list()).encode()


def nested_json_text(frame: pl.DataFrame, names: list[str]) -> list[pl.Expr]:
    """The nested columns `names` as JSON text (csv and markdown cells)."""
    special = non_finite_columns(frame.select(names))
    return [
        (
            json_text(pl.col(name), frame.schema[name])
            if name in special
            else _writer_text(pl.col(name))
        ).alias(name)
        for name in names
    ]
