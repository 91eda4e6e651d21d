"""Column and field names Sluice can carry: not the ones Polars reads as patterns.

Wherever a name goes into a Polars expression (`pl.col(name)`, `struct.field(name)`),
Polars reads `*` as every column and a name that starts with `^` and ends with `$` as a
regular expression over the names: an XML export of a column `*` wrote every column's
value in it, and a struct field `*` made Polars panic. Such a source is refused when the
export is planned, naming the column, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from sluice.server.errors import DataDependentArgument
from sluice.server.pipeline.data_types import instance


def _is_pattern(name: str) -> bool:
    return name == "*" or (len(name) > 1 and name.startswith("^") and name.endswith("$"))


def _fields(path: str, dtype: pl.DataType) -> Iterator[tuple[str, str]]:
    """(dotted path, own name) of every struct field under `path`, list items as `[]`."""
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            name = f"{path}.{field.name}"
            yield name, field.name
            yield from _fields(name, instance(field.dtype))
    elif isinstance(dtype, pl.List | pl.Array):
        yield from _fields(f"{path}[]", instance(dtype.inner))


def check_column_names(schema: pl.Schema) -> None:
    """Refuse a schema with a column or struct field Polars would read as a pattern."""
    for column, dtype in schema.items():
        if _is_pattern(column):
            _refuse(column)
        for path, name in _fields(column, dtype):
            if _is_pattern(name):
                _refuse(path)


def _refuse(name: str) -> None:
    raise DataDependentArgument(
        "spec.source.uri",
        f"the source has a column {name!r}, a name Sluice cannot carry (its query engine "
        "reads '*' and '^...$' as patterns over the names): rename it in the source",
    )
