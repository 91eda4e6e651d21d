"""Polars data types as Polars hands them inside nested types: an instance, or a bare
class (a struct field or list item typed `pl.Int64`), and the one way to read both
(sluice.format.nested_types, shared with the client's text forms)."""

from __future__ import annotations

import polars as pl

from sluice.format.nested_types import AnyType as AnyType
from sluice.format.nested_types import instance as instance
from sluice.format.nested_types import with_leaves


def _without_categoricals(dtype: AnyType) -> pl.DataType:
    """The type with every Categorical (at any depth, map keys too) as String."""
    return with_leaves(
        dtype, lambda leaf: pl.String() if isinstance(leaf, pl.Categorical) else leaf
    )


def _maps_as_lists(dtype: AnyType) -> pl.DataType:
    """The type with every Map as the list of key/value structs it is made of."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.List):
        return pl.List(_maps_as_lists(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(_maps_as_lists(dtype.inner), dtype.size)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _maps_as_lists(f.dtype) for f in dtype.fields})
    if isinstance(dtype, pl.Map):
        entry = {"key": _maps_as_lists(dtype.key), "value": _maps_as_lists(dtype.value)}
        return pl.List(pl.Struct(entry))
    return dtype


def without_categoricals(schema: pl.Schema) -> pl.Schema:
    """`schema` with every Categorical as String (the types categoricals_as_text makes)."""
    return pl.Schema({name: _without_categoricals(dtype) for name, dtype in schema.items()})


def categoricals_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its Categorical values (also inside lists, structs and maps) as
    strings."""
    schema = frame.schema  # once: frame.schema is built anew at each call
    changed = {
        name: plain
        for name, dtype in schema.items()
        if (plain := _without_categoricals(dtype)) != dtype
    }
    if not changed:
        return frame
    # Polars casts no map key ("cannot cast Map key `cat` to `str`"), but casts the
    # key/value structs a map is made of: through those, then back to maps.
    return frame.with_columns(
        pl.col(name).cast(_maps_as_lists(schema[name])).cast(_maps_as_lists(plain)).cast(plain)
        for name, plain in changed.items()
    )
