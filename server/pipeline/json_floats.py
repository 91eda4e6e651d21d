"""NaN and infinities in JSON records (jsonl, json).

JSON has no notation for them, and Polars' JSON writer writes them as `null`, so a NaN
read back as a missing value: a silently changed value. Sluice writes them as the strings
`"NaN"`, `"Infinity"` and `"-Infinity"`, as Protocol Buffers' JSON mapping does for float
and double fields, so they stay apart from nulls and from every number.

Only a batch whose top-level float columns hold such a value takes this path: its lines
are made by column-wise Polars expressions, every other column's text by Polars' own
JSON writer and every finite float's by Polars' float-to-text cast, which writes the same
digits as the JSON writer (so a record's text depends only on its values). Other batches
go to the JSON writer untouched, at the cost of one `is_finite` pass over their float
columns.
"""

from __future__ import annotations

import polars as pl

NON_FINITE_TEXT = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def _has_non_finite(frame: pl.DataFrame) -> list[str]:
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    if not floats or frame.height == 0:
        return []
    finite = frame.select(
        (pl.col(name).is_finite() | pl.col(name).is_null()).all() for name in floats
    ).row(0)
    return [name for name, ok in zip(floats, finite, strict=True) if not ok]


def _member_key(name: str) -> str:
    """`"name":` as Polars' JSON writer spells the key."""
    line = pl.DataFrame({name: [None]}).write_ndjson()
    return line[1 : -len("null}\n")]


def _float_text(column: pl.Expr) -> pl.Expr:
    return (
        pl.when(column.is_nan())
        .then(pl.lit(NON_FINITE_TEXT["nan"]))
        .when(column == float("inf"))
        .then(pl.lit(NON_FINITE_TEXT["inf"]))
        .when(column == float("-inf"))
        .then(pl.lit(NON_FINITE_TEXT["-inf"]))
        .otherwise(column.cast(pl.String))
        .fill_null(pl.lit("null"))
    )


def _value_text(column: pl.Expr) -> pl.Expr:
    # Polars' JSON writer on a one-member object; the member's value cut out of it.
    return pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def records_with_non_finite(frame: pl.DataFrame) -> bytes | None:
    """The batch's JSON lines (one record each, newline-terminated) when a top-level
    float column holds NaN or an infinity; None otherwise (write it with Polars)."""
    if not _has_non_finite(frame):
        return None
    members = [
        pl.concat_str(
            pl.lit(_member_key(name)),
            _float_text(pl.col(name)) if dtype.is_float() else _value_text(pl.col(name)),
        )
        for name, dtype in frame.schema.items()
    ]
    line = pl.concat_str(pl.lit("{"), pl.concat_str(members, separator=","), pl.lit("}\n"))
    return "".join(frame.select(line.alias("line")).to_series().to_list()).encode()
