"""Property: the phone rule's one-pass rewrite (its candidates' facts looked up, rows with
one passing candidate found once tagged at a split, the others spliced or fenced) gives
exactly the checked and fenced rewrite it stands in for, on rows made of phone numbers,
look-alikes, the same number again, and the characters that lead, trail or join them;
and the four answers of the scans that choose the rows (`_joined_and_unusual`) are, per
value, what each means."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.phone_one_pass import (
    _joined_and_unusual,
    phone_verdicts,
    rewrite_checked,
)
from tests.unit.test_redaction_phone_one_pass import RULE, _both

_PIECES = [
    "555-123-4567",
    "(555) 123-4567",
    "+44 20 7946 0958",
    "020 7946 0958",
    "555 555 5555",
    "2024-05-06",
    "123-45-6789",
    "4111 1111 1111 1111",
    "12345678901234567890",
    "555.123.4567",
    "3.5",
    "ext. 12",
    "x",
    "call",
    "é",
    "谢谢",
    "**",
]
#: The separators, with every character Unicode reads as a line break, the control
#: characters the rewrites use (text_markers.py: values may hold them, and such rows take
#: the fenced rewrite), and a "/" before a "(" or a "+" (with a line break elsewhere in
#: the row, the glued area code `_joined_and_unusual` looks for).
_SEPARATORS = [" ", "", ",", ", ", ";", "|", "/", "(", ")", "\n", "\t", "  ", "-", "."]
_RARE = ["\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00", "\x01", "\x02"]
_GLUE = st.sampled_from([*_SEPARATORS, *_RARE, "/(", "/+", "\n/("])
_MIXED = st.lists(st.tuples(st.sampled_from(_PIECES), _GLUE), max_size=8).map(
    lambda parts: "".join(piece + glue for piece, glue in parts)
)
#: One number two or three times, each time between other characters, and maybe once
#: more ending the row: where a search finds it first may be no match (before a letter,
#: inside a longer run), and one ending the row matches where the same text before a
#: letter does not.
_AROUND = st.tuples(_GLUE, _GLUE, st.sampled_from(["", "x", "x ", *_PIECES]))
_REPEATED = st.tuples(
    st.sampled_from(_PIECES[:5]), st.lists(_AROUND, min_size=1, max_size=3), _GLUE, st.booleans()
).map(
    lambda chosen: (
        "".join(f"{lead}{chosen[0]}{trail}{other}" for lead, trail, other in chosen[1])
        + (f"{chosen[2]}{chosen[0]}" if chosen[3] else "")
    )
)
_ROW = st.one_of(_MIXED, _REPEATED)
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(_ROW, min_size=1, max_size=12))
# The kind of row where the first place a search finds the number is no match (it runs
# into a letter) and a later one is: a split at the first place would tag the wrong one.
# Generated rows hit it in only some runs (the review's mutation survived 5 of 7 seeds).
@example(["a 555-123-4567x and b 555-123-4567"])
@example(["(555) 123-4567x, (555) 123-4567"])
# A number glued to a date after an area code: the failing run's only space follows ")",
# which the one-pass prefilter for runs to split did not take (the number stayed in clear).
@example([" (555) 123-45672024-05-06"])
# An area code's "(" glued to a number, in a row with no line break and no "/" (found by a
# run of 3,000 examples): only the fenced rewrite parts it; the one-pass rewrite left
# the last number in clear.
@example(["|(555) 123-4567)**-(555) 123-4567)555-123-4567(555) 123-4567"])
# A letter beyond ASCII glued to a number's last group after a space, or to an
# extension's digits (found by seeds 5 and 2 on 1d15955): the one-pass rewrite read the
# digits as a word led by digits, the fenced one as the number's.
@example(["+44 20 7946 0958\u00e9 "])
@example(["555-123-4567 ext. 12\u00e9 "])
# The same after a "(" lead (found by review of 6c805cf: the glued read ran before the
# "(" was taken off, so the one-pass rewrite left the last group in clear).
@example(["(+44 20 7946 0958\u00e9"])
def test_one_pass_gives_the_checked_and_fenced_rewrite(rows: list[str]) -> None:
    before, after = _both(list(rows))
    assert after == before


@_SETTINGS
@given(st.lists(st.lists(_ROW, min_size=1, max_size=6), min_size=2, max_size=3))
def test_a_memory_shared_by_batches_gives_the_same(batches: list[list[str]]) -> None:
    shared = phone_verdicts()
    for batch in batches:
        frame = pl.DataFrame({"t": batch}, schema={"t": pl.String})
        fresh = frame.select(rewrite_checked(pl.col("t"), RULE)).to_series().to_list()
        remembered = frame.select(rewrite_checked(pl.col("t"), RULE, shared)).to_series()
        assert remembered.to_list() == fresh


# What each of `_joined_and_unusual`'s four answers means, written out for Python's `re`
# from phone_bounds.py and text_markers.py (copies, so a pattern dropped there shows;
# Python's `\s` also takes \x1c-\x1f, which no text here holds).
_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
_MARKER = re.compile("[\x00\x01\x02]")
_JOINED = re.compile(r"([,;|])([0-9A-Za-z+(])")
_PARTING = rf"(?:\s*[{_BREAKS}]\s*|[ \t]*\t[ \t]*| {{2,}})"
_LINE_PARTED = re.compile(rf"([0-9])({_PARTING}[0-9])")
_DIGITS_PARTED = re.compile(rf"[0-9]{_PARTING}[0-9]")
_LINE_OR_SLASH = re.compile(rf"[{_BREAKS}\t]| {{2,}}[0-9]|/[0-9(+]")
_LAID_OUT = r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
_SLASHED_CHAIN = re.compile(rf"(?<![0-9A-Za-z_/]){_LAID_OUT}(?:/{_LAID_OUT})+")
_GLUED_AREA_CODE = re.compile(r"[0-9]\([0-9]")


def _answers(value: str | None) -> tuple[str | None, bool, bool, bool]:
    if value is None:
        return None, False, False, False
    # Joiners after the separators starting another value, then after each digit before
    # a line break, a tab or two spaces a digit follows.
    joined = _LINE_PARTED.sub("\\1\x02\\2", _JOINED.sub("\\1\x02\\2", value))
    # May hold joiners: any byte scanned for.
    maybe_joined = bool(_JOINED.search(value) or _MARKER.search(value))
    maybe_joined = maybe_joined or bool(_LINE_OR_SLASH.search(value))
    unusual = bool(_MARKER.search(value))
    beyond_ascii = any(ord(c) > 127 for c in value)
    # Takes the fenced rewrite: an area code glued to a number, in any row; numbers joined
    # by "/"; lines parted by digits in a row beyond ASCII.
    fenced = bool(
        _SLASHED_CHAIN.search(value)
        or _GLUED_AREA_CODE.search(value)
        or (beyond_ascii and _DIGITS_PARTED.search(value))
    )
    return joined, maybe_joined, unusual, fenced


#: Short texts of single characters too: a row holding one rare byte and nothing else
#: the scans look for is where a byte dropped from a scan shows.
_CHARS = st.text(
    st.sampled_from(sorted(set("0123456789 x(+,;|/\t\né" + "".join(_RARE)))), max_size=10
)
_VALUE = st.one_of(st.none(), st.just(""), _ROW, _CHARS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_VALUE, min_size=1, max_size=12))
@example(["2/1/1992(951) 558-7279\n555-123-4567", "555-123-4567/(555) 123-4567\x0b1"])
@example(["a\x0bb", "1\u20282", "x\x02y", "555-123-4567/+44 20 7946 0958", None, ""])
@example(["555-123-4567/555-987-6543", "555-123-4567  555-987-6543", "é 1  2"])
@example(["ref 12(555) 123-4567 ok", "(555) 123-4567", "1(2"])
def test_joined_and_unusual_answers_per_value(values: list[str | None]) -> None:
    joined, maybe_joined, unusual, fenced = _joined_and_unusual(pl.Series(values, dtype=pl.String))
    got = zip(joined, maybe_joined, unusual, fenced, strict=True)
    assert list(got) == [_answers(value) for value in values]
