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
from collections.abc import Iterator
from functools import lru_cache
from itertools import accumulate, chain, islice
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
    whole or has a single word. The runs are checked a few thousand at a time: only the
    passing ones are kept, not the text of each (2.9 million per MB of a crafted value)."""
    words = _words_of(values)
    wholes = [False] * len(values)
    passing: list[list[tuple[int, int]]] = [[] for _ in values]
    # The values themselves first (run -1), checked with their first runs.
    themselves = ((owner, -1, value) for owner, value in enumerate(values))
    runs = _run_texts(values, words, done=[False] * len(values))
    for owner, run, passes in _verdicts(chain(themselves, runs), _SPLIT_AT_ONCE):
        if run < 0:
            wholes[owner] = passes
        elif passes:
            passing[owner].append(words[owner].runs[run])
    return [
        (its, [] if whole else runs)
        for its, whole, runs in zip(words, wholes, passing, strict=True)
    ]


#: Runs checked at once by `_holding`: a value of many numbers side by side has its
#: answer in the first few, not after all its runs are checked (the split, which reads
#: them all, follows for such a value).
_CHECKED_AT_ONCE: Final = 4096
#: Runs checked at once by `_passing_runs`: the texts of all runs at once took ~1 GB
#: per MB of a crafted value; far fewer at a time cost a frame and a call each.
_SPLIT_AT_ONCE: Final = 65536


def _holding(values: list[str]) -> list[bool]:
    """Per value: whether it fails the phone check as a whole and a run of its words
    (phone_run_words.py) passes it, in which case the best cover of its words holds
    one. No more of a value's runs are checked once one of them passes."""
    wholes = _passing(values)
    # Whether a value's runs are settled: it passes whole, or one of them passes.
    done = list(wholes)
    for owner, _run, passes in _verdicts(
        _run_texts(values, _words_of(values), done), _CHECKED_AT_ONCE
    ):
        done[owner] = done[owner] or passes
    return [settled and not whole for settled, whole in zip(done, wholes, strict=True)]


def _words_of(values: list[str]) -> list[Words]:
    """Per value: its words (at its whitespace) and the runs of them that may be one
    phone number."""
    return words_of(values, [[m.span() for m in _WORD.finditer(value)] for value in values])


def _run_texts(
    values: list[str], words: list[Words], done: list[bool]
) -> Iterator[tuple[int, int, str]]:
    """Each run of each value as it is written, as the rewrite will read it once split:
    its value, its index in the value's runs and its text. A value's runs stop once
    `done` says so for it (read as they are taken)."""
    for owner, (value, its) in enumerate(zip(values, words, strict=True)):
        at = its.places
        for run, (first, end) in enumerate(its.runs):
            if done[owner]:
                break
            yield owner, run, value[at[first][0] : at[end - 1][1]]


def _verdicts(
    runs: Iterator[tuple[int, int, str]], at_once: int
) -> Iterator[tuple[int, int, bool]]:
    """Per run (value, index, text): the value, the index and whether the text passes
    the phone check, `at_once` runs at a time; the next ones are taken only once the
    verdicts before them are read."""
    while chunk := list(islice(runs, at_once)):
        verdicts = _passing([text for _owner, _run, text in chunk])
        for (owner, run, _text), passes in zip(chunk, verdicts, strict=True):
            yield owner, run, passes


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
