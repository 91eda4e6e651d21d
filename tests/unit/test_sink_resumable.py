"""Resumable uploads against real servers (moto, Azurite): a new writer continues a
journalled upload and skips the parts the store already holds; duplicate runs neither
overwrite nor fail; retried part requests re-send the same bytes; profiles keep secrets
out of sight."""

from __future__ import annotations

import json
import os
import random
import threading
import time

import pytest

from sluice.sinks import (
    ObjectExists,
    RetryingSink,
    RetryPolicy,
    Sink,
    StorageUnavailable,
    open_sink,
)
from sluice.sinks.azure import AzureLocation, AzureSink
from sluice.sinks.azure.upload import AzureUpload
from sluice.sinks.profiles import AzureProfile, S3Profile
from sluice.sinks.resumable import ResumableWriter
from sluice.sinks.s3 import S3Location, S3Sink
from sluice.sinks.s3.upload import S3Upload
from sluice.sinks.upload_state import UploadState
from tests.servers.fault_proxy import FaultPlan, FaultProxy
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, new_container, s3_client
from tests.servers.processes import ServerProcess, azurite_connection_string
from tests.unit.upload_journal import MemoryJournal

MiB = 1024 * 1024
PART = 5 * MiB


def _s3_sink(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, bucket: str, concurrency: int = 1
) -> Sink:
    monkeypatch.setenv("T_S3_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_S3_SECRET", MOTO_SECRET)
    profile = S3Profile(
        endpoint_url=endpoint,
        access_key_id_ref="env:T_S3_KEY",
        secret_access_key_ref="env:T_S3_SECRET",
        part_size=PART,
        upload_concurrency=concurrency,
    )
    return open_sink(f"s3://{bucket}/p", profile=profile)


@pytest.fixture(params=["s3", "azure"])
def cloud_sink(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Sink:
    if request.param == "s3":
        server: ServerProcess = request.getfixturevalue("moto_server")
        return _s3_sink(server.endpoint, monkeypatch, new_bucket(server.endpoint))
    server = request.getfixturevalue("azurite_server")
    monkeypatch.setenv("T_AZURE", azurite_connection_string(server.endpoint))
    profile = AzureProfile(connection_string_ref="env:T_AZURE", part_size=PART)
    return open_sink(f"az://{new_container(server.endpoint)}/p", profile=profile)


def _payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("stop", ["crash", "suspend"])
def test_a_new_writer_continues_the_journalled_upload(cloud_sink: Sink, stop: str) -> None:
    """After a crash (the writer just vanishes) or a graceful shutdown (suspend: stored
    parts stay open and journalled, the buffered tail is dropped) the next writer sends
    only what was not stored."""
    data = _payload(3 * PART + 12345)
    journal = MemoryJournal()
    stopped = cloud_sink.create("k", overwrite=False, journal=journal)
    stopped.write(data[: 2 * PART + 100])  # two parts stored, 100 bytes buffered
    if stop == "suspend":
        stopped.suspend()
        stopped.suspend()
        stopped.abort()  # a finished writer ignores it: the upload must survive
        assert [info.key for info in cloud_sink.list()] == []
    state = UploadState.from_json(journal.state or "")
    assert [part.number for part in state.parts] == [1, 2]
    assert all(part.size == PART and len(part.sha256) == 64 for part in state.parts)

    resumed = cloud_sink.create("k", overwrite=False, journal=journal)
    for start in range(0, len(data), 777_777):
        resumed.write(data[start : start + 777_777])
    assert resumed.commit().size == len(data)
    assert getattr(resumed, "skipped_bytes", None) == 2 * PART
    assert getattr(resumed, "sent_bytes", None) == len(data) - 2 * PART
    assert journal.state is None
    with cloud_sink.open("k") as handle:
        assert handle.read() == data


def test_a_suspended_upload_can_still_be_discarded(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_server.endpoint)
    sink = _s3_sink(moto_server.endpoint, monkeypatch, bucket, concurrency=3)
    client = s3_client(moto_server.endpoint)
    journal = MemoryJournal()
    writer = sink.create("k", overwrite=False, journal=journal)
    writer.write(_payload(3 * PART))  # parts may still be in flight: suspend waits for them
    writer.suspend()
    (upload,) = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    listed = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    journalled = UploadState.from_json(journal.state or "").parts
    assert [p["PartNumber"] for p in listed["Parts"]] == sorted(p.number for p in journalled)
    assert len(journalled) == 3

    sink.abort_upload("k", journal.state or "")
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    # Without a journal nothing could ever find the upload again: suspend aborts it.
    unjournalled = sink.create("u", overwrite=False)
    unjournalled.write(_payload(PART + 1))
    unjournalled.suspend()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


class _RetryGate:
    """Stands in for the retry wrapper's backoff sleep: a part that failed once waits
    here, announced, until the test lets it retry."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.go = threading.Event()

    def sleep(self, _seconds: float) -> None:
        self.waiting.set()
        assert self.go.wait(30), "the test never let the part retry"


def _flaky_second_part(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, gate: _RetryGate
) -> tuple[Sink, list[int]]:
    """A `backend` sink of 5 MiB parts, two sent at once, retried through `gate`, whose
    part 2 fails (transiently) the first time; returns it and the part numbers sent to
    the store, in order (a refused request never reaches it)."""
    inner, sent = _flaky_store(backend, monkeypatch, request)
    return RetryingSink(inner, RetryPolicy(base_delay=0.0), sleep=gate.sleep), sent


def _flaky_store(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[Sink, list[int]]:
    """The store of `_flaky_second_part`, without retries."""
    upload: type[ResumableWriter]
    inner: Sink
    if backend == "s3":
        server: ServerProcess = request.getfixturevalue("moto_server")
        monkeypatch.setenv("T_S3_KEY", MOTO_KEY_ID)
        monkeypatch.setenv("T_S3_SECRET", MOTO_SECRET)
        s3_profile = S3Profile(
            endpoint_url=server.endpoint,
            access_key_id_ref="env:T_S3_KEY",
            secret_access_key_ref="env:T_S3_SECRET",
            part_size=PART,
            upload_concurrency=2,
        )
        inner = S3Sink(S3Location.parse(f"s3://{new_bucket(server.endpoint)}/p"), s3_profile)
        upload = S3Upload
    else:
        server = request.getfixturevalue("azurite_server")
        monkeypatch.setenv("T_AZURE", azurite_connection_string(server.endpoint))
        azure_profile = AzureProfile(
            connection_string_ref="env:T_AZURE", part_size=PART, upload_concurrency=2
        )
        location = AzureLocation.parse(f"az://{new_container(server.endpoint)}/p")
        inner = AzureSink(location, azure_profile)
        upload = AzureUpload
    sent: list[int] = []
    send = upload._send_part

    def flaky(
        writer: ResumableWriter, state: UploadState, number: int, payload: bytes, sha256: bytes
    ) -> str:
        sent.append(number)
        if number == 2 and sent.count(2) == 1:
            raise StorageUnavailable("injected: part 2 was lost on the way")
        return send(writer, state, number, payload, sha256)

    monkeypatch.setattr(upload, "_send_part", flaky)
    return inner, sent


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_a_part_waiting_to_retry_is_never_sent_once_the_upload_is_handed_over(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The run lost its lease while part 2 waited to be retried: the new holder may be
    sending its own part 2 of the same upload, so the old writer sends nothing more (a
    late part would overwrite it); its suspend returns quietly, journals nothing (the
    journal is the new holder's), and leaves the stored part for the new holder."""
    gate = _RetryGate()
    sink, sent = _flaky_second_part(backend, monkeypatch, request, gate)
    data = _payload(2 * PART + 100)
    journal = MemoryJournal()
    writer = sink.create("k", overwrite=False, journal=journal)
    writer.write(data)  # returns once part 1 is journalled; part 2 is waiting to retry
    assert gate.waiting.wait(30)
    kept = journal.state
    journal.lose_lease()
    gate.go.set()
    writer.suspend()

    assert sent == [1, 2]  # the retry never went out
    assert journal.state == kept
    assert [part.number for part in UploadState.from_json(kept or "").parts] == [1]
    assert list(sink.list()) == []
    # The new holder continues from the journal it inherited and stores the object whole.
    resumed = sink.create("k", overwrite=False, journal=MemoryJournal(kept))
    resumed.write(data)
    assert resumed.commit().size == len(data)
    assert getattr(resumed, "skipped_bytes", None) == PART
    with sink.open("k") as handle:
        assert handle.read() == data


class _LongestBackoff(random.Random):
    """Jitter that always draws the longest wait the policy allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _BackoffAnnounced(MemoryJournal):
    """A journal that announces a retry's backoff as it starts (RetryingSink waits it out
    here). The storage observer hears of a retry only once its backoff is over."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait_handed_over(self, timeout: float) -> bool:
        self.waiting.set()
        return super().wait_handed_over(timeout)


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_a_hand_over_ends_a_parts_retry_backoff_at_once(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Part 2 waits out a real 60-second backoff (the sink's own clock, no test sleep)
    when the upload is handed over: the wait ends then, the retry is refused, and the
    suspend returns long before the backoff would have ended."""
    inner, sent = _flaky_store(backend, monkeypatch, request)
    sink = RetryingSink(inner, RetryPolicy(base_delay=60.0, max_delay=60.0), rng=_LongestBackoff())
    journal = _BackoffAnnounced()
    writer = sink.create("k", overwrite=False, journal=journal)
    writer.write(_payload(2 * PART + 100))
    assert journal.waiting.wait(30)
    kept = journal.state
    journal.lose_lease()
    started = time.monotonic()
    writer.suspend()

    assert time.monotonic() - started < 20  # the backoff alone is 60 s
    assert sent == [1, 2]
    assert journal.state == kept


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_a_shutdowns_suspend_never_raises_when_the_journal_refuses_the_part_in_flight(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A shutdown suspends while the run has not yet heard that its lease is gone: the
    part in flight finishes and would be journalled, but the store's fence refuses the
    write. Suspend never raises for it: the next writer finds the part in the store."""
    gate = _RetryGate()
    sink, sent = _flaky_second_part(backend, monkeypatch, request, gate)
    data = _payload(2 * PART + 100)
    journal = MemoryJournal()
    writer = sink.create("k", overwrite=False, journal=journal)
    writer.write(data)
    assert gate.waiting.wait(30)
    kept = journal.state
    journal.lose_lease(known=False)
    gate.go.set()
    writer.suspend()  # part 2 goes up (the upload is still this run's as far as it knows)

    assert sent == [1, 2, 2]
    assert journal.state == kept
    resumed = sink.create("k", overwrite=False, journal=MemoryJournal(kept))
    resumed.write(data)
    assert resumed.commit().size == len(data)
    with sink.open("k") as handle:
        assert handle.read() == data


def test_a_changed_part_is_sent_again(cloud_sink: Sink) -> None:
    journal = MemoryJournal()
    first = cloud_sink.create("k", overwrite=False, journal=journal)
    first.write(b"a" * PART + b"b" * PART)
    data = b"a" * PART + b"c" * PART + b"tail"
    resumed = cloud_sink.create("k", overwrite=False, journal=journal)
    resumed.write(data)
    resumed.commit()
    assert getattr(resumed, "skipped_bytes", None) == PART
    with cloud_sink.open("k") as handle:
        assert handle.read() == data


def test_a_duplicate_run_accepts_identical_bytes_and_refuses_others(cloud_sink: Sink) -> None:
    data = _payload(PART + 10)
    for _ in range(2):
        writer = cloud_sink.create("k", overwrite=False, journal=MemoryJournal())
        writer.write(data)
        assert writer.commit().size == len(data)
    assert getattr(writer, "sent_bytes", None) == 0  # recognised, not uploaded again
    other = cloud_sink.create("k", overwrite=False, journal=MemoryJournal())
    other.write(_payload(PART + 10))
    with pytest.raises(Exception) as refused:
        other.commit()
    assert isinstance(refused.value, ObjectExists) or "other bytes" in str(refused.value)
    with cloud_sink.open("k") as handle:
        assert handle.read() == data


def test_abort_leaves_no_unfinished_upload(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_server.endpoint)
    sink = _s3_sink(moto_server.endpoint, monkeypatch, bucket)
    journal = MemoryJournal()
    writer = sink.create("k", journal=journal)
    writer.write(_payload(PART + 1))
    client = s3_client(moto_server.endpoint)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    writer.abort()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert journal.state is None
    # A journalled upload of a dead process is aborted from its state alone.
    orphan = sink.create("o", journal=journal)
    orphan.write(_payload(PART))
    state = journal.state or ""
    abort = sink.abort_upload
    abort("o", state)
    abort("o", state)  # already gone: fine
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_part_requests_are_retried_through_faults(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_server.endpoint)
    proxy = FaultProxy(moto_server.port, FaultPlan(unavailable=0.2, reset_after=0.1, seed=1))
    proxy.start()
    try:
        sink = _s3_sink(proxy.endpoint, monkeypatch, bucket)
        data = _payload(3 * PART + 5)
        writer = sink.create("k", overwrite=False, journal=MemoryJournal())
        writer.write(data)
        writer.commit()
        with sink.open("k") as handle:
            assert handle.read() == data
        assert sum(proxy.faults.values()) > 0
    finally:
        proxy.stop()


def test_parts_go_up_concurrently_and_resume_alike(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_server.endpoint)
    sink = _s3_sink(moto_server.endpoint, monkeypatch, bucket, concurrency=4)
    data = _payload(6 * PART + 3)
    journal = MemoryJournal()
    crashed = sink.create("k", overwrite=False, journal=journal)
    crashed.write(data[: 5 * PART])
    crashed.write(b"")  # all parts of the first writer are journalled by now or in flight
    resumed = sink.create("k", overwrite=False, journal=journal)
    resumed.write(data)
    assert resumed.commit().size == len(data)
    assert getattr(resumed, "skipped_bytes", 0) >= PART
    with sink.open("k") as handle:
        assert handle.read() == data


def test_profiles_hide_secret_references_and_validate() -> None:
    profile = S3Profile(access_key_id_ref="env:KEY_ID", secret_access_key_ref="env:SECRET")
    assert "KEY_ID" not in repr(profile) and "SECRET" not in repr(profile)
    with pytest.raises(ValueError, match="env:NAME or file:PATH") as err:
        S3Profile(access_key_id_ref="AKIAEXAMPLE", secret_access_key_ref="env:X")
    assert "AKIAEXAMPLE" not in str(err.value)
    with pytest.raises(ValueError, match="go together"):
        S3Profile(access_key_id_ref="env:A")
    with pytest.raises(ValueError, match="greater than or equal"):
        AzureProfile(part_size=1024)
    azure = AzureProfile(connection_string_ref="file:/run/secrets/azure")
    assert "/run/secrets" not in repr(azure)


def test_upload_state_is_plain_json() -> None:
    state = UploadState(backend="s3", key="k", part_size=PART, upload_id="u")
    assert UploadState.from_json(state.to_json()) == state
    assert json.loads(state.to_json())["upload_id"] == "u"


def test_uploads_the_journal_never_saw_are_swept_from_the_store(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between starting an upload and journalling its id leaves an upload only the
    store knows about; the sweep finds it by listing the store."""
    bucket = new_bucket(moto_server.endpoint)
    sink = _s3_sink(moto_server.endpoint, monkeypatch, bucket)
    crashed = sink.create("ds/exp/part-000001.jsonl", overwrite=False, journal=MemoryJournal())
    crashed.write(_payload(PART + 1))  # the first part goes up: the upload now exists
    elsewhere = sink.create("ds/other/part-000000.jsonl", overwrite=False, journal=None)
    elsewhere.write(_payload(PART + 1))

    assert sink.abort_stray_uploads("ds/exp/") == 1
    assert sink.abort_stray_uploads("ds/exp/") == 0
    assert sink.abort_stray_uploads("ds/other/") == 1  # other prefixes were left alone
