"""A resumable writer whose journal refuses a write (the store's fence: another replica
holds the lease now, though the run has not heard of it yet) holds its upload handed
over: no request follows the refusal, an abort or a completion least of all, since the
new holder may be continuing the same upload; but an upload no journal ever named, which
no other holder can know, is aborted rather than left behind. Other failures of the
journal are not refusals and are not swallowed. A recording stand-in for a store, no
server."""

from __future__ import annotations

import pytest

from sluice.sinks.errors import JournalRefused
from sluice.sinks.upload_state import UploadState
from tests.unit.recording_upload import PART, RecordingUpload
from tests.unit.upload_journal import MemoryJournal


def _journalled_parts(journal: MemoryJournal) -> list[int]:
    return [part.number for part in UploadState.from_json(journal.state or "").parts]


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        # The last part is sent at the commit; journalling it is refused.
        (2 * PART + 2, ["exists", "start", "part1", "part2", "part3"]),
        # Every part was journalled; the write that marks the upload completing is refused.
        (2 * PART, ["exists", "start", "part1", "part2"]),
    ],
    ids=["last part", "completing"],
)
def test_a_commit_whose_journal_write_is_refused_neither_aborts_nor_completes(
    written: int, sent: list[str]
) -> None:
    journal = MemoryJournal()
    writer = RecordingUpload(journal)
    writer.write(b"x" * written)
    journal.lose_lease(known=False)  # refused from now on; the run has not heard yet

    with pytest.raises(JournalRefused):
        writer.commit()

    assert writer.calls == sent
    assert _journalled_parts(journal) == [1, 2]  # as the new holder inherits it


@pytest.mark.parametrize("closing", ["abort", "suspend"])
def test_a_writer_whose_part_could_not_be_journalled_sends_nothing_more(closing: str) -> None:
    """A part's journal write is refused in write(): the caller then aborts (it knows
    nothing of a lease) or suspends; neither sends a request, nor raises."""
    journal = MemoryJournal()
    writer = RecordingUpload(journal)
    writer.write(b"x" * PART)
    journal.lose_lease(known=False)
    with pytest.raises(JournalRefused):
        writer.write(b"y" * (2 * PART))  # part 2 is sent, and its journal write refused
    calls = list(writer.calls)

    if closing == "abort":
        writer.abort()
    else:
        writer.suspend()

    assert calls[-1] == "part2"
    assert writer.calls == calls
    assert _journalled_parts(journal) == [1]


def test_a_suspend_shrugs_off_a_refused_journal_write() -> None:
    """Part 1's journal write, the upload's first, is refused in the suspend: it does not
    raise, and since no journal ever named the upload, no other holder can know it: it
    is aborted rather than left unfinished in the store for good."""
    journal = MemoryJournal()
    writer = RecordingUpload(journal, concurrency=2)
    writer.write(b"x" * PART)  # part 1 in flight, not yet journalled
    journal.lose_lease(known=False)

    writer.suspend()

    assert writer.calls[-2:] == ["part1", "ABORT"]
    assert journal.state is None


@pytest.mark.parametrize("closing", ["abort", "suspend"])
def test_an_upload_no_journal_ever_named_is_aborted_though_handed_over(closing: str) -> None:
    journal = MemoryJournal()
    writer = RecordingUpload(journal)
    journal.lose_lease(known=False)
    with pytest.raises(JournalRefused):
        writer.write(b"x" * PART)  # part 1 is sent, and its journal write (the first) refused

    if closing == "abort":
        writer.abort()
    else:
        writer.suspend()

    assert writer.calls == ["exists", "start", "part1", "ABORT"]
    assert journal.state is None


class _BrokenJournal(MemoryJournal):
    """A journal with a bug: not a refusal, so nothing may hide it."""

    broken = False

    def save(self, state: str) -> None:
        if self.broken:
            raise TypeError("a bug in the journal")
        super().save(state)


def test_a_suspend_does_not_hide_a_bug_in_the_journal() -> None:
    journal = _BrokenJournal()
    writer = RecordingUpload(journal, concurrency=2)
    writer.write(b"x" * PART)  # part 1 in flight, journalled by the suspend
    journal.broken = True

    with pytest.raises(TypeError, match="a bug in the journal"):
        writer.suspend()


@pytest.mark.parametrize("written", [PART // 2, PART], ids=["nothing sent", "a part sent"])
def test_an_abort_whose_journal_clear_is_refused_does_not_raise(written: int) -> None:
    """abort() runs in error paths and never raises: the upload (if one was started) is
    aborted, and the refused clear of its journal entry is logged, not raised over the
    run's own error."""
    journal = MemoryJournal()
    writer = RecordingUpload(journal)
    writer.write(b"x" * written)
    journal.lose_lease(known=False)  # the clear is refused

    writer.abort()

    assert writer.calls[-1:] == (["ABORT"] if written == PART else [])
