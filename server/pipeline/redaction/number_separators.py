"""The separators beyond ASCII that numbers are written with, one definition for every
entity that reads them: the phone layouts (phone_other_forms.py) and the cards, IBANs
and SSNs (entities.py), whose patterns read a plain space or dash only, so
"4111\u00a01111\u00a01111\u00a01111" or "078\u201305\u20131120" stayed in clear.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Spaces that do not break a line (no-break, figure, narrow no-break).
NO_BREAK_SPACES: Final = "\u00a0\u2007\u202f"
#: Hyphens and dashes (hyphen, non-breaking hyphen, figure dash, en and em dash,
#: horizontal bar), the minus sign and a full-width hyphen-minus.
DASHES: Final = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"
#: Thin and ideographic spaces: digit groups of a card, an IBAN or an SSN are written
#: with them too. Not a phone's (a thin space groups thousands, an ideographic space
#: parts CJK words from numbers: "在庫\u300012\u3000345\u30006789\u3000個").
GROUPING_SPACES: Final = "\u2009\u3000"
#: Every space beyond ASCII a card, IBAN or SSN is written with, for character classes.
ID_SPACES: Final = f"{NO_BREAK_SPACES}{GROUPING_SPACES}"

_CARD_SPACES: Final = f" {ID_SPACES}"
_CARD_DASHES: Final = f"-{DASHES}"
#: The characters between a card's digit groups. The card pattern's value
#: (entities.py) reads them, so the steps that give back the groups after or before a
#: card (card_groups.py) and the walk's runs (card_chains.py) part there too: those
#: read " " and "-" only, and "card 4111111111111111\u00a01" was one candidate that
#: failed, whose "1" no step gave back, so the card stayed in clear.
CARD_SEPARATORS: Final = f"{_CARD_SPACES}{_CARD_DASHES}"


def _character_class(characters: str) -> str:
    """`characters` as a character class, read alike by Rust's and Python's engines."""
    return "[" + characters.replace("-", "\\-") + "]"


#: One of CARD_SEPARATORS, as a pattern; and one of its spaces, one of its dashes (a
#: card's groups are parted by one kind: validators.card).
CARD_SEPARATOR: Final = _character_class(CARD_SEPARATORS)
CARD_SPACE: Final = _character_class(_CARD_SPACES)
CARD_DASH: Final = _character_class(_CARD_DASHES)

_AS_ASCII: Final = {
    **dict.fromkeys(ID_SPACES, " "),
    **dict.fromkeys(DASHES, "-"),
}
#: The same, for Python's `str.translate` (the walks over one value at a time).
_AS_ASCII_TABLE: Final = str.maketrans(_AS_ASCII)


def separators_as_ascii(value: pl.Expr) -> pl.Expr:
    """`value` with its spaces and dashes beyond ASCII written as " " and "-", for the
    checks that read a card's or an IBAN's layout."""
    return value.str.replace_many(list(_AS_ASCII), list(_AS_ASCII.values()))


def separators_as_ascii_text(value: str) -> str:
    """`separators_as_ascii` for one value, in Python."""
    return value.translate(_AS_ASCII_TABLE)


#: Each separator beyond ASCII as a JSON string escapes it (`json.dumps` writes
#: `\u00a0`), in lower and upper case hex, and the character it stands for.
_ESCAPED: Final = {
    f"\\u{ord(character):04{case}}": character
    for character in f"{ID_SPACES}{DASHES}"
    for case in ("x", "X")
}
#: One of those escapes, as a pattern (`\\u00a0`, `\\u2009`, `\\uFF0D`, ...).
ESCAPED_CARD_SEPARATOR: Final = (
    r"\\u(?:" + "|".join(sorted({escape[2:] for escape in _ESCAPED})) + ")"
)


def separators_unescaped(value: pl.Expr) -> pl.Expr:
    """`value` with the escapes of ESCAPED_CARD_SEPARATOR written as the separators they
    stand for, for the checks that read a card's digits and layout: an escape's hex
    digits (`\\u2009`) are no digits of the card."""
    return value.str.replace_many(list(_ESCAPED), list(_ESCAPED.values()))
