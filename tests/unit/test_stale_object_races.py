"""A stale object replaced while the export changes hands, against real servers (moto,
Azurite): a replica that lost the lease without knowing it, about to replace the version
it examined, never replaces what the lease's new holder kept and recorded; a replace's
retries are fenced one by one; an upload gone from the store fails a replace as
retryable; and the replace is conditional on the version examined in the very request."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient
from botocore.exceptions import ClientError

from sluice.server.errors import FailedPrecondition, LeaseLost, PermissionDenied, Unavailable
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks import (
    JournalRefused,
    ObjectExists,
    ObjectImmutable,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)
from sluice.sinks.azure.errors import IMMUTABLE_CODES, translate_azure_error
from sluice.sinks.azure.upload import AzureUpload
from sluice.sinks.profiles import S3Profile
from sluice.sinks.resumable import ResumableWriter
from sluice.sinks.s3.options import S3Location
from sluice.sinks.s3.sink import S3Sink
from sluice.sinks.s3.upload import S3Upload
from sluice.sinks.upload_state import UploadState
from tests.servers.fixtures import new_bucket, s3_client
from tests.servers.processes import ServerProcess
from tests.unit.cloud_stores import KEY, LARGE, PART, SMALL, CloudStore, cloud_store
from tests.unit.upload_journal import MemoryJournal


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloudStore:
    return cloud_store(str(request.param), request, monkeypatch)


class _Lease:
    """The export's lease and its upload journal in the job store, shared by replicas."""

    def __init__(self) -> None:
        self.holder = "A"
        self.state: str | None = None


class _ReplicaJournal:
    """One replica's view of the journal: its writes are refused once another replica
    holds the lease, though it never hears of that (handed_over stays False)."""

    def __init__(self, lease: _Lease, replica: str) -> None:
        self._lease = lease
        self._replica = replica

    def load(self) -> str | None:
        return self._lease.state

    def save(self, state: str) -> None:
        self._fence()
        self._lease.state = state

    def clear(self) -> None:
        self._fence()
        self._lease.state = None

    def _fence(self) -> None:
        if self._lease.holder != self._replica:
            lost = LeaseLost("the lease changed")
            raise JournalRefused(f"upload journal write refused: {lost}", reason=lost)

    def handed_over(self) -> bool:
        return False

    def wait_handed_over(self, timeout: float) -> bool:
        return False


def _upload_class(store: CloudStore) -> type[ResumableWriter]:
    return S3Upload if store.backend == "s3" else AzureUpload


def _store_stale(store: CloudStore, size: int) -> bytes:
    stale = os.urandom(size)
    older = store.sink.create(KEY, overwrite=False, journal=MemoryJournal())
    older.write(stale)
    older.commit()
    return stale


def _read(store: CloudStore) -> bytes:
    with store.sink.open(KEY) as handle:
        return handle.read()


def _before_each_replace(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch, step: Callable[[ResumableWriter], None]
) -> list[str]:
    """Have the store's uploads run `step` before each replace (a completion conditional
    on the version examined), which may raise in its stead; first completions are left
    alone. Returns the versions the replaces were conditional on, as they are tried."""
    upload = _upload_class(store)
    complete = upload._complete
    replaces: list[str] = []

    def step_then_complete(
        writer: ResumableWriter, state: UploadState, sha256_hex: str, replacing: str = ""
    ) -> None:
        if replacing:
            replaces.append(replacing)
            step(writer)
        complete(writer, state, sha256_hex, replacing)

    monkeypatch.setattr(upload, "_complete", step_then_complete)
    return replaces


def _replica_a_is_refused(store: CloudStore, lease: _Lease, size: int) -> None:
    """Replica A, unaware it may have lost the lease, writes `size` new bytes over the
    stale object: its commit must be refused by a journal write."""
    a = store.sink.create(
        KEY, overwrite=False, journal=_ReplicaJournal(lease, "A"), replace_stale=True
    )
    a.write(os.urandom(size))
    with pytest.raises(JournalRefused):
        a.commit()


def _the_next_attempt_replaces_it(store: CloudStore, journal: MemoryJournal) -> None:
    """The export's next attempt, resumed from `journal`, replaces what is under KEY."""
    data = os.urandom(LARGE)
    again = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    again.write(data)
    again.commit()
    assert _read(store) == data


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_replica_that_lost_the_lease_never_replaces_what_the_new_holder_kept(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A passed its fencing write and stalls before its replace (conditional on the
    version it examined); B takes the lease, produces the stale object's very bytes,
    keeps it and records the chunk. A's replace, when it wakes, must fail."""
    stale = _store_stale(store, size)
    lease = _Lease()
    kept_by_b: list[bytes] = []

    def b_keeps_it_meanwhile(writer: ResumableWriter) -> None:
        if lease.holder == "A":
            lease.holder = "B"
            b = store.sink.create(
                KEY, overwrite=False, journal=_ReplicaJournal(lease, "B"), replace_stale=True
            )
            b.write(stale)  # B's encoder is the one that wrote the stale object
            b.commit()
            kept_by_b.append(_read(store))

    _before_each_replace(store, monkeypatch, b_keeps_it_meanwhile)
    _replica_a_is_refused(store, lease, size)
    assert kept_by_b == [stale]
    assert _read(store) == stale
    assert lease.state is None  # B recorded the chunk and forgot its upload


def test_each_retry_of_a_replace_is_fenced_by_a_journal_write(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease is lost (unknown to the run) while the replace waits to be retried:
    the retry is refused by its journal write and never sent."""
    stale = _store_stale(store, LARGE)
    version = store.version(KEY)
    lease = _Lease()

    def fail_once(writer: ResumableWriter) -> None:
        if len(replaces) == 1:
            lease.holder = "B"  # taken over during the backoff that follows
            raise StorageUnavailable("connection reset", location=writer.location)

    replaces = _before_each_replace(store, monkeypatch, fail_once)
    _replica_a_is_refused(store, lease, LARGE)
    assert replaces == [version]
    assert store.version(KEY) == version
    assert _read(store) == stale


def test_an_upload_gone_during_a_replace_fails_it_as_retryable(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 discards an upload whose conditional completion met a concurrent write (409
    ConditionalRequestConflict), and answers NoSuchUpload from then on: every further
    replace would fail alike, so the attempt ends UNAVAILABLE, not DATA_LOSS; the next
    starts a fresh upload."""
    stale = _store_stale(store, LARGE)
    journal = MemoryJournal()
    with monkeypatch.context() as gone:
        replaces = _before_each_replace(store, gone, _upload_gone)
        writer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
        writer.write(os.urandom(LARGE))
        with pytest.raises(StorageUnavailable) as failed:
            writer.commit()
    assert len(replaces) == 1
    assert isinstance(translate_storage_error(failed.value), Unavailable)
    assert _read(store) == stale
    assert journal.state is None

    _the_next_attempt_replaces_it(store, journal)


def _upload_gone(writer: ResumableWriter) -> None:
    raise ObjectNotFound("NoSuchUpload", location=writer.location)


@pytest.mark.parametrize("replace_stale", [False, True])
def test_an_upload_gone_at_its_first_completion_fails_it_as_retryable(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch, replace_stale: bool
) -> None:
    """Another writer stored other bytes under the key meanwhile, and the upload is gone
    when it is first completed (NoSuchUpload: aborted by the lease's new holder, or by a
    lifecycle rule): no further attempt of it can succeed, but the export's next one
    can, so the attempt ends UNAVAILABLE, not NOT_FOUND. A writer that may not replace
    other bytes says so at once (the next attempt would meet them too)."""
    upload = _upload_class(store)
    complete = upload._complete
    other = os.urandom(LARGE)
    journal = MemoryJournal()
    writer = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=replace_stale)
    writer.write(os.urandom(LARGE))
    completions: list[str] = []

    def upload_gone(
        completing: ResumableWriter, state: UploadState, sha256_hex: str, replacing: str = ""
    ) -> None:
        if completing is not writer:  # the other writer's
            complete(completing, state, sha256_hex, replacing)
            return
        completions.append(replacing)
        _store_other(store, other)
        raise ObjectNotFound("NoSuchUpload", location=completing.location)

    monkeypatch.setattr(upload, "_complete", upload_gone)
    if not replace_stale:
        with pytest.raises(ObjectExists, match="already exists"):
            writer.commit()
        assert completions == [""]
        assert _read(store) == other
        assert journal.state is None
        return
    with pytest.raises(StorageUnavailable, match="upload is gone") as failed:
        writer.commit()
    assert completions == [""]
    assert isinstance(translate_storage_error(failed.value), Unavailable)
    assert _read(store) == other
    assert journal.state is None
    monkeypatch.setattr(upload, "_complete", complete)
    _the_next_attempt_replaces_it(store, journal)


@pytest.mark.parametrize("other_bytes", [False, True])
@pytest.mark.parametrize("replace_stale", [False, True])
def test_an_upload_gone_at_its_first_completion_for_a_lost_lease_is_left_to_the_new_holder(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch, replace_stale: bool, other_bytes: bool
) -> None:
    """The first completion finds the upload gone because the lease's new holder took it
    over, unknown to this run: before it could answer UNAVAILABLE (and clean up, which on
    Azure would drop the blocks the new holder stages on the blob), a journal write tells
    it the lease is lost, and it sends nothing more, not even an abort."""
    upload = _upload_class(store)
    complete = upload._complete
    lease = _Lease()
    aborts: list[str] = []
    writer = store.sink.create(
        KEY, overwrite=False, journal=_ReplicaJournal(lease, "A"), replace_stale=replace_stale
    )
    writer.write(os.urandom(LARGE))

    def taken_over(
        completing: ResumableWriter, state: UploadState, sha256_hex: str, replacing: str = ""
    ) -> None:
        if completing is not writer:  # the other writer's
            complete(completing, state, sha256_hex, replacing)
            return
        if other_bytes:
            _store_other(store, os.urandom(LARGE))
        lease.holder = "B"
        _upload_gone(completing)

    def abort_remote(aborting: ResumableWriter, state: UploadState) -> None:
        aborts.append(aborting.key)

    monkeypatch.setattr(upload, "_complete", taken_over)
    monkeypatch.setattr(upload, "abort_remote", abort_remote)
    with pytest.raises(JournalRefused):
        writer.commit()
    assert aborts == []


def test_an_upload_gone_for_a_lost_lease_is_left_to_the_new_holder(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload is gone because the lease's new holder took it over (and aborted it)
    unknown to this run: the run learns of it from a journal write, and then sends
    nothing more, not even an abort."""
    stale = _store_stale(store, LARGE)
    lease = _Lease()
    aborts: list[str] = []

    def taken_over(writer: ResumableWriter) -> None:
        lease.holder = "B"
        _upload_gone(writer)

    def abort_remote(writer: ResumableWriter, state: UploadState) -> None:
        aborts.append(writer.key)

    _before_each_replace(store, monkeypatch, taken_over)
    monkeypatch.setattr(_upload_class(store), "abort_remote", abort_remote)
    _replica_a_is_refused(store, lease, LARGE)
    assert aborts == []
    assert _read(store) == stale


@pytest.mark.parametrize("later_replace_stale", [False, True])
def test_a_small_object_once_replaced_matches_a_later_writer_of_the_same_bytes(
    store: CloudStore, later_replace_stale: bool
) -> None:
    """Replaced by a one-part upload (S3 reports the digest of the part's digest, "-1"),
    then met by a writer that puts the same bytes whole: identical, so kept."""
    _store_stale(store, SMALL)
    data = os.urandom(SMALL)
    newer = store.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    newer.write(data)
    newer.commit()
    version = store.version(KEY)
    later = store.sink.create(
        KEY, overwrite=False, journal=MemoryJournal(), replace_stale=later_replace_stale
    )
    later.write(data)
    assert later.commit().size == SMALL
    assert _read(store) == data
    if store.backend == "s3" or not later_replace_stale:
        assert store.version(KEY) == version  # not even touched


def test_an_s3_replace_is_conditional_on_the_version_examined(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto ignores If-Match on CompleteMultipartUpload, so the request itself is read:
    the one completion (the object was found before uploading) names the ETag examined."""
    client = s3_client(moto_server.endpoint)
    bucket = new_bucket(moto_server.endpoint)
    completions: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.s3.CompleteMultipartUpload",
        lambda params, **_: completions.append(dict(params)),
    )
    profile = S3Profile(part_size=PART)
    sink = S3Sink(S3Location.parse(f"s3://{bucket}/p"), profile, client)
    older = sink.create(KEY, overwrite=False, journal=MemoryJournal())
    older.write(os.urandom(LARGE))
    older.commit()
    version = client.head_object(Bucket=bucket, Key=f"p/{KEY}")["ETag"]
    completions.clear()

    newer = sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    newer.write(os.urandom(LARGE))
    newer.commit()
    conditions = [
        {name: value for name, value in params.items() if name in ("IfMatch", "IfNoneMatch")}
        for params in completions
    ]
    assert conditions == [{"IfMatch": version}]


@pytest.mark.parametrize("abort", ["refused", "done"])
def test_s3_keeps_an_identical_object_only_once_the_upload_the_journal_named_is_gone(
    store: CloudStore, monkeypatch: pytest.MonkeyPatch, abort: str
) -> None:
    """S3's ETag cannot be made stale: a previous holder's replace fails only because
    its upload, which the journal names and the keeping writer continued, is aborted.
    An abort that fails fails the attempt (retryable), not the chunk kept unguarded."""
    if store.backend != "s3":
        pytest.skip("Azure stages blocks on the blob itself: no upload to abort")
    journal = MemoryJournal()
    previous = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    previous.write(os.urandom(LARGE))
    previous.suspend()  # its parts stored, its upload journalled and left open
    stale = _store_stale(store, LARGE)
    assert store.open_uploads() == 1
    if abort == "refused":

        def refused(writer: S3Upload, state: UploadState) -> None:
            raise StorageError("abort refused", location=writer.location)

        monkeypatch.setattr(S3Upload, "abort_remote", refused)
    keeper = store.sink.create(
        KEY, overwrite=False, journal=MemoryJournal(journal.state), replace_stale=True
    )
    keeper.write(stale)
    if abort == "refused":
        with pytest.raises(StorageUnavailable, match="could not be aborted"):
            keeper.commit()
        assert store.open_uploads() == 1
    else:
        assert keeper.commit().size == LARGE
        assert store.open_uploads() == 0
    assert _read(store) == stale


@pytest.fixture
def azure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloudStore:
    return cloud_store("azure", request, monkeypatch)


def test_an_azure_keep_is_conditional_on_the_version_examined(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B examined the stale blob and found its own bytes; A's replace lands before B's
    metadata write. B must not stamp its digest on A's bytes: it examines them again
    and replaces them."""
    stale = _store_stale(azure, LARGE)
    make_stale = AzureUpload._make_stale
    replaced_by_a: list[bytes] = []

    def a_replaces_first(writer: AzureUpload, version: str) -> None:
        if not replaced_by_a:
            replaced_by_a.append(os.urandom(LARGE))
            a = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
            a.write(replaced_by_a[0])
            a.commit()
        make_stale(writer, version)

    monkeypatch.setattr(AzureUpload, "_make_stale", a_replaces_first)
    b = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    b.write(stale)
    assert b.commit().size == LARGE
    assert len(replaced_by_a) == 1
    assert _read(azure) == stale


def _immutable(code: str) -> ResourceExistsError:
    refused = ResourceExistsError("This operation is not permitted as the blob is immutable.")
    refused.status_code = 409
    refused.error_code = code
    return refused


@pytest.mark.parametrize("code", ["BlobImmutableDueToPolicy", "BlobImmutableDueToLegalHold"])
def test_an_immutable_blob_refusing_any_request_is_told_apart_by_the_error_table(
    code: str,
) -> None:
    """The 409 is not a changed version (ObjectExists): whatever request meets it, the
    table says so, and the run ends with FAILED_PRECONDITION."""
    where = "az://account/container/prefix/part-000000.parquet"
    error = translate_azure_error(_immutable(code), "remove", where, "container")
    assert type(error) is ObjectImmutable
    assert str(error) == f"cannot remove {where!r}: {code}"
    assert isinstance(translate_storage_error(error), FailedPrecondition)
    assert code in IMMUTABLE_CODES  # the codes the tests below are run with


@pytest.mark.parametrize("code", sorted(IMMUTABLE_CODES))
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_an_identical_immutable_blob_is_kept_without_its_metadata_written(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch, code: str, size: int
) -> None:
    """A container under a retention policy or legal hold refuses Set Blob Metadata: the
    blob, which no one can replace, is kept as it is (the run resumed after the chunk
    was completed but never recorded must not fail for good)."""
    stale = _store_stale(azure, size)
    version = azure.version(KEY)
    refused: list[str] = []

    def immutable(blob: BlobClient, *args: object, **kwargs: object) -> None:
        refused.append(str(kwargs.get("etag")))
        raise _immutable(code)

    monkeypatch.setattr(BlobClient, "set_blob_metadata", immutable)
    again = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    again.write(stale)
    assert again.commit().size == size
    assert refused == [version]
    assert azure.version(KEY) == version
    assert _read(azure) == stale


@pytest.mark.parametrize("replace_stale", [False, True])
def test_an_identical_blob_a_first_commit_finds_on_an_immutable_container_is_kept(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch, replace_stale: bool
) -> None:
    """Only a replace is refused as immutable: a first (unconditional) commit that meets
    the same bytes stored meanwhile (a duplicate run) under a legal hold keeps them."""
    data = os.urandom(LARGE)
    writer = azure.sink.create(
        KEY, overwrite=False, journal=MemoryJournal(), replace_stale=replace_stale
    )
    writer.write(data)
    commit_block_list = BlobClient.commit_block_list

    def duplicate_then_immutable(blob: BlobClient, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("etag"):  # a replace: left to the store
            return commit_block_list(blob, *args, **kwargs)
        monkeypatch.setattr(BlobClient, "commit_block_list", commit_block_list)
        duplicate = azure.sink.create(KEY, overwrite=True, journal=None)
        duplicate.write(data)
        duplicate.commit()
        raise _immutable("BlobImmutableDueToLegalHold")

    monkeypatch.setattr(BlobClient, "commit_block_list", duplicate_then_immutable)
    assert writer.commit().size == LARGE
    assert _read(azure) == data


def test_a_block_staged_on_an_immutable_blob_there_finds_it_there(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that may not replace (a manifest, a chunk not known stale) whose block is
    refused because an immutable blob is there meets a blob found there: ObjectExists,
    which the manifest writer answers by comparing manifests, not FAILED_PRECONDITION."""

    def immutable(blob: BlobClient, *args: Any, **kwargs: Any) -> Any:
        raise _immutable("BlobImmutableDueToPolicy")

    monkeypatch.setattr(BlobClient, "stage_block", immutable)
    writer = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal())
    with pytest.raises(ObjectExists):
        writer.write(os.urandom(LARGE))
        writer.commit()
    writer.abort()


def test_an_immutable_blob_changed_since_it_was_examined_is_examined_again(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused as immutable, the blob is kept only while it is still the version whose
    bytes were compared: one replaced in between (other bytes) is replaced in turn."""
    stale = _store_stale(azure, LARGE)
    refused: list[str] = []

    def replaced_then_immutable(blob: BlobClient, *args: object, **kwargs: object) -> None:
        refused.append(str(kwargs.get("etag")))
        if len(refused) == 1:
            _store_other(azure, os.urandom(LARGE))
        raise _immutable("BlobImmutableDueToPolicy")

    monkeypatch.setattr(BlobClient, "set_blob_metadata", replaced_then_immutable)
    again = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    again.write(stale)
    assert again.commit().size == LARGE
    assert len(refused) == 1  # examined again: other bytes, replaced rather than kept
    assert _read(azure) == stale


@pytest.mark.parametrize("code", sorted(IMMUTABLE_CODES))
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_stale_blob_an_immutability_policy_protects_fails_the_replace_once_saying_why(
    azure: CloudStore, monkeypatch: pytest.MonkeyPatch, code: str, size: int
) -> None:
    """A container under a retention policy or legal hold refuses the conditional commit
    that replaces a stale blob (other bytes) with a 409 no attempt overcomes: one
    attempt, then FAILED_PRECONDITION naming the policy, not DATA_LOSS after three."""
    stale = _store_stale(azure, size)
    commit_block_list = BlobClient.commit_block_list
    replaces: list[str] = []

    def immutable(blob: BlobClient, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("etag"):  # conditional on the version examined: a replace
            replaces.append(str(kwargs["etag"]))
            raise _immutable(code)
        return commit_block_list(blob, *args, **kwargs)

    monkeypatch.setattr(BlobClient, "commit_block_list", immutable)
    again = azure.sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    with pytest.raises(ObjectImmutable) as refused:
        again.write(os.urandom(size))
        again.commit()
    assert replaces == [azure.version(KEY)]
    assert "immutability policy or a legal hold" in str(refused.value)
    assert isinstance(translate_storage_error(refused.value), FailedPrecondition)
    assert _read(azure) == stale


def _store_other(store: CloudStore, data: bytes) -> None:
    other = store.sink.create(KEY, overwrite=True, journal=None)
    other.write(data)
    other.commit()


@pytest.mark.parametrize("journalled_part_size", [PART, 2 * PART])
def test_an_abort_refused_for_lack_of_permission_fails_the_keep_and_says_why(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, journalled_part_size: int
) -> None:
    """The upload the journal names must be gone before an identical object is kept,
    whether continued (same part size) or not (another part size: aborted at once). An
    abort the store refuses fails the attempt as PERMISSION_DENIED (no retry overcomes
    it), naming the refusal; the next attempt, allowed to, aborts it and keeps the
    object."""
    store = cloud_store("s3", request, monkeypatch)
    previous_journal = MemoryJournal()
    previous = store.sink.create(KEY, overwrite=False, journal=previous_journal, replace_stale=True)
    previous.write(os.urandom(LARGE))
    previous.suspend()  # its upload journalled and left open
    assert previous_journal.state is not None
    state = UploadState.from_json(previous_journal.state)
    state.part_size = journalled_part_size
    journal = MemoryJournal(state.to_json())
    stale = _store_stale(store, LARGE)
    abort_remote = S3Upload.abort_remote

    def denied(writer: S3Upload, state: UploadState) -> None:
        def refuse() -> None:
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError(error, "AbortMultipartUpload")  # type: ignore[arg-type]

        writer._s3.call("abort the upload of", writer.key, refuse)

    monkeypatch.setattr(S3Upload, "abort_remote", denied)
    keeper = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    with pytest.raises(StorageAccessDenied, match="could not be aborted") as failed:
        keeper.write(stale)
        keeper.commit()
    assert "denied (AccessDenied)" in str(failed.value)
    assert "allow the storage profile to abort uploads" in str(failed.value)
    assert isinstance(translate_storage_error(failed.value), PermissionDenied)
    assert store.open_uploads() == 1

    monkeypatch.setattr(S3Upload, "abort_remote", abort_remote)
    again = store.sink.create(KEY, overwrite=False, journal=journal, replace_stale=True)
    again.write(stale)
    assert again.commit().size == LARGE
    assert store.open_uploads() == 0
    assert _read(store) == stale


def test_an_s3_store_keeping_no_checksums_matches_a_one_part_upload_by_its_etag(
    moto_server: ServerProcess,
) -> None:
    """Without checksums the ETag decides. A small object replaced is a one-part upload
    (ETag: MD5 of the part's MD5, "-1"), which matches its bytes as a PutObject would."""
    client = s3_client(moto_server.endpoint)
    bucket = new_bucket(moto_server.endpoint)

    def keep_no_checksums(parsed: dict[str, Any], **_: object) -> None:
        parsed.pop("ChecksumSHA256", None)

    client.meta.events.register("after-call.s3.HeadObject", keep_no_checksums)
    sink = S3Sink(S3Location.parse(f"s3://{bucket}/p"), S3Profile(part_size=PART), client)
    older = sink.create(KEY, overwrite=False, journal=MemoryJournal())
    older.write(os.urandom(SMALL))
    older.commit()
    data = os.urandom(SMALL)
    newer = sink.create(KEY, overwrite=False, journal=MemoryJournal(), replace_stale=True)
    newer.write(data)
    assert newer.commit().size == SMALL
    etag = str(client.head_object(Bucket=bucket, Key=f"p/{KEY}")["ETag"]).strip('"')
    assert etag.endswith("-1")
    later = sink.create(KEY, overwrite=False, journal=MemoryJournal())
    later.write(data)
    assert later.commit().size == SMALL
    assert client.get_object(Bucket=bucket, Key=f"p/{KEY}")["Body"].read() == data
