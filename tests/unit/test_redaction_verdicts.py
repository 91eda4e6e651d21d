"""What is known of candidates, remembered across an export's batches (verdicts.py): each
candidate is looked at once, later batches look it up, and the answers, and the phone
rule's rewrite sharing a memory, are exactly those of looking at every batch afresh."""

from __future__ import annotations

import threading

import polars as pl
import pytest

from sluice.server.pipeline.redaction import phone_one_pass
from sluice.server.pipeline.redaction import verdicts as verdicts_module
from sluice.server.pipeline.redaction.phone_one_pass import phone_verdicts, rewrite_checked
from sluice.server.pipeline.redaction.verdicts import CandidateFacts
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run
from tests.unit.test_redaction_phone_one_pass import RULE, TRICKY, _corpus


class _Recording:
    """Facts (whether the length is even, the text in upper case) that record what they
    were asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, distinct: pl.Series) -> pl.DataFrame:
        self.asked.extend(distinct.to_list())
        return pl.DataFrame(
            {"even": distinct.str.len_chars() % 2 == 0, "upper": distinct.str.to_uppercase()}
        )


def _even(memory: CandidateFacts, batch: list[str]) -> list[bool]:
    facts = memory.of(pl.Series(batch, dtype=pl.String))
    assert facts.get_column("upper").to_list() == [word.upper() for word in batch]
    return facts.get_column("even").to_list()


def test_each_candidate_is_looked_at_once_and_answered_every_time() -> None:
    find = _Recording()
    memory = CandidateFacts(find)
    first = ["ab", "abc", "ab", "abcd"]
    second = ["abc", "xy", "abcd", "xyz", "xy"]
    assert _even(memory, first) == [True, False, True, True]
    assert _even(memory, second) == [False, True, True, False, True]
    assert sorted(find.asked) == ["ab", "abc", "abcd", "xy", "xyz"]
    # All known now: nothing more is looked at.
    assert sum(_even(memory, first + second)) == 6
    assert len(find.asked) == 5


def test_past_the_bound_facts_are_still_right_but_not_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(verdicts_module, "_REMEMBERED", 2)
    find = _Recording()
    memory = CandidateFacts(find)
    batch = ["ab", "abc", "abcd"]
    assert _even(memory, batch) == [True, False, True]
    assert _even(memory, batch) == [True, False, True]
    assert len(find.asked) == 6


def test_concurrent_batches_lose_no_facts() -> None:
    find = _Recording()
    memory = CandidateFacts(find)
    words = [f"w{'x' * (n % 7)}{n}" for n in range(400)]
    batches = [words[n::4] for n in range(4)]
    expected = [[len(w) % 2 == 0 for w in b] for b in batches]
    got: dict[int, list[bool]] = {}

    def look(n: int) -> None:
        got[n] = _even(memory, batches[n])

    threads = [threading.Thread(target=look, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[n] for n in range(4)] == expected
    asked = len(find.asked)
    assert sum(_even(memory, words)) == sum(map(sum, expected))
    assert len(find.asked) == asked


def test_candidates_sharing_a_hash_get_their_own_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every candidate of one length shares a hash: the first remembered keeps it, the
    # others are looked at every time, and none takes another's facts.
    monkeypatch.setattr(verdicts_module, "_hashes", lambda c: c.str.len_bytes().cast(pl.UInt64))
    find = _Recording()
    memory = CandidateFacts(find)
    batch = ["ab", "cd", "abc", "ab", "ef", "cd"]
    for _ in range(3):
        facts = memory.of(pl.Series(batch))
        assert facts.get_column("upper").to_list() == [w.upper() for w in batch]
    # After the first batch, "abc" and one of the three of two bytes are remembered; the
    # other two are looked at in every later batch.
    assert len(find.asked) == 4 + 2 * 2
    assert find.asked.count("abc") == 1


def test_a_batch_adding_after_a_concurrent_one_adds_only_what_is_not_remembered() -> None:
    """Two batches looked at the same (empty) memory; the second adds after the first
    did: what the first added is not added twice (the memory's hashes stay unique)."""
    find = _Recording()
    memory = CandidateFacts(find)
    first, second = pl.Series(["a", "b"]), pl.Series(["a", "c"])
    memory._add(first, find(first))
    memory._add(second, find(second))
    known = memory._known
    assert known is not None
    assert sorted(known.get_column("__sluice_candidate").to_list()) == ["a", "b", "c"]
    assert known.get_column("__sluice_hash").is_unique().all()


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


def test_candidates_longer_than_a_phone_are_looked_at_every_time() -> None:
    find = _Recording()
    memory = CandidateFacts(find)
    long_runs = ["1 2" * 29, "9" * 65]  # 87 and 65 bytes: no phone is that long
    batch = ["12", "123", *long_runs, "1" * 64]
    expected = [True, False, False, False, True]
    assert _even(memory, batch) == expected
    assert _even(memory, batch) == expected
    assert sorted(find.asked) == sorted(["12", "123", "1" * 64, *long_runs, *long_runs])


def test_the_memory_holds_no_more_bytes_than_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # The candidates' bytes count: "ab" and "abc" are 5.
    monkeypatch.setattr(verdicts_module, "_REMEMBERED_BYTES", 10)
    find = _Recording()
    memory = CandidateFacts(find)
    for batch in (["ab", "abc"], ["abcd", "xyz1"], ["ab", "abc", "abcd", "xyz1"]):
        assert _even(memory, batch) == [len(w) % 2 == 0 for w in batch]
    # "ab" and "abc" (5 bytes) remembered; "abcd" and "xyz1" (8 more) looked at each time.
    assert sorted(find.asked) == ["ab", "abc", "abcd", "abcd", "xyz1", "xyz1"]


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
