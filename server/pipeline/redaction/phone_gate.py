"""The PHONE entity's gate: which values the phone rule may change at all.

The gate was the value pattern itself (seven digits parted by single spaces or dashes),
which picks half the text-heavy messages, mostly for dates, tracking numbers and card
look-alikes that the phone check then turns down. This one is a necessary condition
for a value the phone check lets through (validators.phone), so it still picks every
value the rule changes:

- A changed value holds a candidate whose number (its value without an extension) is
  a substring of the text as it was: the joiners the rewrite puts in (text_markers.py,
  phone_bounds.py, phone_runs.py) are never inside a value and are taken out again. A
  value holding one of the rewrite's own control characters may change without a
  passing candidate (fenced_rewrite.py replaces every candidate there): the gate picks
  them all (see `phone_gate`).
- A number led by "+" or "(", or in one of the two dotted layouts, is found by the
  pattern's own alternatives, as before.
- Any other number is digits parted by single spaces or dashes, and to pass it holds
  8-15 digits and a separator between two of them (`[0-9][ .-][0-9]`: it has no "+",
  "(", ")" or "."), and is not laid out as a date (`2024-05-06`,
  validators.NOT_A_PHONE). So it holds 8 digits in a row of it with a separator among
  them that are not laid out as a date: itself, with exactly 8; with more, it holds 9
  in a row with a separator (its first 9 if a separator comes among them, else the 8
  before its first separator and the one after), and of the two runs of 8 in those,
  one holds a separator and is no date: a date's separators come after its 4th and
  6th digits, which in the other run are its 3rd and 5th or its 5th and 7th, and
  where only one run holds a separator, it is next to that run's end.

A date alone, a tracking number or a card without separators, an id of 8 digits (a
DNI's, `#12345678`) hold no such run: on the text-heavy set the gate picks 26% of the
messages instead of 49%.
"""

from __future__ import annotations

from typing import Final

_DIGIT: Final = "[0-9]"


def _after_first_digit(digits: int, first_separator: int) -> str:
    """What follows the first digit of `digits` digits parted by single spaces or
    dashes, the first separator after the first `first_separator` of them."""
    before = f"{_DIGIT}{{{first_separator - 1}}}" if first_separator > 1 else ""
    return f"{before}[ -]{_DIGIT}(?:[ -]?{_DIGIT}){{{digits - first_separator - 1}}}"


#: Four digits after `dddd-` parted by single spaces or dashes, except `dd-dd`: a
#: separator after the first, after the second a space, none, or a dash and a separator.
_AFTER_YEAR: Final = (
    f"{_DIGIT}[ -]{_DIGIT}(?:[ -]?{_DIGIT}){{2}}",
    f"{_DIGIT}{{2}} {_DIGIT}[ -]?{_DIGIT}",
    f"{_DIGIT}{{3}}[ -]?{_DIGIT}",
    f"{_DIGIT}{{2}}-{_DIGIT}[ -]{_DIGIT}",
)
#: Runs of 8 digits with a separator after the first digit, except `dddd-dd-dd`, one
#: alternative per place of the first separator (after 4 digits: a space, or a dash
#: and `_AFTER_YEAR`).
_EIGHT: Final = (
    *(_after_first_digit(8, first) for first in (1, 2, 3, 5, 6, 7)),
    f"{_DIGIT}{{3}} {_DIGIT}(?:[ -]?{_DIGIT}){{3}}",
    f"{_DIGIT}{{3}}-(?:{'|'.join(_AFTER_YEAR)})",
)
#: The first digit before them: written as alternatives that each start with it, the
#: regex engine looked for their first three bytes (digit, separator, digit) as a set
#: of literals, and the scan cost twice as much (0.16 against 0.08 CPU s per 1M
#: text-heavy messages). The whole gate's order matters as much (session 29, same
#: rows each time): with this run or the other forms' alternative first 0.22 against
#: 0.088, with every digit-led alternative under one leading `[0-9]` 0.21; the control
#: characters first, or the two dotted layouts under one `[0-9]{2}`, 0.089-0.091.
_PARTED_RUN: Final = f"{_DIGIT}(?:{'|'.join(_EIGHT)})"
#: The PHONE value pattern's alternatives led by "+" or "(", and its dotted layouts.
SIGNED_OR_DOTTED: Final = (
    r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?|\([0-9]{1,4}\)[ .-]?)[0-9](?:[ .-]?[0-9]){6,}",
    r"[0-9]{3}\.[0-9]{3}\.[0-9]{4}",
    r"[0-9]{2}(?:\.[0-9]{2}){4}",
)


def phone_gate(value: str) -> str:
    """The gate for the PHONE value pattern `value` (entities.py), whose alternatives
    led by "+" or "(" and dotted layouts it takes as they are, and every value holding
    one of the rewrite's own control characters (text_markers.OPEN, CLOSE, JOINER):
    there every candidate is replaced unchecked (fenced_rewrite.py). Such a value
    without a match of `value` has no candidate, so it comes back as it was; a rule
    that nulls its values nulls one only where `value` matches, as where the gate was
    `value` itself. (Only those, as the old gate did: `[\x00-\x02].*value|value.*
    [\x00-\x02]` in the gate doubled its scan.)"""
    if not all(alternative in value for alternative in SIGNED_OR_DOTTED):
        raise ValueError("the PHONE pattern's signed and dotted layouts changed")
    return "|".join((*SIGNED_OR_DOTTED, _PARTED_RUN, r"[\x00-\x02]"))
