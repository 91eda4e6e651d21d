"""The values inside whole matches of the PHONE pattern, read by trimming them."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.validators import VALIDATORS


def is_phone_rule(rule: PatternRule) -> bool:
    return rule.entity is not None and rule.entity.phone_steps


def phone_values(matches: pl.Series, value_pattern: str) -> pl.Series:
    """The values (`sl_value`) of whole matches of the PHONE pattern, read by trimming
    them (a fourth of the cost of re-reading the groups with the whole pattern). The
    trail holds no digit, or is a word led by digits after a space (which ends with a
    letter right after a digit), and the value ends with a digit; the lead is empty,
    one character that is neither a word character nor "+", or a few stars after at
    most one character, and the value starts with a digit, "+" or "(". So the trimmed
    match is the value, or the value after a "(" lead: a value starts with "(" only as
    an area code, "(" and 1-4 digits and ")", which a "(" lead before a value never is
    (a value starting with a digit holds no ")", one starting with "(" or "+" gives
    "((" or "(+").
    Where a match ends with a space, digits and a letter, which of those digits are
    the value's is read by `glued_word_values` (with the value pattern `value_pattern`),
    not taken from the pattern's groups."""
    trimmed = matches.to_frame(ELEMENT).select(trimmed_phone(pl.col(ELEMENT))).to_series()
    # Few start with "(": only those are looked at (a replace over all of them cost
    # half as much as the trimming). The lead goes before the glued read below, which
    # asks whether the whole is a value of the pattern ("(+44 20 7946 0958" is not).
    paren = trimmed.str.starts_with("(").fill_null(False)
    if paren.any():
        # `trimmed` is this function's own: `scatter` may write into it.
        trimmed = trimmed.scatter(
            row_positions(paren), trimmed.filter(paren).str.replace(_PAREN_LEAD, "$1")
        )
    worded = matches.str.contains(_WORD_AT_END).fill_null(False)
    if not worded.any():
        return trimmed
    # Rare (a number before "5pm", or before digits glued to a letter): only those.
    letter = matches.filter(worded).str.contains(_LETTER_AT_END)
    read = glued_word_values(trimmed.filter(worded), letter, value_pattern)
    return trimmed.scatter(row_positions(worded), read)


def glued_word_values(numbers: pl.Series, letter: pl.Series, value_pattern: str) -> pl.Series:
    """Which part of each of `numbers` is a phone number's value: each is what runs
    from a PHONE match's value to the letter its last digits are glued to, and those
    digits follow a space (`+44 20 7946 0958` of `+44 20 7946 0958e`, `555-123-4567 5`
    of `555-123-4567 5pm`). The digits are a word led by digits ("5pm", "2nd",
    "18h30", "2ème", "1080p" after "555.123.4567", "12345abc" after a whole number),
    and the value ends before them, unless there are three or more and the whole is a
    value of the pattern (`value_pattern`) that passes the phone check: then they are
    the number's last group ("+44 20 7946 0958e": the part before them passes too, and
    read as a number before a word it left its last group in clear), and glued to a
    letter (`letter`), not "_" (ids are written with it: "5551234 567_"); after an
    extension's word they are the extension's ("555-123-4567 ext. 12é"). The pattern reads
    either way, by where its greedy value stops (a word led by digits is a trail of its
    own, a letter beyond ASCII is one too), so both rewrites read the value here
    (`phone_values` for the one-pass one, fenced_rewrite._phone_value_read).
    What this reads is what the pattern matched, so in effect: with an ASCII letter the
    digits reach a match only through the trail for a word led by digits, after a
    value that passes the phone check alone ("+44 20 7946", 7 digits or more in
    practice); where the part before the space is no number ("555 123 4567e", "(555)
    123 4567e", "+1 555 123 4567kg") nothing matches and the whole stays in clear, as
    an id. With a letter beyond ASCII the pattern's value takes the digits itself, so
    "555 123 4567é" is read whole. Known over-redaction: three digits or more of a word
    after a whole number are taken as its last group whenever the whole passes
    ("555-123-4567 1080p" -> "[PHONE]p"; pinned as a strict xfail)."""
    word = numbers.str.extract(_DIGITS_AT_END, 1)
    shorter = numbers.str.strip_suffix(word.fill_null(""))
    # Three digits or more after the space.
    long = word.str.strip_chars().str.len_bytes() >= 3
    frame = numbers.to_frame(ELEMENT)
    checked = frame.select(VALIDATORS["phone"](pl.col(ELEMENT))).to_series()
    laid_out = numbers.str.contains(f"^(?:{value_pattern})$")
    # An extension's digits are the number's however many ("ext. 12é").
    extension = shorter.str.contains(_EXTENSION_AT_END).fill_null(False)
    whole = (long & letter & laid_out & checked).fill_null(False) | word.is_null() | extension
    chosen = pl.select(pl.when(whole).then(numbers).otherwise(shorter)).to_series()
    return chosen.alias(numbers.name)


def trimmed_phone(match: pl.Expr) -> pl.Expr:
    # A star lead may follow any one character, a digit too ("9*+44 ..."): it goes
    # first, so that digit is not taken for the value's.
    unstarred = match.str.replace(r"^[^*]?\*{1,3}", "")
    # The lead's and the trail's characters in one pass: the first alternative can
    # only match at the start, the other only at the end of the text, so this is
    # stripping one and then the other. A trail of non-digits, or a letter after the
    # digits of a word led by them (`glued_word_values` decides what those are).
    return unstarred.str.replace_all(r"^[^0-9+(]+|[^0-9]+$", "")


#: A match ending with a space, digits and a letter (entities._END: a word led by
#: digits, or a letter beyond ASCII glued to the value's last group after a space).
_WORD_AT_END: Final = r"\s[0-9]+[^\W\d]$"
#: ... whose last character is a letter, not "_".
_LETTER_AT_END: Final = r"[^\W\d_]$"
#: An extension's word (entities._PHONE_VALUE), before its digits.
_EXTENSION_AT_END: Final = r"(?i)\s?(?:ext\.?|x|extension)$"
#: The digits after a space at the end of a value, the space included.
_DIGITS_AT_END: Final = r"(\s+[0-9]+)$"

#: A "(" followed by something other than 1-4 digits and ")" (a lead, not an area
#: code): replaced by what follows it.
_PAREN_LEAD: Final = r"^\(($|[^0-9]|[0-9]{1,4}(?:[^0-9)]|$)|[0-9]{5})"
