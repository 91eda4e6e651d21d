"""pyarrow's parse of an NDJSON block standing for Polars' read of it. The field check
(ndjson_fields) parses every block with pyarrow; reading it again with Polars doubled
the read's CPU. Where the two parsers agree, the parse is the read: columns of the
types both parse alike (str, int64, float64, bool, lists and structs of them; a column
of nulls only), one record per line, valid UTF-8, no NaN or Infinity (pyarrow reads
them, Polars fails their line). Anything else is read by Polars, as it always was:
its bad lines are named or skipped as before."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.format.nested_types import AnyType, instance

#: Types pyarrow's JSON parse gives as Polars' read does.
_SAME_TYPES = (pl.String, pl.Int64, pl.Float64, pl.Boolean)


def arrow_frame(table: pa.Table, block: bytes, schema: pl.Schema) -> pl.DataFrame | None:
    """The records of `block` (parsed into `table`) as `schema`, when Polars' read of the
    block would give the very same frame; None when it is for Polars to read."""
    if not all(_same(dtype) or dtype == pl.Null() for dtype in schema.values()):
        return None
    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    if table.num_rows != lines:
        return None  # a blank line, or two objects on one: Polars' to read
    if any(_not_finite(column) for column in table.columns):
        return None
    try:
        table.validate(full=True)  # pyarrow keeps bytes that are no UTF-8; Polars refuses
    except pa.ArrowInvalid:
        return None
    present = [name for name in schema if name in table.column_names]
    frame = pl.from_arrow(table.select(present))
    assert isinstance(frame, pl.DataFrame)
    # A column of nulls only is inferred by pyarrow: absent when the block lacks it.
    frame = frame.with_columns(
        pl.lit(None, pl.Null()).alias(name) for name in schema if name not in present
    ).select(list(schema))
    return frame if frame.schema == schema else None


def _not_finite(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a float within `values` is NaN or infinite: pyarrow reads NaN, Infinity
    and -Inf (any field, any depth: a float it was given or inferred); Polars fails their
    lines, and a number too big for a float fails in both."""
    kind = values.type
    if pa.types.is_floating(kind):
        return bool(pc.any(pc.invert(pc.is_finite(values))).as_py())
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if pa.types.is_struct(kind):
        return any(_not_finite(c.field(i)) for c in chunks for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return any(_not_finite(c.flatten()) for c in chunks)
    return False


def _same(given: AnyType) -> bool:
    dtype = instance(given)
    if isinstance(dtype, pl.List):
        return _same(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return all(_same(field.dtype) for field in dtype.fields)
    return isinstance(dtype, _SAME_TYPES)
