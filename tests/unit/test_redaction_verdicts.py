"""Candidates' verdicts remembered across an export's batches (verdicts.py): each
candidate is checked once, later batches look it up, and the answers, and the phone
rule's rewrite sharing a memory, are exactly those of checking every batch afresh."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from sluice.server.pipeline.redaction import verdicts as verdicts_module
from sluice.server.pipeline.redaction.text import phone_verdicts, rewrite_checked
from sluice.server.pipeline.redaction.verdicts import CandidateVerdicts
from tests.unit.test_redaction_phone_one_pass import RULE, TRICKY, _corpus


class _Recording:
    """A check (even length passes) that records what it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, distinct: pl.Series) -> pl.Series:
        self.asked.extend(distinct.to_list())
        return distinct.str.len_chars() % 2 == 0


def test_each_candidate_is_checked_once_and_answered_every_time() -> None:
    check = _Recording()
    memory = CandidateVerdicts(check)
    first = pl.Series(["ab", "abc", "ab", "abcd"])
    second = pl.Series(["abc", "xy", "abcd", "xyz", "xy"])
    assert memory.passing(first).to_list() == [True, False, True, True]
    assert memory.passing(second).to_list() == [False, True, True, False, True]
    assert sorted(check.asked) == ["ab", "abc", "abcd", "xy", "xyz"]
    # All known now: nothing more is checked.
    assert memory.passing(pl.concat([first, second])).sum() == 6
    assert len(check.asked) == 5


def test_past_the_bound_verdicts_are_still_right_but_not_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(verdicts_module, "_REMEMBERED", 2)
    check = _Recording()
    memory = CandidateVerdicts(check)
    batch = pl.Series(["ab", "abc", "abcd"])
    assert memory.passing(batch).to_list() == [True, False, True]
    assert memory.passing(batch).to_list() == [True, False, True]
    assert len(check.asked) == 6


def test_concurrent_batches_lose_no_verdict() -> None:
    check = _Recording()
    memory = CandidateVerdicts(check)
    words = [f"w{'x' * (n % 7)}{n}" for n in range(400)]
    batches = [pl.Series(words[n::4]) for n in range(4)]
    expected = [(b.str.len_chars() % 2 == 0).to_list() for b in batches]
    got: dict[int, list[bool]] = {}

    def run(n: int) -> None:
        got[n] = memory.passing(batches[n]).to_list()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[n] for n in range(4)] == expected
    asked = len(check.asked)
    assert memory.passing(pl.Series(words)).sum() == sum(map(sum, expected))
    assert len(check.asked) == asked


def test_the_phone_rewrite_with_a_shared_memory_gives_the_fresh_rewrite() -> None:
    texts = [t for t in TRICKY + _corpus() if t is not None]
    halves = [texts[0::2], texts[1::2], texts]
    shared = phone_verdicts()
    for half in halves:
        frame = pl.DataFrame({"t": half}, schema={"t": pl.String})
        fresh = frame.select(rewrite_checked(pl.col("t"), RULE)).to_series().to_list()
        remembered = frame.select(rewrite_checked(pl.col("t"), RULE, shared)).to_series()
        assert remembered.to_list() == fresh
        assert fresh != half  # the texts hold phones that are replaced
