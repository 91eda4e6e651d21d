"""Which Parquet columns get dictionary encoding, decided from a chunk's first batch.

pyarrow dictionary-encodes every column by default and falls back to plain encoding
once a dictionary grows too large, so high-cardinality columns (ids, e-mail addresses,
timestamps) pay for building a dictionary they then throw away. On the demo data that
is a third of the encoder's time and makes files larger. Columns whose values repeat
(at most half of them distinct) keep the dictionary; the others are written plain.
The decision depends only on the chunk's first batch, so a resumed chunk is encoded
exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

#: A column keeps its dictionary when distinct values are at most this share of values.
DICTIONARY_MAX_DISTINCT_SHARE = 0.5


def dictionary_columns(batch: pl.DataFrame) -> list[str]:
    """Parquet leaf paths (as pyarrow names them) worth dictionary-encoding."""
    return [path for path, values in _leaves(batch) if _repetitive(values)]


def _repetitive(values: pl.Series) -> bool:
    present = values.drop_nulls()
    return present.len() > 0 and present.n_unique() <= present.len() * (
        DICTIONARY_MAX_DISTINCT_SHARE
    )


def _leaves(batch: pl.DataFrame) -> Iterator[tuple[str, pl.Series]]:
    for column in batch.iter_columns():
        yield from _leaf_values(column.name, column)


def _leaf_values(path: str, values: pl.Series) -> Iterator[tuple[str, pl.Series]]:
    dtype = values.dtype
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from _leaf_values(f"{path}.{field.name}", values.struct.field(field.name))
    elif isinstance(dtype, pl.List | pl.Array):
        # pyarrow writes lists in Parquet's compliant three-level form.
        yield from _leaf_values(f"{path}.list.element", values.explode())
    else:
        yield path, values
