"""pyarrow's parse of an NDJSON block standing for Polars' read of it. The field check
(ndjson_fields) parses every block with pyarrow when a read may leave a field out: an
export of every column, or of chosen columns one of which is a struct. Reading the block
again with Polars doubled the read's CPU. Where the two parsers agree, the parse is the
read: columns of the types both parse alike (str, int64, float64, bool, lists and
structs of them; a column of nulls only), every line one object (opening with `{`,
one row each: pyarrow reads a line of `null` or `[]`, or two objects on one, as rows;
Polars fails them), valid UTF-8, no NaN or Infinity (pyarrow reads
them, Polars fails their line) and no negative zero (pyarrow reads `-0` as -0.0 in a
float column, Polars as 0.0). Anything else is read by Polars, as it always was: its
bad lines are named or skipped as before."""

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
    lines = _object_lines(block)
    if lines is None or table.num_rows != lines:
        return None  # a blank line, `null`, `[]`, two objects on one: Polars' to read
    if any(_unlike_floats(column) for column in table.columns):
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


def _object_lines(block: bytes) -> int | None:
    """The count of lines of `block` when every one opens with `{`, else None: a blank
    line, a line of another JSON value (`null`, `[]`), or one with a BOM or blanks
    before its object (Polars' to read). A newline always ends a line (JSON escapes it
    within strings). What follows a line's object is told by the row count: pyarrow
    reads `null` or an object after it as one more row, and fails `[]` or a number."""
    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    opened = block.startswith(b"{") + block.count(b"\n{")
    return lines if opened == lines else None


def _unlike_floats(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a float within `values` (any field, any depth: a float pyarrow was given
    or inferred) is read otherwise by Polars: NaN, Infinity and -Inf (pyarrow reads them,
    Polars fails their lines; a number too big for a float fails in both), or negative
    zero (`-0` as -0.0; Polars reads it as 0.0, `-0.0` as -0.0: the bytes tell)."""
    kind = values.type
    if pa.types.is_floating(kind):
        if pc.any(pc.invert(pc.is_finite(values))).as_py():
            return True
        zeros = pc.filter(values, pc.equal(values, 0.0))
        # 1 / -0.0 is -inf: the sign of a zero, which == cannot see.
        return len(zeros) > 0 and bool(pc.any(pc.less(pc.divide(1.0, zeros), 0.0)).as_py())
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if pa.types.is_struct(kind):
        return any(_unlike_floats(c.field(i)) for c in chunks for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return any(_unlike_floats(c.flatten()) for c in chunks)
    return False


def _same(given: AnyType) -> bool:
    dtype = instance(given)
    if isinstance(dtype, pl.List):
        return _same(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return all(_same(field.dtype) for field in dtype.fields)
    return isinstance(dtype, _SAME_TYPES)
