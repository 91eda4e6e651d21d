"""Polars types as Polars hands them inside nested types (an instance, or a bare class:
a struct field or list item typed `pl.Int64`), and types rebuilt with the plain types
inside them replaced, at any depth: list and array items, struct fields, map keys and
values. The one walk the encoders' and the text forms' type rewrites share."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

#: A type as a struct field or list item gives it: an instance, or a bare class.
AnyType = pl.DataType | pl.datatypes.DataTypeClass


def instance(dtype: AnyType) -> pl.DataType:
    """The type as an instance (a bare class: with its defaults)."""
    return dtype() if isinstance(dtype, pl.datatypes.DataTypeClass) else dtype


def with_leaves(dtype: AnyType, leaf: Callable[[pl.DataType], pl.DataType]) -> pl.DataType:
    """`dtype` with every type inside it that holds no other (and `dtype` itself, if it
    holds none) replaced by `leaf` of it; lists, arrays, structs and maps kept."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.List):
        return pl.List(with_leaves(dtype.inner, leaf))
    if isinstance(dtype, pl.Array):
        return pl.Array(with_leaves(dtype.inner, leaf), dtype.size)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: with_leaves(f.dtype, leaf) for f in dtype.fields})
    if isinstance(dtype, pl.Map):
        return pl.Map(with_leaves(dtype.key, leaf), with_leaves(dtype.value, leaf))
    return leaf(dtype)
