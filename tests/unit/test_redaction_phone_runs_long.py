"""A failing phone run of hundreds of thousands of digit groups (a hostile 1 MB value,
"1 " * 500,000) is split in time linear in its words (phone_run_words.py): the split
read it run by run and group by group (13-36 s for that value, and a daemon's stop
waits for the batch holding it). The output is the one the words' rules give: checked
here against the same value cut in pieces, and the split's cuts against the rules as
they were written word by word (`_reference_cuts`, the code before)."""

from __future__ import annotations

import re
from unittest.mock import patch

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from sluice.server.pipeline.redaction import phone_run_words, phone_runs
from sluice.server.pipeline.redaction.validators import NOT_A_PHONE
from tests.unit.test_redaction_properties import _redact

#: Shapes of a long run and their period in groups: a run of whole periods is redacted
#: as its periods one after the other (seen with the code before, 40 and 41 periods).
SHAPES = [("1 ", 1), ("12 ", 1), ("555 ", 5), ("01 ", 5), ("+1 555 ", 2)]
_MEGABYTE = 1_000_000


@pytest.mark.parametrize(("shape", "period"), SHAPES)
@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_a_megabyte_run_is_redacted_as_its_periods(shape: str, period: int, level: str) -> None:
    periods = _MEGABYTE // (len(shape) * period)
    one = _redact([shape * period], level)[0]
    assert _redact([shape * period * periods], level)[0] == one * periods


def test_a_megabyte_run_with_one_number_at_its_end() -> None:
    # One group of three digits or more lets runs be laid out as a number: the whole
    # value is read, and only its end is one, with the five ones before it (15 digits,
    # the most a number holds: as with 1,000 ones before it, seen with the code before).
    value = "1 " * 499_000 + "555 123 4567"
    assert _redact([value], "moderate")[0] == "1 " * 498_995 + "[PHONE]"


_GROUP = st.text("0123456789", min_size=1, max_size=7)
_TWO = st.integers(0, 99).map("{:02d}".format)


def _words(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(" ".join)


#: Numbers as they are written in a country (the French first pair and runs of pairs
#: are where a planted `0[0-9]` first pair went unseen with words of one group only).
_NATIONAL = st.one_of(
    _words(st.sampled_from(["01", "02", "06", "09"]), _TWO, _TWO, _TWO, _TWO),
    _words(st.just("00 33"), _TWO, _TWO, _TWO, _TWO, _TWO),
    st.lists(_TWO, min_size=1, max_size=12).map(" ".join),
    _words(st.just("+44 20"), st.integers(1000, 9999).map(str), st.integers(1000, 9999).map(str)),
    _words(st.just("+1 (555)"), st.integers(1000000, 9999999).map(str)),
    _words(st.just("555"), st.integers(100, 999).map(str), st.integers(1000, 9999).map(str)),
)
_WORD = st.one_of(
    _GROUP,
    _NATIONAL,
    st.tuples(_GROUP, st.sampled_from("-."), _GROUP).map("".join),
    _GROUP.map(lambda group: f"+{group}"),
    _GROUP.map(lambda group: f"({group})"),
    st.sampled_from(
        ["00", "01", "02", "06", "20", "45", "555", "123", "4567", "2024-05-06", "1234", "0033"]
    ),
    st.sampled_from(["ext.", "x", "555-12-3456", "1.234.567", "12.05.2024", "\u0663" + "12"]),
    st.sampled_from(["tel", "abc", "a1", "12a345", "[PHONE]", "[CARD]", "\x00", "\x01", "\x02"]),
)
_SPACE = st.sampled_from([" ", " ", "  ", "\t", "\u00a0", "\u2009", "\n"])
_VALUE = st.lists(st.tuples(_WORD, _SPACE), max_size=40).map(
    lambda words: "".join(word + space for word, space in words).rstrip()
)


@pytest.mark.parametrize("few_words", [0, 10**9], ids=["polars", "python"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_VALUE, min_size=1, max_size=12))
def test_the_cuts_are_the_rules_word_by_word(few_words: int, values: list[str]) -> None:
    # Both ways of reading the words (Polars for many, Python for few) give the cuts
    # the rules give.
    with patch.object(phone_run_words, "FEW_WORDS", few_words):
        assert phone_runs._cuts_of(values) == _reference_cuts(values)


# The split as it was written before, word by word: the reference for its rules.
_WORDS = re.compile(r"\S+")
_GROUPS = re.compile(r"[0-9]+")
_PAIR = re.compile(r"[0-9]{2}")
_FRENCH_FIRST = re.compile(r"0[1-9]")


def _reference_cuts(values: list[str]) -> list[list[int]]:
    import polars as pl

    from sluice.server.pipeline.redaction.validators import VALIDATORS

    check = VALIDATORS["phone"](pl.col("value")).fill_null(False)

    def passes(texts: list[str]) -> list[bool]:
        if not texts:
            return []
        return pl.DataFrame({"value": texts}).select(check).to_series().to_list()  # type: ignore[no-any-return]

    cuts: list[list[int]] = []
    for value in values:
        places = [m.span() for m in _WORDS.finditer(value)]
        words = [value[start:end] for start, end in places]
        others = (
            pl.Series(words, dtype=pl.String).str.contains(NOT_A_PHONE).to_list() if words else []
        )
        runs = _word_runs(words, others) if len(words) > 1 else []
        verdicts = passes([value, *(value[places[f][0] : places[e - 1][1]] for f, e in runs)])
        passing = [run for run, ok in zip(runs, verdicts[1:], strict=True) if ok]
        if verdicts[0] or not passing:
            cuts.append([])
            continue
        french = _french_starts(words)
        laid_out = [run for run in passing if _laid_out(words, *run, french)]
        parts = _best_cover(words, laid_out)
        if not parts:
            cuts.append([])
            continue
        bounds = sorted({w for first, end in parts for w in (first, end)} - {0, len(words)})
        cuts.append([places[b - 1][1] for b in bounds])
    return cuts


def _word_runs(words: list[str], others: list[bool]) -> list[tuple[int, int]]:
    digits = [sum(char.isdigit() for char in word) for word in words]
    runs = []
    for first in range(len(words)):
        total = 0
        for end in range(first + 1, len(words) + 1):
            if others[end - 1]:
                break
            total += digits[end - 1]
            if total > 15:
                break
            if total >= 8:
                runs.append((first, end))
    return runs


def _laid_out(words: list[str], first: int, end: int, french: list[bool]) -> bool:
    if words[first].startswith(("+", "(")):
        return True
    groups = [group for word in words[first:end] for group in _GROUPS.findall(word)]
    if len(groups) >= 3 and max(len(group) for group in groups) >= 3:
        return True
    return end - first == 5 and french[first]


def _french_starts(words: list[str]) -> list[bool]:
    pair = [_PAIR.fullmatch(word) is not None for word in words]
    starts = [False] * (len(words) + 1)
    for first in range(len(words) - 5, -1, -1):
        end = first + 5
        starts[first] = (
            _FRENCH_FIRST.fullmatch(words[first]) is not None
            and all(pair[first:end])
            and (end == len(words) or not pair[end] or starts[end])
        )
    return starts


def _best_cover(words: list[str], passing: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ends_at = [0]
    for word in words:
        ends_at.append(ends_at[-1] + sum(char.isdigit() for char in word))
    starting: dict[int, list[int]] = {}
    for first, end in passing:
        starting.setdefault(first, []).append(end)
    covered = [(0, 0)] * (len(words) + 1)
    chosen = [0] * (len(words) + 1)
    for first in range(len(words) - 1, -1, -1):
        covered[first] = covered[first + 1]
        signed = int(words[first].startswith("+"))
        for end in sorted(starting.get(first, ()), reverse=True):
            after = covered[end]
            total = (signed + after[0], ends_at[end] - ends_at[first] + after[1])
            if total > covered[first]:
                covered[first], chosen[first] = total, end
    runs: list[tuple[int, int]] = []
    at = 0
    while at < len(words):
        if chosen[at]:
            runs.append((at, chosen[at]))
            at = chosen[at]
        else:
            at += 1
    return runs
