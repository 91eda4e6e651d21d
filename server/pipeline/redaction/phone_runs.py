"""Phone numbers written next to each other ("555-123-4567 555-987-6543") or next to a
date ("555-123-4567 2024-05-06").

The PHONE pattern takes a run of digit groups joined by single spaces or dashes as one
candidate, which then holds more than 15 digits and fails the phone check as a whole:
every number in it stayed in clear. A failing candidate is split here into words at its
whitespace (a dash or a dot joins the groups of one number or one date; splitting there
would turn ids into phone-sized parts), and the words are covered by phone numbers: the
choice of consecutive words, each run passing the phone check on its own, that covers
the most digits ("555 123 4567 555 987 6543" is two numbers, not "555 123 4567 555"
and a remainder). Words no number covers (a date) stay as they are.

The split is written into the text as a joiner (the same STX text_markers.py puts after
a list separator, removed after the rewrite) before the whitespace at each boundary, which
ends one candidate (its trail) and gives the next a lead: the usual rewrite then finds
and checks each part as it does any candidate. Only failing candidates of more than 15
digits can hold two numbers or a number and something else, so rows without such a run
are not looked at (`LONG_RUN`, a cheap scan of the rows in question).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import accumulate
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.phone_run_words import Words, words_of
from sluice.server.pipeline.redaction.validators import NOT_A_PHONE, VALIDATORS

#: What ends one part of a split candidate: `text_markers.py`'s joiner.
JOINER: Final = "\x02"
#: More digits in one run than a phone number holds (15): a necessary condition for a
#: candidate that holds two numbers, or a number and a date. Groups may be parted by an
#: area code's parentheses too: "(555) 123-4567 2024-05-06" is one candidate of 18
#: digits, whose number stayed in clear while ") " ended the run.
LONG_RUN: Final = r"[0-9](?:\)?[ .-]?\(?[0-9]){15}"
_WORD: Final = re.compile(r"\S+")


def holds_phones(values: pl.Series) -> pl.Series:
    """Per candidate value (failed as a whole): whether its words hold a phone number.
    Only values with more than 15 digits and a space, not laid out as something else
    as a whole, are split (in Python): most long failing candidates are ids and tracking
    numbers of one word, or card look-alikes in blocks of four (no run of whose words
    is a phone number either)."""
    splittable = (
        values.str.contains(LONG_RUN)
        & values.str.contains(r"\s")
        & ~values.str.contains(NOT_A_PHONE)
    ).fill_null(False)
    held = pl.repeat(False, len(values), eager=True)
    if not splittable.any():
        return held
    few = values.filter(splittable).to_list()
    found = pl.Series(_holding(few), dtype=pl.Boolean)
    # `held` is this function's own: `scatter` may write into it.
    return held.scatter(splittable.arg_true(), found)


def split_runs(texts: pl.Series, regex: str) -> pl.Series:
    """`texts` with a joiner at each boundary of the phone numbers inside a candidate
    of `regex` (the PHONE pattern) that fails as a whole. Rows without a long digit run
    come back unchanged, unscanned by the pattern."""
    long = texts.str.contains(LONG_RUN).fill_null(False)
    if not long.any():
        return texts
    where = long.arg_true()
    picked = texts.filter(long)
    rows: list[str] = picked.to_list()
    # The matches come from Polars' regex engine, which runs in linear time; Python's
    # backtracking `re` only re-reads each at its own place for the value's span. Its
    # own scan of a whole row (finditer) retries from every position and took quadratic
    # time on a crafted value ("1 1 1 … 1a": 4,000 groups 1.1 s, 50,000 minutes).
    found: list[list[str]] = picked.str.extract_all(regex).to_list()
    pattern = _compiled(regex)
    matches = [_value_spans(pattern, row, whole) for row, whole in zip(rows, found, strict=True)]
    values = [
        row[start:end] for row, spans in zip(rows, matches, strict=True) for start, end in spans
    ]
    cuts = iter(_cuts_of(values))
    changed: list[str] = []
    for row, spans in zip(rows, matches, strict=True):
        out, last = [], 0
        for start, _end in spans:
            for cut in next(cuts):
                out.append(row[last : start + cut])
                out.append(JOINER)
                last = start + cut
        out.append(row[last:])
        changed.append("".join(out))
    # `scatter` writes in place: into a copy, never the caller's values.
    return texts.clone().scatter(where, pl.Series(changed, dtype=pl.String))


def _value_spans(pattern: re.Pattern[str], row: str, whole: list[str]) -> list[tuple[int, int]]:
    """Where each whole match (in order, not overlapping) holds its value, in `row`. A
    match is read again where it is found, anchored there (`pattern.match`); one not
    found as it was matched there is left out (its candidate then stays unsplit)."""
    spans: list[tuple[int, int]] = []
    position = 0
    for text in whole:
        at = row.find(text, position)
        if at < 0:
            continue
        again = pattern.match(row, at)
        if again is not None and again.end() == at + len(text):
            spans.append((again.start("sl_value"), again.end("sl_value")))
        position = at + len(text)
    return spans


@lru_cache(maxsize=4)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _cuts_of(values: list[str]) -> list[list[int]]:
    """Per value: the offsets (in it) where a joiner goes, none if it passes whole or
    holds no phone number."""
    cuts: list[list[int]] = []
    for words, passing in _passing_runs(values):
        parts = _best_cover(words, passing) if passing else []
        if not parts:
            cuts.append([])
            continue
        # A boundary before every part and after it, except at the value's own ends;
        # words outside any part stay together (each is no phone on its own).
        bounds = sorted({w for first, end in parts for w in (first, end)} - {0, len(words.places)})
        cuts.append([words.places[b - 1][1] for b in bounds])
    return cuts


def _passing_runs(values: list[str]) -> list[tuple[Words, list[tuple[int, int]]]]:
    """Per value: its words and the runs of them (first, end) that may be one phone
    number (phone_run_words.py) and pass the phone check, none if the value passes as a
    whole or has a single word."""
    places = [[m.span() for m in _WORD.finditer(value)] for value in values]
    words = words_of(values, places)
    texts: list[str] = []
    for value, its in zip(values, words, strict=True):
        texts.append(value)
        # Each run as it is written, as the rewrite will read it once split.
        at = its.places
        texts.extend(value[at[first][0] : at[end - 1][1]] for first, end in its.runs)
    verdicts = iter(_passing(texts))
    out: list[tuple[Words, list[tuple[int, int]]]] = []
    for its in words:
        whole = next(verdicts)
        passing = [span for span in its.runs if next(verdicts)]
        out.append((its, [] if whole else passing))
    return out


#: Runs checked at once by `_holding`: a value of many numbers side by side has its
#: answer in the first few, not after all its runs are checked (the split, which reads
#: them all, follows for such a value).
_CHECKED_AT_ONCE: Final = 4096


def _holding(values: list[str]) -> list[bool]:
    """Per value: whether it fails the phone check as a whole and a run of its words
    (phone_run_words.py) passes it, in which case the best cover of its words holds
    one. The runs are checked a few thousand at a time, and no more of a value's once
    one of them passes."""
    places = [[m.span() for m in _WORD.finditer(value)] for value in values]
    words = words_of(values, places)
    held = [False] * len(values)
    owners: list[int] = []
    texts: list[str] = []

    def check() -> None:
        for owner, passes in zip(owners, _passing(texts), strict=True):
            held[owner] = held[owner] or passes
        owners.clear()
        texts.clear()

    for owner, (value, its, whole) in enumerate(zip(values, words, _passing(values), strict=True)):
        if whole:
            continue
        at = its.places
        for first, end in its.runs:
            if len(texts) >= _CHECKED_AT_ONCE:
                check()
            if held[owner]:
                break
            owners.append(owner)
            texts.append(value[at[first][0] : at[end - 1][1]])
    check()
    return held


def _passing(texts: list[str]) -> list[bool]:
    """Per text: whether it passes the phone check."""
    if not texts:
        return []
    check = VALIDATORS["phone"](pl.col("value")).fill_null(False)
    verdicts: list[bool] = pl.DataFrame({"value": texts}).select(check).to_series().to_list()
    return verdicts


def _best_cover(words: Words, passing: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The non-overlapping passing runs that take the most words led by "+" and, among
    those, cover the most digits (on a tie, the one found first from the left, which
    prefers longer leading runs). A "+" only starts a number: a cover that skips it
    left the country and area code in clear beside the rest ("+44 20 7946 0958
    1234567" is "+44 20 7946 0958" and a remainder, not "+44 20" and the 15 digits
    after it). Each word keeps the best cover from it on and the run it starts (a
    back-pointer), not a copy of the runs: a value of thousands of short numbers costs
    its length, not its square."""
    count = len(words.places)
    ends_at = [0, *accumulate(words.digits)]
    # A cover's score: the words led by "+" it takes, then the digits it holds, as one
    # number (the "+" count times more than all the digits there are, plus the digits),
    # so scores compare as those pairs do.
    scale = ends_at[count] + 1
    # covered[i]: the score of the best cover of words i..; chosen[i]: the end of the
    # run it starts at i, or 0 when it skips word i. `passing` is in order (first, then
    # end: phone_run_words.py), so the runs from each word are read from the last
    # backwards, the longest first.
    covered = [0] * (count + 1)
    chosen = [0] * (count + 1)
    at_run = len(passing) - 1
    for first in range(count - 1, -1, -1):
        best = covered[first + 1]
        pick = 0
        signed = scale if words.plus[first] else 0
        while at_run >= 0 and passing[at_run][0] == first:
            end = passing[at_run][1]
            total = signed + ends_at[end] - ends_at[first] + covered[end]
            if total > best:
                best, pick = total, end
            at_run -= 1
        covered[first] = best
        chosen[first] = pick
    runs: list[tuple[int, int]] = []
    at = 0
    while at < count:
        if chosen[at]:
            runs.append((at, chosen[at]))
            at = chosen[at]
        else:
            at += 1
    return runs
