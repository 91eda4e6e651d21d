"""How deep a column's structs and lists nest, and the most a source may nest.

Polars' NDJSON reader costs memory by nesting depth far more than by bytes (measured,
1,000 to 100,000 rows of {"a": {...}, "b": [1]} per level: ~0.3 GB at depth 8, ~0.8 GB
at 16, ~1 GB for 1,000 rows at 32 and over 12 GB for depth 200, which the kernel ended by
killing the daemon and every export in it). Deeper NDJSON sources are refused when
planned; other formats read such columns cheaply and are not limited."""

from __future__ import annotations

import polars as pl

#: Levels of structs and lists one column may nest (a scalar is 0, a list of scalars 1).
MAX_NESTING = 16


def nesting(dtype: pl.DataType) -> int:
    """Levels of structs, lists and arrays in `dtype` (iteratively: no recursion limit)."""
    deepest = 0
    pending: list[tuple[pl.DataType, int]] = [(dtype, 0)]
    while pending:
        current, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(current, pl.Struct):
            pending.extend((field.dtype, depth + 1) for field in current.fields)  # type: ignore[misc]
        elif isinstance(current, pl.List | pl.Array):
            pending.append((current.inner, depth + 1))  # type: ignore[arg-type]
    return deepest


def too_deep(schema: pl.Schema) -> tuple[str, int] | None:
    """The first column nesting more than MAX_NESTING levels, and its depth."""
    for name, dtype in schema.items():
        depth = nesting(dtype)
        if depth > MAX_NESTING:
            return name, depth
    return None
