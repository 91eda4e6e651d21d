"""Polars data types as Polars hands them inside nested types: an instance, or a bare
class (a struct field or list item typed `pl.Int64`), and the one way to read both."""

from __future__ import annotations

import polars as pl

#: A type as a struct field or list item gives it: an instance, or a bare class.
AnyType = pl.DataType | pl.datatypes.DataTypeClass


def instance(dtype: AnyType) -> pl.DataType:
    """The type as an instance (a bare class: with its defaults)."""
    return dtype() if isinstance(dtype, pl.datatypes.DataTypeClass) else dtype


def _without_categoricals(dtype: AnyType) -> pl.DataType:
    """The type with every Categorical (at any depth but map keys) as String."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Categorical):
        return pl.String()
    if isinstance(dtype, pl.List):
        return pl.List(_without_categoricals(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(_without_categoricals(dtype.inner), dtype.size)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _without_categoricals(f.dtype) for f in dtype.fields})
    if isinstance(dtype, pl.Map):
        return pl.Map(instance(dtype.key), _without_categoricals(dtype.value))
    return dtype


def categoricals_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its Categorical values (also inside lists and structs) as strings."""
    changed = {
        name: plain
        for name, dtype in frame.schema.items()
        if (plain := _without_categoricals(dtype)) != dtype
    }
    return frame.cast(changed) if changed else frame  # type: ignore[arg-type]
