"""A second, sharper condition after the PHONE gate (phone_gate.py): the rows whose digit
runs are all laid out as something else (cards and IBANs in blocks of four, SSNs, ids
after a letter or a dash, hex ids) are left out before the phone rule runs.

On the text-heavy set the gate picks 26% of the messages and 70% of those hold no
number that passes the phone check: cards in blocks of four (spaced, or dashed with 16
digits), IBANs (`ES69 4196 2497 …`), SSNs (`528-75-9837`), `ORD-2023-673681`, UUIDs
(`15554219-86f9-…`). The rule costs about twice on all of them what it costs on the
rows it changes. The gate itself cannot see that: it is led by a digit (its scan of
every message is cheap because the regex engine looks for a digit first), and what
tells these apart is the character before a run and the run as a whole.

Why this is a necessary condition for a change (`may_hold_phone`). The rule changes a
value only (1) where it holds one of the rewrite's own control characters, (2) where
one of its layouts rewrites (only values holding the layout's gate: a separator or a
digit beyond ASCII, `tel:`; phone_other_forms.py, text.rewrite_layouts), or (3) where
a candidate passes the phone check: its number (its value without an extension) is
then a substring of the text as it was (phone_gate.py). Values with (1) or (2) are kept.
A number led by "+" or "(", or in a dotted layout, is kept by the gate's own
alternatives for those. Any other number N is 8-15 ASCII digits in groups parted by
single spaces or dashes, and:

- Before N there is no digit and none of `A-Za-z_.-#$€£`: the pattern's lead
  (entities._START) refuses those, and the joiners the rewrite puts in before a number
  are only after ",", ";", "|" (leads already), after the "/" of a chain of numbers
  (so a "/" is taken here), before whitespace (numbers side by side, runs split at
  their words: phone_runs.py, phone_bounds.py), or before a "(" (a number led by "(").
- After N there is no digit, no dash and a digit, and no letter or "_" other than the
  start of an extension (`e`, `x`): the pattern's trail refuses those, and its value
  does not stop before a separator and a digit unless a joiner is put before a space
  (the joiners after a number's last digit are before whitespace too) or a word led by
  digits follows (" 5pm", " 2ème": after N is then whitespace, which is taken here).
  Or N is a number of the value pattern, a space, and three digits or more glued to
  a letter: those digits are its last group (phone_values.glued_word_values: "+44 20
  7946 0958e"), taken here as the value pattern's plain layout, a space, the digits
  and an ASCII letter (one beyond ASCII is taken by `_AFTER`).
- N is not laid out as something else (validators.NOT_A_PHONE): not blocks of four
  parted by spaces with a last group of 1-3 digits or none, not an SSN (3-2-4), not a
  date (`2024-05-06`, with an hour's `12` or not).

The condition is necessary per value, gate or not, and it narrows a column's rows, not
each leaf's (compaction.TextStep.refine_by_column): the gate misses numbers the layouts
rewrite (`tel:7961220922`, full-width digits), and the rule rewrites every leaf of a
struct or list-of-struct column on each row where any of them hit, so such a number
beside a sibling field's SSN or card is rewritten; narrowed per leaf, dropping the
sibling's hit left it in clear.

`_POSSIBLE_NUMBER` matches every such N with those neighbours (written by its first
group's length: which layouts it may still be is decided group by group), and more:
it need not turn down every look-alike, only let no number through unmatched. The
tests (tests/unit/test_redaction_phone_shapes.py) pin it against the rule run without
it.

Measured (session 25, 1M text-heavy rows, moderate, one thread, a new redactor each
round after a warm-up, three alternating rounds under load ~6.5; the one place these
figures are kept): of the gate's 264,608 messages it keeps 79,561, all 79,279 the rule
changes among them (no struct column had a PHONE hit there); the PHONE step (refine and
rule) costs 0.211-0.225 CPU s against 0.265-0.280 without the condition: the refine
0.076-0.081 (its scan alone ~0.057, the rest its filter and scatter), the rule on the
rows left 0.134-0.144. Led by a word boundary instead of the lead's class the scan cost
the same (the regex engine reads every byte of these digit-heavy rows either way) and
kept twice the rows; the rows copied together first (packed_text.py) it cost more
(0.088 against 0.076).

Tried in session 29 and not done (the same messages in batches of 131,072, one thread,
each scan alone, best of three under load 2-8; benchmarks.phone_scan_costs measures them
all again): every scan of the gate's 264,608 rows
costs about the same whatever its pattern (this one 0.065-0.070, its signed and dotted
layouts alone 0.061, its plain numbers alone 0.066, those led by a digit instead of the
lead's class 0.058 keeping 248,143 rows, a pattern led by a class that never matches
0.069, a literal that never occurs 0.022): the regex engine reads every byte of these
rows, so a cheaper refine needs fewer bytes or rows, not another pattern. Scanned over
every message, with the gate then run only on the rows it keeps (the same 79,561), it
cost 0.178 + 0.016 against the gate's 0.088 and its 0.065: led by a class, it cannot
skip to a digit. Scanned from 40 characters before the gate's first match (`find`
instead of `contains`: 0.101 against 0.092), it read 0.040 instead of 0.070, but the
slice cost 0.030 and the layouts' gates must still be read on the whole row (a length
check for characters beyond ASCII 0.014, "tel:" 0.021): no saving (session 24 found
the same for the rule's extraction). A gate sharper than `phone_gate` cannot stand in
for the two: led by a digit it cannot read the character before a run, so the tail of
a card or of `ORD-2024-294315` looks like a phone to it, and for a struct or list column
the row set must stay the gate's (see above) whatever the refine keeps.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.phone_gate import SIGNED_OR_DOTTED
from sluice.server.pipeline.redaction.phone_other_forms import PHONE_OTHER_FORMS

_DIGIT: Final = "[0-9]"
_SEPARATOR: Final = "[ -]"


def _more(least: int, most: int) -> str:
    """`least` to `most` more digits, each after a separator or none."""
    return f"(?:{_SEPARATOR}?{_DIGIT}){{{least},{most}}}"


#: The upper bounds only matter where a run must not reach 16 digits: a card's four
#: dashed groups (`_FOUR_DASHED`). Elsewhere they are loose (more digits than a phone
#: holds only keeps a row the rule then leaves as it was).
_LOOSE: Final = 13

#: First group of one or two digits (`06 12 34 56 78`, `1-800-555-0199`).
_ONE_OR_TWO: Final = f"{_DIGIT}{{1,2}}{_SEPARATOR}{_DIGIT}{_more(5, _LOOSE)}"
#: First group of three: anything but an SSN (`ddd-dd-dddd`, with spaces too). After
#: `ddd-dd-`: a group of 1-2 or 4 digits and more, 3 digits (`555-12-345`, 8 digits),
#: or 5 and more.
_AFTER_SSN_START: Final = (
    f"{_DIGIT}{{1,2}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}",
    f"{_DIGIT}{{3}}(?:{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)})?",
    f"{_DIGIT}{{4}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}",
    f"{_DIGIT}{{5}}{_more(0, _LOOSE)}",
)
_THREE: Final = (
    f"{_DIGIT}{{3}}{_SEPARATOR}(?:"
    f"{_DIGIT}{_SEPARATOR}{_DIGIT}{_more(3, _LOOSE)}"
    f"|{_DIGIT}{{3}}{_more(2, _LOOSE)}"
    f"|{_DIGIT}{{2}}{_SEPARATOR}(?:{'|'.join(_AFTER_SSN_START)})"
    ")"
)
#: First group of four and a space: anything but blocks of four (and a last group of
#: 1-3 digits). After two or three blocks, a group that is no block (1-3 digits and
#: more, 5 digits), or a dash.
_FOUR_SPACED: Final = (
    f"{_DIGIT}{{4}} (?:"
    f"{_DIGIT}{{1,3}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{5}}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{4}}-{_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{4}} {_DIGIT}{{1,3}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{4}} {_DIGIT}{{5}}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{4}} {_DIGIT}{{4}}-{_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{4}} {_DIGIT}{{4}} {_DIGIT}{{1,3}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}"
    ")"
)
#: First group of four and a dash: at most 15 digits when the next group has three or
#: more (a card's four dashed groups hold 16), and no date (`dddd-d{1,2}-d{1,2}`, and
#: an hour `d{1,2}` after a space).
_FOUR_DASHED: Final = (
    f"{_DIGIT}{{4}}-(?:"
    f"{_DIGIT}{{3}}{_more(1, 8)}"
    f"|{_DIGIT}{{1,2}} {_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{1,2}}-(?:"
    f"{_DIGIT}{{3}}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{1,2}}-{_DIGIT}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{1,2}} (?:"
    f"{_DIGIT}{{3}}{_more(0, _LOOSE)}"
    f"|{_DIGIT}{{1,2}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}"
    ")"
    "))"
)
#: First group of five digits or more, and a separator somewhere after it.
_FIVE: Final = f"{_DIGIT}{{5,14}}{_SEPARATOR}{_DIGIT}{_more(0, _LOOSE)}"

#: Before a number: none of what the pattern's lead refuses (entities._START).
_BEFORE: Final = r"(?:^|[^0-9A-Za-z_.\-#$€£])"
#: After it: none of what its trail refuses, but an extension's start.
_AFTER: Final = r"(?:$|[^0-9A-Za-z_\-]|-(?:$|[^0-9])|[eExX])"
#: A number whose last group, after a space, is glued to a letter (as the value pattern's
#: plain layout writes it: entities._PHONE_VALUE). An alternative of its own: "[A-Za-z]"
#: in `_AFTER` also kept UUIDs (`15554219-86f9-…`: 80,302 rows kept of the 264,608
#: the gate picks on 1M text-heavy messages, against 79,561 with this one; its scan
#: cost the same, 0.070-0.073 CPU s against 0.070-0.071, load 15).
_GLUED_LAST_GROUP: Final = (
    f"{_BEFORE}{_DIGIT}(?:{_SEPARATOR}?{_DIGIT}){{6,}} {_DIGIT}{{3,}}[A-Za-z]"
)
_POSSIBLE_NUMBER: Final = (
    f"{_BEFORE}(?:{'|'.join((_ONE_OR_TWO, _THREE, _FOUR_SPACED, _FOUR_DASHED, _FIVE))}){_AFTER}"
    f"|{_GLUED_LAST_GROUP}"
)
#: The rewrite's control characters (text_markers.OPEN, CLOSE, JOINER), the gates of
#: the entity's layouts (a `tel:` URI, a separator or digit beyond ASCII: a layout
#: rewrites only the values holding its gate, text.rewrite_layouts), the numbers led
#: by "+" or "(" and the dotted layouts, and any other number. One scan.
POSSIBLE_PHONE: Final = "|".join(
    dict.fromkeys(
        (
            r"[\x00-\x02]",
            *(layout.gate for layout in PHONE_OTHER_FORMS),
            *SIGNED_OR_DOTTED,
            _POSSIBLE_NUMBER,
        )
    )
)


def may_hold_phone(value: pl.Expr) -> pl.Expr:
    """Per value among those the PHONE gate picked: whether the phone rule may change
    it (see the module's doc)."""
    return value.str.contains(POSSIBLE_PHONE)
