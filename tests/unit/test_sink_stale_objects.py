"""Stale objects against real servers (moto, Azurite): an object a killed run completed
but never recorded, with other bytes than the next run produces (an upgrade between the
two). A writer told `replace_stale` replaces it, only after a journal write the lease
fences and only while it is the version examined; one with the same bytes is kept; and
an object a record names (written without `replace_stale`) is never replaced: other
bytes there are corruption, DATA_LOSS."""

from __future__ import annotations

import os

import pytest

from sluice.server.errors import DataLoss
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks import IntegrityError, JournalRefused, Sink
from sluice.sinks.azure.upload import AzureUpload
from sluice.sinks.upload_state import UploadState
from tests.unit.cloud_stores import PART, CloudStore, cloud_store
from tests.unit.upload_journal import MemoryJournal

KEY = "events/exp/part-000001.parquet"
SMALL = 1_000
LARGE = 2 * PART + 10


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloudStore:
    return cloud_store(str(request.param), request, monkeypatch)


class _KilledBeforeForgetting(MemoryJournal):
    """The journal of a run killed after completing its upload but before forgetting it:
    the state left says `completing`, and the upload is gone from the store."""

    def clear(self) -> None:
        pass


class _LeaseLostOnceCompleting(MemoryJournal):
    """Another replica takes the export over just after this run journalled that it is
    completing, before it could replace anything; the run has not heard yet."""

    def save(self, state: str) -> None:
        super().save(state)
        if UploadState.from_json(state).completing:
            self.lose_lease(known=False)


def _store_stale(sink: Sink, size: int, journal: MemoryJournal) -> bytes:
    """What the killed run completed under KEY: `size` bytes no record names."""
    stale = os.urandom(size)
    older = sink.create(KEY, overwrite=False, journal=journal)
    older.write(stale)
    older.commit()
    return stale


def _read(sink: Sink) -> bytes:
    with sink.open(KEY) as handle:
        return handle.read()


@pytest.mark.parametrize(
    ("size", "left"),
    [(SMALL, "no journal"), (LARGE, "no journal"), (LARGE, "journal completing")],
)
def test_a_stale_object_no_record_names_is_replaced(
    store: CloudStore, size: int, left: str
) -> None:
    journal = _KilledBeforeForgetting() if left == "journal completing" else MemoryJournal()
    stale = _store_stale(store.sink, size, journal)
    assert (journal.state is not None) == (left == "journal completing")
    journal = MemoryJournal(journal.state)
    saves = journal.saves

    data = os.urandom(size)
    newer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    newer.write(data)
    assert newer.commit().size == size

    assert _read(store.sink) == data != stale
    assert [info.key for info in store.sink.list()] == [KEY]
    assert journal.saves > saves  # the fencing write, at least
    assert journal.state is None
    assert store.open_uploads() == 0


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_an_identical_object_is_kept_and_the_upload_made_for_it_dropped(
    store: CloudStore, size: int
) -> None:
    stale = _store_stale(store.sink, size, MemoryJournal())
    version = store.version(KEY)
    same = store.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    same.write(stale)
    assert same.commit().size == size
    assert store.version(KEY) == version  # not written again
    assert _read(store.sink) == stale
    assert store.open_uploads() == 0


def test_nothing_is_replaced_once_the_journal_refuses_the_fencing_write(
    store: CloudStore,
) -> None:
    stale = _store_stale(store.sink, LARGE, MemoryJournal())
    version = store.version(KEY)
    journal = _LeaseLostOnceCompleting()
    newer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    newer.write(os.urandom(LARGE))
    with pytest.raises(JournalRefused):
        newer.commit()
    assert store.version(KEY) == version
    assert _read(store.sink) == stale


def test_a_stale_blob_changed_since_it_was_examined_is_examined_again(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replace is conditional on the version examined: a store that saw another
    version refuses it (moto ignores If-Match on CompleteMultipartUpload: Azure only)."""
    if store.backend != "azure":
        pytest.skip("moto does not enforce If-Match on CompleteMultipartUpload")
    _store_stale(store.sink, LARGE, MemoryJournal())
    examined: list[str | None] = []
    look_up = AzureUpload._stored_version

    def first_one_outdated(writer: AzureUpload) -> str | None:
        version = look_up(writer)
        examined.append(version)
        return '"0x8DEADBEEF"' if len(examined) == 1 else version

    monkeypatch.setattr(AzureUpload, "_stored_version", first_one_outdated)
    data = os.urandom(LARGE)
    newer = store.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    newer.write(data)
    newer.commit()
    assert len(examined) == 2
    assert _read(store.sink) == data


def test_an_object_a_record_names_is_never_replaced(store: CloudStore) -> None:
    """Written without `replace_stale` (a journalled chunk's object, a manifest), other
    bytes under the key are corruption: DATA_LOSS, and the object stays as it is."""
    journal = _KilledBeforeForgetting()
    stale = _store_stale(store.sink, LARGE, journal)
    version = store.version(KEY)
    named = store.sink.create(KEY, overwrite=False, journal=MemoryJournal(journal.state))
    named.write(os.urandom(LARGE))
    with pytest.raises(IntegrityError) as refused:
        named.commit()
    assert isinstance(translate_storage_error(refused.value), DataLoss)
    assert store.version(KEY) == version
    assert _read(store.sink) == stale


def test_replacing_needs_a_journal_and_refused_overwrites(store: CloudStore) -> None:
    with pytest.raises(ValueError, match="replace_stale"):
        store.sink.create(KEY, overwrite=False, replace_stale=True)
    with pytest.raises(ValueError, match="replace_stale"):
        store.sink.create(KEY, overwrite=True, journal=MemoryJournal(), replace_stale=True)
