"""An Azure upload aborted before it was ever committed leaves no blob behind, against
Azurite: on a container under an immutability policy (which Azurite does not enforce, so a
policy-refusing wrapper stands around the Azure client's write requests) a blob created by
the abort could never be deleted, and the export's next attempt could not replace it.

What an abort leaves are uncommitted blocks, never part of a blob: the next commit of the
key (its own blocks, or one Put Blob) discards them, and a resumed upload recognises its
own blocks (journalled or not) among others of the same number."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient, ContainerClient

from sluice.server.errors import FailedPrecondition
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks import ObjectExists, Sink, open_sink
from sluice.sinks.azure.upload import block_id
from sluice.sinks.errors import StorageError
from sluice.sinks.profiles import AzureProfile
from sluice.sinks.resumable import ResumableWriter
from tests.servers.fixtures import blob_service, new_container
from tests.servers.processes import ServerProcess, azurite_connection_string
from tests.unit.upload_journal import MemoryJournal

PART = 5 * 1024 * 1024
KEY = "events/exp/part-000001.parquet"
SMALL = 1_000
LARGE = 2 * PART + 10


@dataclass
class Azure:
    sink: Sink
    container: ContainerClient

    def blob(self, key: str = KEY) -> BlobClient:
        return self.container.get_blob_client(f"p/{key}")

    def read(self, key: str = KEY) -> bytes:
        return bytes(self.blob(key).download_blob().readall())

    def blobs(self) -> list[str]:
        return [str(b.name) for b in self.container.list_blobs()]

    def blocks(self, key: str = KEY) -> tuple[list[str], list[str]]:
        """The committed and the uncommitted block ids of the blob."""
        committed, uncommitted = self.blob(key).get_block_list("all")
        return [str(b.id) for b in committed], [str(b.id) for b in uncommitted]


@pytest.fixture
def azure(azurite_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Azure:
    monkeypatch.setenv("T_ABORT_AZURE", azurite_connection_string(azurite_server.endpoint))
    profile = AzureProfile(connection_string_ref="env:T_ABORT_AZURE", part_size=PART)
    name = new_container(azurite_server.endpoint)
    return Azure(
        open_sink(f"az://{name}/p", profile=profile),
        blob_service(azurite_server.endpoint).get_container_client(name),
    )


@dataclass
class WriteOncePolicy:
    """A container-level time-based retention policy, as Azure enforces it: a blob may be
    created, but once committed it may be neither overwritten, modified nor deleted. It
    wraps the Azure client's write requests only; what it refused is kept."""

    refused: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "upload_blob",
            "stage_block",
            "commit_block_list",
            "set_blob_metadata",
            "delete_blob",
        ):
            monkeypatch.setattr(BlobClient, name, self._guard(name, getattr(BlobClient, name)))

    def _guard(self, name: str, request: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(blob: BlobClient, *args: Any, **kwargs: Any) -> Any:
            if blob.exists():  # a committed blob: immutable until the policy expires
                self.refused.append(f"{name} {blob.blob_name}")
                refused = ResourceExistsError(
                    "This operation is not permitted as the blob is immutable due to a policy."
                )
                refused.status_code = 409
                refused.error_code = "BlobImmutableDueToPolicy"
                raise refused
            return request(blob, *args, **kwargs)

        return guarded


@pytest.fixture
def write_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteOncePolicy]:
    policy = WriteOncePolicy()
    policy.install(monkeypatch)
    yield policy


def _abort_by_writer(azure: Azure) -> None:
    journal = MemoryJournal()
    writer = azure.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    writer.write(os.urandom(LARGE))  # two blocks staged
    writer.abort()
    assert journal.state is None  # nothing left for a later attempt to continue


def _abort_by_the_sweep(azure: Azure) -> None:
    """A failed export's final sweep aborts the upload its journal names."""
    journal = MemoryJournal()
    writer = azure.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    writer.write(os.urandom(LARGE))
    writer.suspend()
    assert journal.state is not None
    azure.sink.abort_upload(KEY, journal.state)
    azure.sink.abort_upload(KEY, journal.state)  # twice: still nothing


@pytest.mark.parametrize("abort", [_abort_by_writer, _abort_by_the_sweep])
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_an_upload_aborted_before_its_commit_leaves_no_blob_the_next_attempt_must_replace(
    azure: Azure,
    write_once: WriteOncePolicy,
    abort: Callable[[Azure], None],
    size: int,
) -> None:
    """Aborting commits nothing, so nothing is created that a write-once container would
    keep; the next attempt (other bytes, as an encrypted chunk's fresh keys make) writes
    the blob as a first write, and its commit discards the blocks the abort left."""
    abort(azure)
    assert azure.blobs() == []
    assert not azure.blob().exists()
    assert azure.blocks()[0] == []  # staged blocks only: no blob
    assert write_once.refused == []

    data = os.urandom(size)
    again = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    again.write(data)
    assert again.commit().size == size
    assert azure.read() == data
    assert azure.blocks()[1] == []  # the blocks the abort left are gone
    assert write_once.refused == []
    assert azure.blobs() == [f"p/{KEY}"]


@pytest.mark.parametrize("size", [0, SMALL])
def test_a_small_object_stored_over_blocks_an_abort_left_is_the_blob_a_put_blob_makes(
    azure: Azure, size: int
) -> None:
    """Azurite refuses a Put Blob that must not overwrite while blocks are staged on the
    blob; the same blob (bytes, digest metadata, Content-MD5, content type) is then
    committed as one block. A blob really there is still refused, its bytes kept."""
    data = os.urandom(size)
    plain = azure.sink.create("plain", overwrite=False, journal=MemoryJournal())
    plain.write(data)
    plain.commit()
    _abort_by_writer(azure)
    assert azure.blocks()[1]  # blocks left staged
    after = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal())
    after.write(data)
    assert after.commit().size == size
    assert azure.read() == data
    # No empty block, which Azure refuses (Azurite takes it: Azure/Azurite#329).
    assert azure.blocks() == ([block_id(1, hashlib.sha256(data).hexdigest())] if size else [], [])
    stored, expected = azure.blob().get_blob_properties(), azure.blob("plain").get_blob_properties()
    assert (
        stored.metadata == expected.metadata == {"sluice_sha256": hashlib.sha256(data).hexdigest()}
    )
    assert stored.content_settings.content_md5 == expected.content_settings.content_md5
    assert bytes(stored.content_settings.content_md5) == hashlib.md5(data).digest()
    assert stored.content_settings.content_type == expected.content_settings.content_type

    other = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal())
    other.write(os.urandom(SMALL))
    with pytest.raises(ObjectExists):
        other.commit()
    assert azure.read() == data


def test_a_resumed_upload_keeps_its_journalled_blocks_over_others_of_the_same_number(
    azure: Azure,
) -> None:
    """A holder killed after two journalled blocks; another writer of the key (other
    bytes: an encrypted chunk's fresh keys) staged blocks of the same numbers after it and
    aborted, which leaves them. The resumed upload recognises its own two blocks, sends
    only the rest, and stores exactly its bytes."""
    data = os.urandom(LARGE)
    journal = MemoryJournal()
    killed = azure.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    killed.write(data[: 2 * PART])  # two blocks staged and journalled, then killed
    _abort_another_writer_of_two_parts(azure)
    _resume_sending_only_the_rest(azure, journal, data)


def test_a_resumed_upload_recognises_its_unjournalled_block_beside_another_of_the_same_number(
    azure: Azure,
) -> None:
    """A holder killed between staging its second block and journalling it; another
    writer of the key (other bytes) staged blocks of the same numbers after it and
    aborted. The resumed upload finds its own second block among both by its id, and
    sends only the rest."""
    data = os.urandom(LARGE)
    journal = MemoryJournal()
    killed = azure.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    killed.write(data[:PART])  # block 1 staged and journalled
    second = data[PART : 2 * PART]  # block 2 staged, then killed before journalling it
    azure.blob().stage_block(block_id(2, hashlib.sha256(second).hexdigest()), second)
    _abort_another_writer_of_two_parts(azure)
    _resume_sending_only_the_rest(azure, journal, data)


def _abort_another_writer_of_two_parts(azure: Azure) -> None:
    """Another writer of the key stages two blocks of other bytes (the same numbers as
    the killed holder's) and aborts, which leaves them."""
    other = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    other.write(os.urandom(2 * PART))
    other.abort()
    assert len(azure.blocks()[1]) == 4


def _resume_sending_only_the_rest(azure: Azure, journal: MemoryJournal, data: bytes) -> None:
    """The killed holder's upload, resumed from `journal`: its two blocks are found, only
    the rest is sent, and the blob is exactly `data` with no block left uncommitted."""
    resumed = azure.sink.create(
        KEY, overwrite=False, journal=MemoryJournal(journal.state), replace_stale=True
    )
    assert isinstance(resumed, ResumableWriter)
    resumed.write(data)
    assert resumed.commit().size == LARGE
    assert (resumed.skipped_bytes, resumed.sent_bytes) == (2 * PART, 10)
    assert azure.read() == data
    assert azure.blocks()[1] == []


def test_an_empty_object_replacing_a_stale_one_is_an_empty_block_list_committed(
    azure: Azure,
) -> None:
    """A stale blob with other bytes replaced by an empty object: Azure refuses an empty
    Put Block (Azurite takes it: Azure/Azurite#329), so no block is staged or committed,
    and the blob is empty with the empty object's digest."""
    azure.blob().upload_blob(b"stale bytes no record names")
    writer = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    assert writer.commit().size == 0
    assert azure.read() == b""
    assert azure.blocks() == ([], [])
    assert azure.blob().get_blob_properties().metadata == {
        "sluice_sha256": hashlib.sha256(b"").hexdigest()
    }


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_blocks_left_with_ids_of_another_length_are_named_as_the_cause(
    azure: Azure, size: int
) -> None:
    """Azure (and Azurite) refuse a block whose id length differs from the blocks staged
    on the blob (InvalidBlobOrBlock): the error says so, not merely the code, and the run
    ends with FAILED_PRECONDITION (no attempt succeeds until they are gone). The SMALL
    case reaches a staged block only because Azurite refuses a create-only Put Blob over
    staged blocks (the writer's fallback then stages one); real Azure would most likely
    take the Put Blob and discard the foreign block."""
    # Left by another tool (or another block id scheme): an id of another length.
    azure.blob().stage_block(base64.b64encode(b"000001").decode(), b"foreign")
    writer = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    with pytest.raises(StorageError) as refused:
        writer.write(os.urandom(size))
        writer.commit()
    assert type(refused.value) is StorageError
    assert "InvalidBlobOrBlock" in str(refused.value)
    assert "ids have another length" in str(refused.value)
    assert isinstance(translate_storage_error(refused.value), FailedPrecondition)
    assert azure.blobs() == []


@pytest.mark.parametrize(
    "code",
    # Put Block's documentation names the first, the error code table the second.
    ["RequestEntityTooLargeBlockCountExceedsLimit", "BlockCountExceedsLimit"],
)
def test_too_many_uncommitted_blocks_are_not_a_blob_found_there(
    azure: Azure, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """Azure refuses a Put Block past 100,000 uncommitted blocks with a 409 (which Azurite
    does not enforce, so a wrapper refuses the request as Azure does): not ObjectExists,
    which would send the writer to examine a blob that is not there."""

    def over_the_limit(blob: BlobClient, *args: Any, **kwargs: Any) -> Any:
        refused = ResourceExistsError(
            "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks."
        )
        refused.status_code = 409
        refused.error_code = code
        raise refused

    monkeypatch.setattr(BlobClient, "stage_block", over_the_limit)
    writer = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    with pytest.raises(StorageError) as refused:
        writer.write(os.urandom(LARGE))
    assert type(refused.value) is StorageError
    assert code in str(refused.value)
    assert "100,000" in str(refused.value)
    assert isinstance(translate_storage_error(refused.value), FailedPrecondition)
    assert azure.blobs() == []
