"""Stale objects against real servers (moto, Azurite): an object a killed run completed
but never recorded, with other bytes than the next run produces (an upgrade between the
two). A writer told `replace_stale` replaces it, only after a journal write the lease
fences and only while it is the version examined; one with the same bytes is kept; and
an object a record names (written without `replace_stale`) is never replaced: other
bytes there are corruption, DATA_LOSS. An object found before uploading (looked up, or
left `completing` by the journal) is verified without sending a part, the parts kept on
local disk meanwhile and uploaded only when the stored bytes differ."""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sluice.server.errors import DataLoss
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks import IntegrityError, JournalRefused, Sink, StorageError, part_spool
from sluice.sinks.azure.upload import AzureUpload
from sluice.sinks.s3.upload import S3Upload
from sluice.sinks.upload_state import UploadState
from tests.unit.cloud_stores import KEY, LARGE, PART, SMALL, CloudStore, cloud_store
from tests.unit.upload_journal import MemoryJournal


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


def _assert_kept(store: CloudStore, version: str) -> None:
    """The object found was kept, not written again. S3's ETag is a digest of the bytes,
    so it stays; Azure's is made stale by writing the same metadata (see stale_objects),
    so that a replace a previous holder aimed at the version examined fails."""
    if store.backend == "s3":
        assert store.version(KEY) == version
    else:
        assert store.version(KEY) != version


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
    _assert_kept(store, version)
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


def _open_under(folder: Path) -> list[str]:
    """Files this process holds open under `folder`, unnamed ones (O_TMPFILE) included:
    /proc names them by their folder."""
    opened = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed since it was listed
        if target.startswith(f"{folder}/"):
            opened.append(target)
    return opened


@dataclass
class _PartsSent:
    """The parts writers sent to the store (UploadPart, Put Block), by size, and whether
    a file in the temporary folder was open as each was sent."""

    temporary: Path
    sizes: list[int] = field(default_factory=list)
    from_local_disk: list[bool] = field(default_factory=list)
    #: Uploads begun (S3 CreateMultipartUpload; Azure stages on the blob, asks nothing).
    started: list[str] = field(default_factory=list)

    def left_behind(self) -> list[str]:
        return _open_under(self.temporary) + os.listdir(self.temporary)


@pytest.fixture
def sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _PartsSent:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    record = _PartsSent(temporary)
    for upload in (S3Upload, AzureUpload):

        def counted(writer: Any, *args: Any, _send: Any = upload._send_part) -> str:
            _state, _number, payload, _sha256 = args
            record.sizes.append(len(payload))
            record.from_local_disk.append(bool(_open_under(temporary)))
            return str(_send(writer, *args))

        def started(writer: Any, _start: Any = upload._start) -> str:
            record.started.append(writer.key)
            return str(_start(writer))

        monkeypatch.setattr(upload, "_send_part", counted)
        monkeypatch.setattr(upload, "_start", started)
    return record


def _left_by_killed_run(store: CloudStore, left: str, sent: _PartsSent) -> tuple[bytes, str]:
    """The killed run's object (LARGE bytes, in parts) and the journal state it left."""
    journal = _KilledBeforeForgetting() if left == "journal completing" else MemoryJournal()
    stale = _store_stale(store.sink, LARGE, journal)
    assert (journal.state is not None) == (left == "journal completing")
    sent.sizes.clear()
    sent.from_local_disk.clear()
    sent.started.clear()
    return stale, journal.state or ""


def _next_run_commits(store: CloudStore, state: str, data: bytes) -> MemoryJournal:
    """The next run, resumed from the journal `state` the killed run left ("" for none),
    writes `data` (LARGE bytes) under KEY with `replace_stale` and commits it."""
    journal = MemoryJournal(state or None)
    writer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    writer.write(data)
    assert writer.commit().size == LARGE
    return journal


FOUND = ["no journal", "journal completing"]


@pytest.mark.parametrize("left", FOUND)
def test_an_identical_object_found_before_uploading_is_verified_without_sending_a_part(
    store: CloudStore, sent: _PartsSent, left: str
) -> None:
    stale, state = _left_by_killed_run(store, left, sent)
    version = store.version(KEY)
    journal = _next_run_commits(store, state, stale)
    assert sent.sizes == sent.started == []
    _assert_kept(store, version)
    assert _read(store.sink) == stale
    assert journal.state is None
    assert store.open_uploads() == 0
    assert sent.left_behind() == []


@pytest.mark.parametrize("left", FOUND)
def test_a_stale_object_found_before_uploading_is_replaced_from_parts_kept_on_local_disk(
    store: CloudStore, sent: _PartsSent, left: str
) -> None:
    stale, state = _left_by_killed_run(store, left, sent)
    version = store.version(KEY)
    data = os.urandom(LARGE)
    journal = _next_run_commits(store, state, data)
    assert _read(store.sink) == data != stale
    assert store.version(KEY) != version
    # Each part sent once, all after the verification, read back from local disk.
    assert sorted(sent.sizes) == [10, PART, PART]
    assert sent.from_local_disk == [True] * 3
    assert sent.left_behind() == []
    assert journal.state is None
    assert store.open_uploads() == 0


@pytest.mark.parametrize("stop", ["fence refused", "abort", "suspend"])
def test_parts_kept_on_local_disk_are_removed_however_the_writer_ends(
    store: CloudStore, sent: _PartsSent, stop: str
) -> None:
    stale, _ = _left_by_killed_run(store, "no journal", sent)
    version = store.version(KEY)
    journal = _LeaseLostOnceCompleting() if stop == "fence refused" else MemoryJournal()
    newer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    if stop == "fence refused":
        newer.write(os.urandom(LARGE))
        with pytest.raises(JournalRefused):
            newer.commit()
    else:
        newer.write(os.urandom(PART + 5))  # one part verified and kept, 5 bytes buffered
        assert _open_under(sent.temporary) != []
        newer.abort() if stop == "abort" else newer.suspend()
        assert sent.sizes == []
    assert sent.left_behind() == []
    assert store.version(KEY) == version
    assert _read(store.sink) == stale


class _FullDisk:
    """A temporary file on a disk with no room left."""

    def write(self, payload: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("other_bytes", [False, True])
def test_a_full_local_disk_fails_only_a_replace_and_transiently(
    store: CloudStore, sent: _PartsSent, monkeypatch: pytest.MonkeyPatch, other_bytes: bool
) -> None:
    """Nothing to replace from, but nothing to replace either when the object is
    identical; with other bytes the attempt fails as retryable, the object untouched."""
    stale, _ = _left_by_killed_run(store, "no journal", sent)
    version = store.version(KEY)
    monkeypatch.setattr(part_spool.tempfile, "TemporaryFile", lambda **_: _FullDisk())
    writer = store.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    writer.write(os.urandom(LARGE) if other_bytes else stale)
    if other_bytes:
        with pytest.raises(StorageError) as failed:
            writer.commit()
        assert failed.value.transient
        assert "local disk" in str(failed.value)
    else:
        assert writer.commit().size == LARGE
    assert sent.sizes == sent.started == []
    if other_bytes:
        assert store.version(KEY) == version
    else:
        _assert_kept(store, version)
    assert _read(store.sink) == stale
    assert store.open_uploads() == 0
