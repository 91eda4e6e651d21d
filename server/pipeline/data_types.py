"""Polars data types as Polars hands them inside nested types: an instance, or a bare
class (a struct field or list item typed `pl.Int64`), and the one way to read both."""

from __future__ import annotations

import polars as pl

#: A type as a struct field or list item gives it: an instance, or a bare class.
AnyType = pl.DataType | pl.datatypes.DataTypeClass


def instance(dtype: AnyType) -> pl.DataType:
    """The type as an instance (a bare class: with its defaults)."""
    return dtype() if isinstance(dtype, pl.datatypes.DataTypeClass) else dtype
