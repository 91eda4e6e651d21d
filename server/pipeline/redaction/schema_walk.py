"""Locations inside a schema (top-level columns, struct fields, list elements) and the
expressions that rebuild a column with some of its locations rewritten.

A location is a tuple of steps from the top-level column: field names, and "[]" for the
elements of a list, so `contacts[].email` is ("contacts", "[]", "email"). Its dotted
name ("contacts.email") is what rules match and counters report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

import polars as pl

from sluice.server.pipeline.data_types import AnyType, instance

Location = tuple[str, ...]
#: Rewrites one value; returns None to remove it (drop).
Rewrite = Callable[[pl.Expr, pl.DataType], pl.Expr | None]
ELEMENT: Final = "[]"


def dotted(location: Location) -> str:
    return ".".join(step for step in location if step != ELEMENT)


def walk(location: Location, dtype: AnyType) -> Iterator[tuple[Location, pl.DataType]]:
    """Every location under (and including) `location`, parents before children."""
    dtype = instance(dtype)
    yield location, dtype
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from walk((*location, field.name), field.dtype)
    elif isinstance(dtype, pl.List):
        yield from walk((*location, ELEMENT), dtype.inner)


def dictionary_free(dtype: AnyType) -> pl.DataType:
    """`dtype` with every Categorical and Enum inside it read as String: text stored as a
    dictionary (a Parquet column written from pandas' category dtype, an Arrow
    dictionary array) is text the rules must read like any other."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return pl.String()
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: dictionary_free(f.dtype) for f in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(dictionary_free(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(dictionary_free(dtype.inner), dtype.size)
    return dtype


def is_nested(dtype: AnyType) -> bool:
    return isinstance(dtype, pl.Struct | pl.List | pl.Array | pl.Map)


def rebuild(
    value: pl.Expr, dtype: AnyType, at: Location, rewrites: Mapping[Location, Rewrite]
) -> pl.Expr | None:
    """`value` (found at `at`) with every location in `rewrites` rewritten."""
    dtype = instance(dtype)
    if at in rewrites:
        return rewrites[at](value, dtype)
    if not any(len(loc) > len(at) and loc[: len(at)] == at for loc in rewrites):
        return value
    if isinstance(dtype, pl.Struct):
        fields = []
        for field in dtype.fields:
            new = rebuild(value.struct.field(field.name), field.dtype, (*at, field.name), rewrites)
            if new is not None:
                fields.append(new.alias(field.name))
        if not fields:
            return None
        return pl.when(value.is_null()).then(None).otherwise(pl.struct(fields))
    if isinstance(dtype, pl.List):
        inner = rebuild(pl.element(), dtype.inner, (*at, ELEMENT), rewrites)
        return None if inner is None else value.list.eval(inner)
    return value


def extract(value: pl.Expr, steps: Location) -> pl.Expr:
    """The values at `steps` below `value`: a list (of lists ...) when crossing lists."""
    if not steps:
        return value
    head, rest = steps[0], steps[1:]
    if head == ELEMENT:
        # A list's elements themselves are the list: no `list.eval` pass to copy them.
        return value.list.eval(extract(pl.element(), rest)) if rest else value
    return extract(value.struct.field(head), rest)


def any_present(value: pl.Expr, steps: Location) -> pl.Expr:
    """Per row: whether any value exists at `steps` (the values a rule touched)."""
    return any_where(value, steps, pl.Expr.is_not_null)


def any_where(value: pl.Expr, steps: Location, test: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """Per row: whether `test` holds for any value at `steps`."""
    if not steps:
        return test(value).fill_null(False)
    head, rest = steps[0], steps[1:]
    if head == ELEMENT:
        return value.list.eval(any_where(pl.element(), rest, test)).list.any().fill_null(False)
    return any_where(value.struct.field(head), rest, test)
