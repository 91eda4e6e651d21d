"""Identifiers stored as integers: a card number in an Int64 column is still a card.

Content rules look for entities inside text. A 64-bit integer column can hold a card
number (13-19 digits) as well, so entities whose digits-only form is specific enough
(cards: issuer prefix, length and Luhn checksum) are also looked for in the decimal text
of Int64, UInt64, Int128 and UInt128 values and of whole decimals (scale 0, at least 13
digits: a database's `NUMERIC(20,0)`, DuckDB's `HUGEINT` as Arrow hands it). Narrower
integers cannot hold 13 digits. Floats are not read: a float holds every 16-digit number
only below 2^53 (a card from 9007… on, and every 17-19 digit one, is rounded already), so
a card stored as one is found by the column's name only. Phone numbers and
national ids written as bare integers are indistinguishable from any other number, so
those are found by column name (the level's column categories), not by content.

An integer cannot hold a mask or a tag, so a matching value becomes null, whatever the
rule's action (except keep): the column keeps its type, and the exported schema is still
known when the export is planned. To keep the last digits visible, read the column as
text (a CSV source's spec.source.schema) or name it after what it holds (card_number).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.validators import CARD_BRANDS

#: Entities found in integers' decimal text (the rules whose label this holds).
INTEGER_ENTITIES: Final = frozenset({"CARD"})
#: Integer types wide enough for 13 digits.
WIDE_INTEGERS: Final = (pl.Int64(), pl.UInt64(), pl.Int128(), pl.UInt128())
#: Digits of the smallest card: a decimal with fewer cannot hold one.
_CARD_DIGITS: Final = 13


def may_hold_cards(dtype: pl.DataType) -> bool:
    """Whether values of `dtype` can be card numbers: wide integers, whole decimals."""
    if isinstance(dtype, pl.Decimal):
        return dtype.scale == 0 and (dtype.precision is None or dtype.precision >= _CARD_DIGITS)
    return dtype in WIDE_INTEGERS


#: The smallest 13-digit number: anything below cannot be a card.
_SMALLEST_CARD: Final = 10**12
#: Digits of the largest UInt64.
_DIGITS: Final = 20
_LARGEST_UINT64: Final = 2**64 - 1


def without_cards(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """`value` with the card numbers among its integers nulled."""

    def batch(values: pl.Series) -> pl.Series:
        # A card fits a UInt64 (19 digits): wider types are read as one, and their
        # values past it, never cards, as null.
        numbers = values if values.dtype in WIDE_INTEGERS[:2] else _as_uint64(values)
        # Cheapest test first, each on what the one before let through: most integers
        # (ids, amounts, counts) are far below 13 digits; of the rest, nine in ten fail
        # the Luhn checksum (computed on the integers); the issuer ranges are checked on
        # the decimal text of the few left.
        index = (numbers >= _SMALLEST_CARD).fill_null(False).arg_true()
        if index.is_empty():
            return values
        luhn = numbers.gather(index).to_frame("v").select(_luhn_valid(pl.col("v"))).to_series()
        index = index.filter(luhn)
        if index.is_empty():
            return values
        issued = numbers.gather(index).cast(pl.String).str.contains(CARD_BRANDS)
        hits = index.filter(issued)
        if hits.is_empty():
            return values
        nulled = pl.repeat(False, values.len(), eager=True).scatter(hits, True)
        kept = pl.when(nulled).then(None).otherwise(pl.col("v"))
        return values.to_frame("v").select(kept).to_series().alias(values.name)

    return value.map_batches(batch, return_dtype=dtype, is_elementwise=True)


def _as_uint64(values: pl.Series) -> pl.Series:
    """Whole numbers as UInt64; those it cannot hold (negative, past 2^64) as null."""
    fits = (values >= 0) & (values <= _LARGEST_UINT64)
    return values.to_frame("v").select(pl.when(fits).then(pl.col("v")).cast(pl.UInt64)).to_series()


def _luhn_valid(number: pl.Expr) -> pl.Expr:
    """The Luhn checksum of non-negative integers, digit by digit from the right."""
    total = pl.lit(0, dtype=pl.UInt64)
    for position in range(_DIGITS):
        digit = ((number // 10**position) % 10).cast(pl.UInt64)
        if position % 2 == 1:
            # A doubled digit counts its digits' sum: 2d, minus 9 once it has two.
            digit = digit * 2 - (digit >= 5).cast(pl.UInt64) * 9
        total = total + digit
    return (total % 10) == 0
