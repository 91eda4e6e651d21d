"""Phone numbers the PHONE pattern cannot read, written with characters beyond ASCII or
in a `tel:` URI: layouts of the PHONE entity (Entity.layouts), each with a check of its
own, run before its pattern on the rows its gate picked.

- Digits beyond ASCII (full-width U+FF10-FF19, as CJK text writes them; Arabic-Indic
  U+0660-0669 and their Persian forms U+06F0-06F9) and separators beyond ASCII (a
  no-break space, narrow or figure space, the hyphens and dashes U+2010-2015, the minus
  sign, a full-width hyphen): the PHONE pattern's classes are ASCII, so
  "555\u00a0123\u00a04567" was three short runs, and full-width digits no digits at
  all. A candidate is read as its ASCII form (digits as digits, spaces as a space,
  dashes as "-") and passes where that form passes the phone check, so what counts as
  a phone is what counts in ASCII ("2019" en dash "2020" as much as "2019-2020"); a
  candidate of ASCII alone is left to the PHONE pattern, which reads it as before
  (side-by-side numbers, extensions).
- A `tel:` URI's number (RFC 3966: `tel:5551234567`, `tel:+1-555-123-4567`): the
  scheme says it is a phone, so it needs no separator (the phone check asks for one,
  as a bare run of digits is an id as often as a phone), only the 8-15 digits of one.

Only the PHONE gate's rows are looked at (the layout for characters beyond ASCII only
in values holding one, Entity.gate_non_ascii). The gate gains one alternative
(`OTHER_FORMS_GATE`): an ASCII digit before a separator beyond ASCII, which starts with
a byte the gate's scan already looks for, so its scan of ASCII text costs what it did.
Any alternative starting with another byte ("tel:", a digit beyond ASCII, even alone)
doubled that scan (0.13 -> 0.24 CPU s per 1M text-heavy messages; the moderate level's
gate scans 0.70 -> 0.82): so a number written in digits beyond ASCII only, or a `tel:`
URI's number without separators, is found only in a value the gate picks for something
else (another number in it). Gating those rows needs a scan of its own (a length check
for characters beyond ASCII costs 0.024 CPU s per 1M messages, a search for "tel:"
0.033).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.number_separators import DASHES, NO_BREAK_SPACES

_WIDE_DIGITS: Final = "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"
_ARABIC_DIGITS: Final = "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
_PERSIAN_DIGITS: Final = "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
#: Spaces that do not break a line, and hyphens and dashes (number_separators.py).
_SPACES: Final = NO_BREAK_SPACES
_DASHES: Final = DASHES

#: The digits beyond ASCII, for character classes.
_OTHER_DIGITS: Final = f"{_WIDE_DIGITS}{_ARABIC_DIGITS}{_PERSIAN_DIGITS}"
_OTHER_DIGIT: Final = f"[{_OTHER_DIGITS}]"
_DIGIT: Final = f"[0-9{_OTHER_DIGITS}]"
#: Between digit groups, as the PHONE pattern's plain numbers have them: spaces and
#: dashes (dots only in its dotted layouts, left to it); a `tel:` URI's visual
#: separators (RFC 3966) also hold dots.
_SEPARATOR: Final = f"[ \\-{_SPACES}{_DASHES}]"
_TEL_SEPARATOR: Final = f"[ .\\-{_SPACES}{_DASHES}]"
#: A "+" or "(" ")" of either width.
_PLUS: Final = "[+\uff0b]"
_OPEN: Final = "[(\uff08]"
_CLOSE: Final = "[)\uff09]"

#: What the PHONE gate also looks for: an ASCII digit before a separator beyond ASCII,
#: or before a closing parenthesis and one (`(555)\u00a0123-4567`, whose only separator
#: beyond ASCII follows its area code); led by a digit, as most of the gate's
#: alternatives are (see the module's doc). Written as one digit and two alternatives
#: after it: an optional ")" (`[0-9]\)?[...]`), or the two as alternatives each led by
#: the digit, doubled the scan as ")" first did (0.13 -> 0.24 CPU s per 1M text-heavy
#: messages; this form 0.13, measured A/B in one process, alternating).
_AFTER_DIGIT: Final = f"[{_SPACES}{_DASHES}]"
OTHER_FORMS_GATE: Final = f"[0-9](?:{_AFTER_DIGIT}|{_CLOSE}{_AFTER_DIGIT})"


def _number(separator: str) -> str:
    """A number as the PHONE pattern reads one: a country code after "+" or an area
    code in parentheses, or neither, then 7 digits or more parted by `separator`."""
    return (
        f"(?:{_PLUS}{_DIGIT}{{1,3}}{separator}?(?:{_OPEN}{_DIGIT}{{1,4}}{_CLOSE}{separator}?)?"
        f"|{_OPEN}{_DIGIT}{{1,4}}{_CLOSE}{separator}?)?"
        f"{_DIGIT}(?:{separator}?{_DIGIT}){{6,}}"
    )


_ASCII_WORD: Final = "0-9A-Za-z_"
#: Where the layouts for characters beyond ASCII look (in values holding one): a
#: separator beyond ASCII before a digit, or a digit beyond ASCII.
_BEYOND_ASCII_GATE: Final = f"[{_SPACES}{_DASHES}][0-9]|{_OTHER_DIGIT}"
#: As the PHONE pattern's own lead and trail (entities.py), the digits and separators
#: beyond ASCII counted with the ASCII ones: a number is no piece of a longer run.
_LEAD: Final = f"^|[^{_ASCII_WORD}{_OTHER_DIGITS}.\\-/#$€£+*\uff0b]"
_TRAIL: Final = (
    f"$|[^{_ASCII_WORD}{_OTHER_DIGITS}\\s.\\-{_DASHES}]"
    f"|[\\s.\\-{_DASHES}]+(?:[^{_ASCII_WORD}{_OTHER_DIGITS}]|$)"
    r"|\s+[^\W\d]"
    # A word led by digits ("5pm", "2nd"), as entities._DIGIT_LED_WORD.
    f"|\\s+{_DIGIT}+[^\\W\\d]"
)

#: A phone number written with digits or separators beyond ASCII.
BEYOND_ASCII_PHONE: Final = Entity(
    "PHONE",
    "moderate",
    _LEAD,
    _number(_SEPARATOR),
    _TRAIL,
    validator="phone_beyond_ascii",
    gate_pattern=_BEYOND_ASCII_GATE,
    gate_non_ascii=True,
)
#: Numbers beside each other, parted by an ASCII space (`555\u00a0123\u00a04567
#: 555\u00a0987\u00a06543`): BEYOND_ASCII_PHONE read them as one run of 20 digits, which
#: fails the phone check, and left both in clear (in ASCII the PHONE pattern splits such a
#: run, phone_runs.py). A number whose separators are all dashes or beyond ASCII ends at
#: an ASCII space before another such number (its first group and separator: `555
#: 123\u00a04567 89` stays one run, as in ASCII). Its trail holds the next number's
#: start, so the next is the next pass's (the layout runs twice, then BEYOND_ASCII_PHONE
#: takes the last).
_BESIDE_ANOTHER: Final = Entity(
    "PHONE",
    "moderate",
    _LEAD,
    _number(f"[\\-{_SPACES}{_DASHES}]"),
    f" {_DIGIT}+[{_SPACES}{_DASHES}]",
    validator="phone_beyond_ascii",
    gate_pattern=_BEYOND_ASCII_GATE,
    gate_non_ascii=True,
)
#: A `tel:` URI's number, with or without separators (`tel:5551234567`).
TEL_URI_PHONE: Final = Entity(
    "PHONE",
    "moderate",
    r"(?i:\btel:)",
    _number(_TEL_SEPARATOR),
    rf"$|[^{_ASCII_WORD}]",
    validator="tel_uri_phone",
    gate_pattern="[tT][eE][lL]:",
)
PHONE_OTHER_FORMS: Final = (_BESIDE_ANOTHER, _BESIDE_ANOTHER, BEYOND_ASCII_PHONE, TEL_URI_PHONE)

_AS_ASCII: Final = {
    **{digit: str(n) for digits in (_WIDE_DIGITS, _ARABIC_DIGITS, _PERSIAN_DIGITS)
       for n, digit in enumerate(digits)},
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_DASHES, "-"),
    "\uff0b": "+",
    "\uff08": "(",
    "\uff09": ")",
}  # fmt: skip


def as_ascii(value: pl.Expr) -> pl.Expr:
    """A candidate with its digits and separators beyond ASCII written as ASCII ones."""
    return value.str.replace_many(list(_AS_ASCII), list(_AS_ASCII.values()))


def beyond_ascii(value: pl.Expr) -> pl.Expr:
    """Whether a candidate holds a character beyond ASCII."""
    return value.str.len_bytes() != value.str.len_chars()
