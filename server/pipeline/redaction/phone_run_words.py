"""The words of failing phone candidates (phone_runs.py) and the runs of them that may
be one phone number, read for all the words of all the values at once.

A value is split into words at its whitespace; a run of consecutive words may be one
number when it holds 8-15 digits, no word laid out as something else (NOT_A_PHONE: a
date, "2024-05-07 12 30" is a date and a time, not a number of 12 digits), and reads as
one number rather than a list: a country code or an area code in parentheses first, or
three digit groups or more, one of three digits or more, or a French number
(`_french_starts`). Without the layout, lists of numbers ("10 20 30 40 50 60 70 80",
"ids 123456 654321 ...") would be split into "phone numbers" once they fail as a whole.

Each condition holds for a range of ends from a word on (the running counts of digits
and groups never decrease), so the runs are found by searches in those running counts,
in Polars, not word by word: read run by run and group by group in Python, a 1 MB
value "1 " * 500,000 took 13 CPU s, and a daemon's stop waits for the batch holding it.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.validators import NOT_A_PHONE

_DIGITS_MIN: Final = 8
_DIGITS_MAX: Final = 15
_GROUPS_MIN: Final = 3
_FRENCH_FIRST: Final = "0[1-9]"
_FRENCH_PAIRS: Final = 5
#: Below this many words in a batch, their facts and runs are read in Python: the
#: dozen Polars expressions and frames cost a fixed ~1 ms per call, more than the
#: words of a usual batch (a few short candidates) take word by word. Both ways give
#: the same runs (tests/unit/test_redaction_phone_runs_long.py compares them).
FEW_WORDS: Final = 2000
_GROUP: Final = re.compile("[0-9]+")
_BIG: Final = re.compile("[0-9]{3}")
_PAIR: Final = re.compile("[0-9]{2}")
_FRENCH_FIRST_WORD: Final = re.compile(_FRENCH_FIRST)


@dataclass(frozen=True, slots=True)
class Words:
    """One value's words (at its whitespace): where each is, its digits, whether it
    starts with "+", and the runs of them (first, end; in order) that may be one phone
    number."""

    places: list[tuple[int, int]]
    digits: list[int]
    plus: list[bool]
    runs: list[tuple[int, int]]


def words_of(values: list[str], places: list[list[tuple[int, int]]]) -> list[Words]:
    """Per value (and the places of its words, `\\S+`): its `Words`."""
    texts = [
        value[start:end] for value, its in zip(values, places, strict=True) for start, end in its
    ]
    flat = pl.Series(texts, dtype=pl.String)
    if len(texts) < FEW_WORDS:
        return _few_words_of(texts, flat.str.contains(NOT_A_PHONE).to_list(), places)
    counts = [len(its) for its in places]
    word = pl.col("word")
    facts = flat.to_frame("word").select(
        digits=word.str.count_matches("[0-9]").cast(pl.Int64),
        groups=word.str.count_matches("[0-9]+").cast(pl.Int64),
        big=word.str.contains("[0-9]{3}"),
        plus=word.str.starts_with("+"),
        lead=word.str.contains(r"^[+(]"),
        pair=word.str.contains("^[0-9]{2}$"),
        french_first=word.str.contains(f"^{_FRENCH_FIRST}$"),
        other=word.str.contains(NOT_A_PHONE),
        beyond_ascii=word.str.len_bytes() != word.str.len_chars(),
    )
    digits = facts.get_column("digits")
    beyond = facts.get_column("beyond_ascii").arg_true()
    if len(beyond):
        # What Python counts as a digit beyond ASCII (never expected in a phone value:
        # the pattern's digits are ASCII) is counted as the split always counted it.
        counted = [sum(char.isdigit() for char in flat[at]) for at in beyond.to_list()]
        digits = digits.scatter(beyond, pl.Series(counted, dtype=pl.Int64))
    french = _french_starts(
        facts.get_column("pair").to_list(), facts.get_column("french_first").to_list(), counts
    )
    runs = _runs(facts.with_columns(digits=digits, french=pl.Series(french)), counts)
    digit_list: list[int] = digits.to_list()
    plus: list[bool] = facts.get_column("plus").to_list()
    out: list[Words] = []
    at = 0
    for its, (firsts, ends) in zip(places, runs, strict=True):
        end = at + len(its)
        out.append(
            Words(its, digit_list[at:end], plus[at:end], list(zip(firsts, ends, strict=True)))
        )
        at = end
    return out


def _few_words_of(
    texts: list[str], others: list[bool], places: list[list[tuple[int, int]]]
) -> list[Words]:
    """`words_of` word by word in Python, for a batch of few words (`texts`, one value's
    after the other; `others`: whether each is laid out as something else). The same
    conditions as `_runs`, each a range of ends found by bisection in the value's
    running counts."""
    counts = [len(its) for its in places]
    pair = [_PAIR.fullmatch(word) is not None for word in texts]
    french_first = [_FRENCH_FIRST_WORD.fullmatch(word) is not None for word in texts]
    french = _french_starts(pair, french_first, counts)
    out: list[Words] = []
    at = 0
    for its in places:
        count = len(its)
        words = texts[at : at + count]
        digits = [sum(char.isdigit() for char in word) for word in words]
        plus = [word.startswith("+") for word in words]
        runs: list[tuple[int, int]] = []
        if count >= 2:
            digits_to = [0, *accumulate(digits)]
            groups_to = [0, *accumulate(len(_GROUP.findall(word)) for word in words)]
            # From each word on: the first laid out as something else (no run holds
            # it), the first with a group of three digits or more (none: past the end).
            upto = [count] * (count + 1)
            big = [count] * (count + 1)
            for word in range(count - 1, -1, -1):
                upto[word] = word if others[at + word] else upto[word + 1]
                big[word] = word if _BIG.search(words[word]) else big[word + 1]
            for first in range(count):
                before = digits_to[first]
                low = max(first + 1, bisect_left(digits_to, before + _DIGITS_MIN))
                high = min(upto[first], bisect_right(digits_to, before + _DIGITS_MAX) - 1)
                three = bisect_left(groups_to, groups_to[first] + _GROUPS_MIN)
                grouped = max(low, big[first] + 1, three)
                lead = words[first].startswith(("+", "("))
                ends = list(range(low if lead else grouped, high + 1))
                french_end = first + _FRENCH_PAIRS
                if (
                    french[at + first]
                    and not lead
                    and low <= french_end <= high
                    and french_end < grouped
                ):
                    ends.append(french_end)
                    ends.sort()
                runs.extend((first, end) for end in ends)
        out.append(Words(its, digits, plus, runs))
        at += count
    return out


def _runs(facts: pl.DataFrame, counts: list[int]) -> list[tuple[list[int], list[int]]]:
    """Per value (`counts` of its words, their facts one after the other in `facts`):
    the runs of its words that may be one phone number, as their firsts and ends (in
    the value), in order. None in a value of one word (it failed whole)."""
    total = facts.height
    empty: list[tuple[list[int], list[int]]] = [([], []) for _ in counts]
    if total == 0:
        return empty
    starts = [0, *accumulate(counts)]
    shown = [at for at, count in enumerate(counts) if count]
    # Per word: its value, where its value's words start and end.
    owners = pl.DataFrame(
        {
            "value": shown,
            "start": [starts[at] for at in shown],
            "end": [starts[at + 1] for at in shown],
            "count": [counts[at] for at in shown],
        },
        schema={"value": pl.Int64, "start": pl.Int64, "end": pl.Int64, "count": pl.Int64},
    ).select(pl.all().repeat_by(pl.col("count")).explode())
    # Running counts before each word (and after the last).
    zero = pl.Series([0], dtype=pl.Int64)
    digits = pl.concat([zero, facts.get_column("digits").cum_sum()])
    groups = pl.concat([zero, facts.get_column("groups").cum_sum()])
    index = pl.int_range(total, eager=True, dtype=pl.Int64)
    before = digits.head(total)
    frame = pl.concat([facts, owners], how="horizontal").with_columns(
        index=index,
        # The first end with 8 digits or more, the last with 15 or fewer.
        least=digits.search_sorted(before + _DIGITS_MIN, side="left").cast(pl.Int64),
        most=digits.search_sorted(before + _DIGITS_MAX, side="right").cast(pl.Int64) - 1,
        # The first end with three groups or more.
        three=groups.search_sorted(groups.head(total) + _GROUPS_MIN, side="left").cast(pl.Int64),
    )
    this = pl.col("index")
    # From each word on: the first word laid out as something else (no run holds it),
    # and the first with a group of three digits or more (the value's end if none).
    upto = pl.min_horizontal(
        pl.when("other").then(this).backward_fill().fill_null(total), pl.col("end")
    )
    big = pl.when("big").then(this).backward_fill().fill_null(total)
    low = pl.max_horizontal(this + 1, pl.col("least"))
    high = pl.min_horizontal(upto, pl.col("most"))
    grouped = pl.max_horizontal(low, big + 1, pl.col("three"))
    frame = frame.with_columns(low=low, high=high, grouped=grouped).with_columns(
        from_=pl.when("lead").then(pl.col("low")).otherwise(pl.col("grouped")),
        french_end=this + _FRENCH_PAIRS,
    )
    several = pl.col("count") >= 2
    ranged = (
        frame.filter(several & (pl.col("from_") <= pl.col("high")))
        .select(
            "value",
            first=this - pl.col("start"),
            end=pl.int_ranges(pl.col("from_"), pl.col("high") + 1) - pl.col("start"),
        )
        .explode("end")
    )
    french_end = pl.col("french_end")
    french = frame.filter(
        several
        & pl.col("french")
        & ~pl.col("lead")
        & (french_end >= pl.col("low"))
        & (french_end <= pl.col("high"))
        & (french_end < pl.col("grouped"))
    ).select("value", first=this - pl.col("start"), end=french_end - pl.col("start"))
    # The ranges come in order (value, first, end); the French numbers' runs are merged
    # in when there are any.
    found = ranged
    if not french.is_empty():
        found = pl.concat([ranged, french.cast(ranged.schema)]).sort("value", "first", "end")
    if found.is_empty():
        return empty
    firsts: list[int] = found.get_column("first").to_list()
    ends: list[int] = found.get_column("end").to_list()
    # Where each value's runs start among them.
    bounds = found.get_column("value").search_sorted(
        pl.Series(range(len(counts) + 1), dtype=pl.Int64), side="left"
    )
    at: list[int] = bounds.to_list()
    return [
        (firsts[at[value] : at[value + 1]], ends[at[value] : at[value + 1]])
        for value in range(len(counts))
    ]


def _french_starts(pair: list[bool], french_first: list[bool], counts: list[int]) -> list[bool]:
    """For each word (of values of `counts` words, one after the other), whether a
    French number starts there ("01 23 45 67 89": five pairs, the first a 0 and a
    non-zero digit) that no further pair follows, unless another such number starts
    there (`pair`: whether each word is a pair of digits, `french_first`: such a first
    pair). A list of pairs ("minutes 05 10 15 20 25 30 35 40") has pairs after its first
    five. One pass from the end, so a value of many numbers side by side costs its
    length, not its length squared (each start would otherwise follow the chain to its
    end); values without such a first pair are not read."""
    starts = [False] * len(pair)
    at = 0
    for count in counts:
        end_of_value = at + count
        if any(french_first[at:end_of_value]):
            for first in range(end_of_value - _FRENCH_PAIRS, at - 1, -1):
                end = first + _FRENCH_PAIRS
                starts[first] = (
                    french_first[first]
                    and all(pair[first:end])
                    and (end == end_of_value or not pair[end] or starts[end])
                )
        at = end_of_value
    return starts
