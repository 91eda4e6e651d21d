"""Checksum and shape checks on candidate matches, as Polars expressions.

A candidate regex is deliberately loose; these checks are what keep order numbers,
version strings, dates and prices from being redacted as cards, ids or phone numbers.
Each takes the candidate text and returns a Boolean expression, computed column-wise
(fixed-width digit slices instead of loops over characters), never per row in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.number_separators import (
    separators_as_ascii,
    separators_as_ascii_text,
    separators_unescaped,
)
from sluice.server.pipeline.redaction.person_names import not_a_place
from sluice.server.pipeline.redaction.phone_other_forms import as_ascii, beyond_ascii

#: A candidate's check: elementwise, a function of the candidate's value alone (no
#: neighbour, row position or surrounding text), since fenced_rewrite checks each
#: distinct candidate once and joins the verdicts back onto every piece holding it.
Validator = Callable[[pl.Expr], pl.Expr]

_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"
_LUHN_DIGITS: Final = 19
# Brand prefixes and lengths: a random 13-19 digit id passes Luhn one time in ten, so
# the issuer ranges are what keeps such ids from being taken for cards.
CARD_BRANDS: Final = (
    r"^(?:4[0-9]{15}(?:[0-9]{3})?|5[1-5][0-9]{14}|2(?:2[2-9]|[3-6][0-9]|7[0-2])[0-9]{13}"
    r"|3[47][0-9]{13}|3(?:0[0-5]|[689][0-9])[0-9]{11,13}|6(?:011|5[0-9]{2}|4[4-9][0-9]|22[0-9])"
    r"[0-9]{12,15}|35(?:2[89]|[3-8][0-9])[0-9]{12,15})$"
)
#: A digit's Luhn value where it is doubled.
_LUHN_DOUBLED: Final = tuple(2 * digit - 9 if digit > 4 else 2 * digit for digit in range(10))
_NOT_DIGITS: Final = re.compile(r"[^0-9]")
_CARD_BRANDS_TEXT: Final = re.compile(CARD_BRANDS.removesuffix("$") + r"\Z")
# Registered IBAN lengths of the countries most data comes from; others need 15-34.
_IBAN_LENGTHS: Final = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21,
    "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TR": 26, "BR": 29, "SA": 24, "AE": 23, "IL": 23,
}  # fmt: skip
#: The account part of the countries in the table whose accounts may hold letters (the
#: IBAN registry's "a" and "c" positions: Italy's and San Marino's check letter, British
#: and Dutch bank codes), in lower case: a body of hex digits holding a letter that fits
#: its country's layout is an IBAN, not a hex id.
_LETTERED_LAYOUTS: Final = {
    "ad": r"\d{8}[0-9a-z]{12}", "bg": r"[a-z]{4}\d{6}[0-9a-z]{8}", "br": r"\d{23}[a-z][0-9a-z]",
    "ch": r"\d{5}[0-9a-z]{12}", "cy": r"\d{8}[0-9a-z]{16}", "fr": r"\d{10}[0-9a-z]{11}\d{2}",
    "gb": r"[a-z]{4}\d{14}", "gr": r"\d{7}[0-9a-z]{16}", "ie": r"[a-z]{4}\d{14}",
    "it": r"[a-z]\d{10}[0-9a-z]{12}", "li": r"\d{5}[0-9a-z]{12}", "lu": r"\d{3}[0-9a-z]{13}",
    "lv": r"[a-z]{4}[0-9a-z]{13}", "mc": r"\d{10}[0-9a-z]{11}\d{2}",
    "mt": r"[a-z]{4}\d{5}[0-9a-z]{18}", "nl": r"[a-z]{4}\d{10}", "ro": r"[a-z]{4}[0-9a-z]{16}",
    "sa": r"\d{2}[0-9a-z]{18}", "sm": r"[a-z]\d{10}[0-9a-z]{12}", "tr": r"\d{6}[0-9a-z]{16}",
}  # fmt: skip
_FITS_LETTERED_LAYOUT: Final = (
    "^(?:" + "|".join(f"{cc}[0-9]{{2}}{body}" for cc, body in _LETTERED_LAYOUTS.items()) + ")$"
)
_LETTER_VALUES: Final = {chr(ord("A") + i): str(10 + i) for i in range(26)}


def digits_only(value: pl.Expr) -> pl.Expr:
    return value.str.replace_all(r"[^0-9]", "")


def luhn_valid(digits: pl.Expr) -> pl.Expr:
    """Luhn over up to 19 digits (every card length), as integer arithmetic on the batch:
    the digit text is read once. (An expression over 20 one-character slices refers to
    `digits` some forty times, and inside the text rewrite's `list.eval` nothing shares
    those: each one re-ran the regex that makes `digits`.)"""
    return digits.map_batches(_luhn_batch, return_dtype=pl.Boolean, is_elementwise=True)


def _luhn_batch(digits: pl.Series) -> pl.Series:
    number = digits.cast(pl.UInt64, strict=False)  # past 19 digits: null, not a card
    total = pl.Series(digits.name, [0] * len(digits), dtype=pl.UInt64)
    for power in range(_LUHN_DIGITS):
        digit = (number // 10**power) % 10
        if power % 2 == 1:
            digit = digit * 2
            digit = digit - (digit > 9).cast(pl.UInt64) * 9
        total = total + digit
    return ((total % 10) == 0).fill_null(False)


def card(value: pl.Expr) -> pl.Expr:
    # On the batch, so the candidate (itself an expression inside the text rewrite) and
    # its digits are each computed once.
    return value.map_batches(_card_batch, return_dtype=pl.Boolean, is_elementwise=True)


def _card_batch(values: pl.Series) -> pl.Series:
    frame = values.to_frame("value").with_columns(digits=digits_only(pl.col("value")))
    luhn = _luhn_batch(frame["digits"])
    brand = pl.col("digits").str.contains(CARD_BRANDS)
    return frame.select(brand & luhn & _one_separator_style(pl.col("value"))).to_series()


def card_escaped_separators(value: pl.Expr) -> pl.Expr:
    """`card` for a candidate whose groups are parted by the JSON escape of a separator
    beyond ASCII (`4111\\u00a01111…`, card_escaped_separators.py): read with the
    separators the escapes stand for."""
    return card(separators_unescaped(value))


def is_card(value: str) -> bool:
    """`card` for one candidate, in Python: for the walks over a few values
    (card_chains.py), which look at one candidate at a time. Same rules: the issuer's
    prefix and length, Luhn, spaces or dashes but not both (beyond ASCII too)."""
    digits = _NOT_DIGITS.sub("", value)
    if not _CARD_BRANDS_TEXT.match(digits):
        return False
    layout = value if value.isascii() else separators_as_ascii_text(value)
    if " " in layout and "-" in layout:
        return False
    kept = sum(map(int, digits[-1::-2]))
    doubled = sum(map(_LUHN_DOUBLED.__getitem__, map(int, digits[-2::-2])))
    return (kept + doubled) % 10 == 0


def _one_separator_style(value: pl.Expr) -> pl.Expr:
    """Cards are written with spaces or with dashes, not both (beyond ASCII too:
    `4111\u20131111 1111\u20131111` is no card, as `4111-1111 1111-1111` is not)."""
    value = separators_as_ascii(value)
    return ~(value.str.contains(" ", literal=True) & value.str.contains("-", literal=True))


def mod97(numeric: pl.Expr) -> pl.Expr:
    """`numeric` (a digit string of at most 72 digits) modulo 97, nine digits at a time."""
    padded = numeric.str.zfill(72)
    remainder = pl.lit(0, dtype=pl.Int64)
    for start in range(0, 72, 9):
        piece = padded.str.slice(start, 9).cast(pl.Int64, strict=False)
        remainder = (remainder * 1_000_000_000 + piece) % 97
    return remainder


def iban(value: pl.Expr) -> pl.Expr:
    """Mod 97 of the rearranged number, at its country's length. Written in capitals
    with spaces, a country not in the table needs 15 characters or more; written with
    dashes or in lower case (how ids and hashes are written: "ab12cdef-…"), only a
    country in the table counts. In lower case a body of hex digits holding a letter is
    a hex id (`be41683536c4499d`, a Mongo ObjectId), whatever its mod 97: one in 97
    passes it, unless it fits the layout of a country whose accounts may hold letters
    (`it65a054…`: _LETTERED_LAYOUTS). A body of digits (`de89370400440532013000`) or
    holding a letter past "f" (`gb82west12345698765432`) reads as an IBAN. Spaces and
    dashes beyond ASCII read as ASCII ones; a dotted one needs its country's length, as
    a dashed one."""
    value = separators_as_ascii(value)
    # Read without the separators of a grouped one (`de12 ab34 …`, `de12-ab34-…`).
    unparted = value.str.replace_all(r"[ .-]", "")
    compact = unparted.str.to_uppercase()
    country = compact.str.slice(0, 2)
    expected = country.replace_strict(_IBAN_LENGTHS, default=0, return_dtype=pl.Int32)
    length = compact.str.len_chars().cast(pl.Int32)
    usual = ~value.str.contains(r"[a-z.-]")
    length_ok = pl.when(expected > 0).then(length == expected).otherwise((length >= 15) & usual)
    rearranged = pl.concat_str(compact.str.slice(4), compact.str.slice(0, 4))
    numeric = rearranged.str.replace_many(_LETTER_VALUES)
    hex_id = unparted.str.contains(r"^[a-z]{2}[0-9]{2}[0-9a-f]*[a-f][0-9a-f]*$")
    hex_id = hex_id & ~unparted.str.contains(_FITS_LETTERED_LAYOUT)
    return length_ok & (length <= 34) & ~hex_id & (mod97(numeric) == 1)


def es_dni(value: pl.Expr) -> pl.Expr:
    """DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter): the letter is the
    number modulo 23 looked up in the official table."""
    compact = value.str.to_uppercase().str.replace_all(r"[.-]", "")
    number = compact.str.slice(0, 8).str.replace_many({"X": "0", "Y": "1", "Z": "2"})
    index = number.cast(pl.Int64, strict=False) % 23
    expected = index.replace_strict(range(23), list(_DNI_LETTERS), return_dtype=pl.String)
    return (compact.str.slice(8, 1) == expected).fill_null(False)


def us_ssn(value: pl.Expr) -> pl.Expr:
    """Never-issued SSNs (area 000, 666 or 9xx, group 00, serial 0000) are not SSNs."""
    digits = digits_only(value)
    area, group, serial = digits.str.slice(0, 3), digits.str.slice(3, 2), digits.str.slice(5, 4)
    return (
        ~area.is_in(["000", "666"])
        & ~area.str.starts_with("9")
        & (group != "00")
        & (serial != "0000")
    )


def uk_nino(value: pl.Expr) -> pl.Expr:
    prefix = value.str.slice(0, 2)
    return ~prefix.is_in(["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])


def ipv4(value: pl.Expr) -> pl.Expr:
    """Four octets up to 255; a longer dotted run ("10.0.19045.2006") is a version."""
    parts = value.str.split(".")
    octets = parts.list.eval(pl.element().cast(pl.Int32, strict=False))
    return (parts.list.len() == 4) & octets.list.eval(pl.element() <= 255).list.all()


#: An IPv6 address's embedded IPv4 tail (`::ffff:192.168.1.10`), which stands for two
#: groups.
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4_TAIL: Final = rf":{_OCTET}(?:\.{_OCTET}){{3}}$"


def ipv6(value: pl.Expr) -> pl.Expr:
    """Eight groups, or fewer with exactly one "::"; clock times and MACs fail this. An
    IPv4 tail counts as its two groups."""
    value = value.str.replace(_IPV4_TAIL, ":0:0")
    compressed = value.str.count_matches("::", literal=True)
    colons = value.str.count_matches(":", literal=True)
    groups = value.str.split(":").list.eval(pl.element().filter(pl.element() != ""))
    short = groups.list.eval(pl.element().str.len_chars() <= 4).list.all()
    stray_colon = value.str.contains(r"^:[^:]|[^:]:$|:::")
    full = (compressed == 0) & (colons == 7)
    abbreviated = (compressed == 1) & (colons <= 7)
    return (full | abbreviated) & short & ~stray_colon & (groups.list.len() >= 2)


_EXTENSION: Final = r"(?i)\s?(?:ext\.?|x|extension)\s?[0-9]{1,6}$"
# Layouts that are something else, joined into one scan: dates (with an hour), prices
# with thousands dots, dotted quads and versions, Amex/Diners (4-6-5, 4-6-4) and US SSN
# (3-2-4) layouts, hyphenated ISBN-13s (978/979, group, publisher, title, check digit),
# and blocks of four digits (how IBANs and cards are printed, often
# the digits-only tail of an IBAN whose country and bank code are letters).
NOT_A_PHONE: Final = "|".join(
    (
        r"^[0-9]{4}[.-][0-9]{1,2}[.-][0-9]{1,2}(?: [0-9]{1,2})?$",
        r"^[0-9]{1,2}[.-][0-9]{1,2}[.-][0-9]{2,4}$",
        r"^[0-9]{1,3}(?:\.[0-9]{3})+$",
        r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$",
        r"^[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}$",
        r"^[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}$",
        r"^[0-9]{4}(?: [0-9]{4})+(?: [0-9]{1,3})?$",
        r"^97[89]-[0-9]{1,5}-[0-9]{1,7}-[0-9]{1,7}-[0-9]$",
    )
)


def phone(value: pl.Expr) -> pl.Expr:
    """8-15 digits (E.164) that are not laid out like a date, a price, an address, a
    card or an id (the candidate pattern already requires a phone-like layout)."""
    # On the batch, so the number without its extension is computed once (as an
    # expression, each of its three uses re-ran the extension pattern).
    return value.map_batches(_phone_batch, return_dtype=pl.Boolean, is_elementwise=True)


def _phone_batch(values: pl.Series) -> pl.Series:
    frame = values.to_frame("value").with_columns(
        number=pl.col("value").str.replace(_EXTENSION, "")
    )
    number = pl.col("number")
    # The digits' count as the characters that are not a non-digit: `count_matches` pays
    # per match, and a number holds a few separators but 8-15 digits (two thirds of the
    # cost of copying the digits out to measure them). A column of its own: an eager
    # select shares no sub-expression, and the count is used twice.
    frame = frame.with_columns(count=number.str.len_chars() - number.str.count_matches("[^0-9]"))
    count = pl.col("count")
    written_as_phone = number.str.contains(r"[+()]|[0-9][ .-][0-9]")
    valid = (count >= 8) & (count <= 15) & written_as_phone & ~number.str.contains(NOT_A_PHONE)
    return frame.select(valid).to_series()


def phone_beyond_ascii(value: pl.Expr) -> pl.Expr:
    """A number written with digits or separators beyond ASCII (phone_other_forms.py)
    that passes the phone check as its ASCII form. One of ASCII alone is the PHONE
    pattern's to read."""
    return beyond_ascii(value) & phone(as_ascii(value))


def tel_uri_phone(value: pl.Expr) -> pl.Expr:
    """A `tel:` URI's number (phone_other_forms.py): 8-15 digits not laid out as
    something else; no separator needed (the scheme says it is a phone)."""
    number = as_ascii(value).str.replace(_EXTENSION, "")
    count = number.str.len_chars() - number.str.count_matches("[^0-9]")
    return (count >= 8) & (count <= 15) & ~number.str.contains(NOT_A_PHONE)


VALIDATORS: Final[dict[str, Validator]] = {
    "card": card,
    "card_escaped_separators": card_escaped_separators,
    "iban": iban,
    "es_dni": es_dni,
    "us_ssn": us_ssn,
    "uk_nino": uk_nino,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "phone": phone,
    "phone_beyond_ascii": phone_beyond_ascii,
    "tel_uri_phone": tel_uri_phone,
    "person_name": not_a_place,
}
