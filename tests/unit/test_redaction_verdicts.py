"""Candidates' verdicts remembered across an export's batches (verdicts.py): each
candidate is checked once, later batches look it up, and the answers, and the phone
rule's rewrite sharing a memory, are exactly those of checking every batch afresh."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from sluice.server.pipeline.redaction import phone_one_pass
from sluice.server.pipeline.redaction import verdicts as verdicts_module
from sluice.server.pipeline.redaction.phone_one_pass import phone_verdicts, rewrite_checked
from sluice.server.pipeline.redaction.verdicts import CandidateForms, CandidateVerdicts
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run
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


class _Writing:
    """A rewrite (upper case; null for "none") that records what it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, distinct: pl.Series) -> pl.Series:
        self.asked.extend(distinct.to_list())
        upper = distinct.str.to_uppercase()
        return upper.scatter((distinct == "none").arg_true(), None)


def test_each_candidate_is_written_once_and_looked_up_after() -> None:
    write = _Writing()
    memory = CandidateForms(write)
    first = pl.Series(["ab", "none", "ab", "c"])
    assert memory.written(first).to_list() == ["AB", None, "AB", "C"]
    second = pl.Series(["c", "none", "de", "ab"])
    assert memory.written(second).to_list() == ["C", None, "DE", "AB"]
    # A null form is never remembered: asked again; the others once each.
    assert sorted(write.asked) == ["ab", "c", "de", "none", "none"]


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


def test_candidates_longer_than_a_phone_are_checked_every_time() -> None:
    check = _Recording()
    memory = CandidateVerdicts(check)
    long_runs = ["1 2" * 29, "9" * 65]  # 87 and 65 bytes: no phone is that long
    batch = pl.Series(["12", "123", *long_runs, "1" * 64])
    expected = [True, False, False, False, True]
    assert memory.passing(batch).to_list() == expected
    assert memory.passing(batch).to_list() == expected
    assert sorted(check.asked) == sorted(["12", "123", "1" * 64, *long_runs, *long_runs])


def test_the_memory_holds_no_more_bytes_than_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Checked candidates and the passing ones among them count: "ab" is 4 bytes.
    monkeypatch.setattr(verdicts_module, "_REMEMBERED_BYTES", 10)
    check = _Recording()
    memory = CandidateVerdicts(check)
    for batch in (["ab", "abc"], ["abcd", "xy"], ["ab", "abc", "abcd", "xy"]):
        assert memory.passing(pl.Series(batch)).to_list() == [len(w) % 2 == 0 for w in batch]
    # "ab" and "abc" (9 bytes) remembered; "abcd" and "xy" (12 more) checked each time.
    assert sorted(check.asked) == ["ab", "abc", "abcd", "abcd", "xy", "xy"]


def test_a_redactor_checks_a_candidate_once_for_all_its_text_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One memory per redactor: its bound is the redactor's, whatever the leaves.
    asked = _recorded(monkeypatch, "_phones_passing")
    message = "call 555-123-4567 about order 2024-05-06"
    frame = pl.DataFrame({"a": [message], "s": [{"x": message, "y": "nothing"}]})
    out, counts = run(frame, RedactionSpec(level="moderate"))
    assert out["a"][0] == "call [PHONE] about order 2024-05-06"
    assert out["s"][0]["x"] == out["a"][0]
    assert counts == {"PHONE/a": 1, "PHONE/s.x": 1}
    assert len(asked) == len(set(asked)) == 2


def test_failing_runs_are_split_once_per_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a failing run holds phone numbers (split in Python) is remembered too:
    a later batch with the same runs splits none, and rewrites them the same."""
    split = _recorded(monkeypatch, "holds_phones")
    batch = ["call 555-123-4567 555-987-6543 now", "ids 1234 5678 9012 3456 7890 1234"]
    frame = pl.DataFrame({"t": batch})
    shared = phone_verdicts()
    first = frame.select(rewrite_checked(pl.col("t"), RULE, shared)).to_series().to_list()
    assert first == ["call [PHONE] [PHONE] now", batch[1]]
    asked = len(split)
    assert asked > 0
    again = frame.select(rewrite_checked(pl.col("t"), RULE, shared)).to_series().to_list()
    assert again == first
    assert len(split) == asked


def _recorded(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Every value phone_one_pass.<name> (a Series -> Series check) is asked about from now on; it
    still answers as before."""
    asked: list[str] = []
    real = getattr(phone_one_pass, name)

    def recording(values: pl.Series) -> pl.Series:
        asked.extend(values.to_list())
        result: pl.Series = real(values)
        return result

    monkeypatch.setattr(phone_one_pass, name, recording)
    return asked


@pytest.mark.parametrize(
    ("aligned", "first", "second", "expected"),
    [
        # Verdicts: the passing candidates, some of the checked ones.
        (False, (["a", "b"], ["a"]), (["a", "c"], ["a", "c"]), (["a", "b", "c"], ["a", "c"])),
        # Forms: one per candidate.
        (
            True,
            (["a", "b"], ["A", "B"]),
            (["a", "c"], ["A", "C"]),
            (["a", "b", "c"], ["A", "B", "C"]),
        ),
    ],
)
def test_a_batch_adding_after_a_concurrent_one_adds_only_what_is_not_remembered(
    aligned: bool,
    first: tuple[list[str], list[str]],
    second: tuple[list[str], list[str]],
    expected: tuple[list[str], list[str]],
) -> None:
    """Two batches looked at the same (empty) memory; the second adds after the first
    did: what the first added is not added twice."""
    memory = verdicts_module._Remembered(aligned=aligned)
    seen = memory.known
    memory.add(seen, pl.Series(first[0]), pl.Series(first[1]))
    memory.add(seen, pl.Series(second[0]), pl.Series(second[1]))
    assert tuple(series.to_list() for series in memory.known) == expected
