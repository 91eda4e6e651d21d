"""A run whose lease is taken over right at a chunk's commit (the renewal before the
commit raises LeaseLost) closes that chunk's writer as any lost lease does: the parts
already stored stay open and journalled for the new holder, and a local temporary file
goes at once (not at the export's next run). The new holder then completes the export,
every chunk stored and journalled once. Once the run knows its lease is gone it sends
nothing more, from any of its writers: the new holder may be continuing the same
multipart upload, where a late part would replace its part of that number. A journal
write its lease's fence refuses may be how the run first hears of it: that upload is
then neither completed nor aborted. Run in-process on a real SQLite store, against a
real local folder and against moto (S3 multipart uploads)."""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.server.committed.manifests import read_manifest
from sluice.server.errors import LeaseLost, Unavailable
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.model import Job, Lease, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.service.events import EventHub
from sluice.server.settings import Settings, load_settings
from sluice.sinks import RetryingSink, RetryPolicy, StorageUnavailable, open_sink
from sluice.sinks.base import ObjectInfo, Sink, SinkWriter
from sluice.sinks.profiles import S3Profile
from sluice.sinks.s3 import S3Location, S3Sink
from sluice.sinks.s3 import sink as s3_sink
from sluice.sinks.s3.upload import S3Upload
from sluice.sinks.upload_state import UploadState
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess
from tests.unit.local_runs import local_run

PART = 5 * 1024 * 1024


class _PassingOn:
    """A SinkWriter handing every call on to `inner`; subclasses watch some of them."""

    def __init__(self, inner: SinkWriter) -> None:
        self._inner = inner

    def write(self, data: bytes | memoryview) -> None:
        self._inner.write(data)

    def commit(self) -> ObjectInfo:
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()

    def suspend(self) -> None:
        self._inner.suspend()


class _TakeOver:
    """Another replica takes the export over (expires the lease, claims the job) while
    this run writes chunk `key`, once `ready()` says so; the new holder's job and lease
    are kept for the test to run it."""

    def __init__(self, store: SQLiteJobStore, key: str, ready: Callable[[], bool]) -> None:
        self.store = store
        self.key = key
        self.ready = ready
        self.taken: tuple[Job, Lease] | None = None

    def wrap(self, sink: Sink) -> Sink:
        create = sink.create

        def watched_create(key: str, **options: object) -> SinkWriter:
            writer = create(key, **options)  # type: ignore[arg-type]
            return _Writer(self, writer) if key == self.key and self.taken is None else writer

        sink.create = watched_create  # type: ignore[method-assign]
        return sink

    def take_over_if_ready(self) -> None:
        if self.taken is None and self.ready():
            self.store.expire_leases()
            self.taken = self.store.claim("elsewhere", 60)
            assert self.taken is not None


class _Writer(_PassingOn):
    def __init__(self, take_over: _TakeOver, inner: SinkWriter) -> None:
        super().__init__(inner)
        self._take_over = take_over

    def write(self, data: bytes | memoryview) -> None:
        self._take_over.take_over_if_ready()
        self._inner.write(data)


def _context(settings: Settings, store: SQLiteJobStore, take_over: _TakeOver) -> ExecutionContext:
    def opener(uri: str, *, profile: object = None) -> Sink:
        return take_over.wrap(open_sink(uri, profile=profile))  # type: ignore[arg-type]

    return ExecutionContext(settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32)


def _claim(store: SQLiteJobStore, spec: ExportSpec) -> tuple[Job, Lease]:
    store.create(NewJob(id="20260101T000000Z-taken", spec=spec))
    claimed = store.claim("here", 60)
    assert claimed is not None
    return claimed


def _assert_completed_once(sink: Sink, store: SQLiteJobStore, job: Job, chunks: int) -> None:
    """Chunks 0..chunks-1 journalled once each, the manifest lists exactly those, and
    the export's folder holds them and the manifest, nothing else."""
    journal = store.chunks(job.id)
    assert [c.index for c in journal] == list(range(chunks))
    prefix = f"events/{job.id}"
    manifest = read_manifest(sink, f"{prefix}/manifest.json")
    assert [c.path for c in manifest.chunks] == [c.path for c in journal]
    assert [c.sha256 for c in manifest.chunks] == [c.sha256 for c in journal]
    stored = [o.key for o in sink.list(prefix + "/")]
    assert stored == sorted([f"{prefix}/{c.path}" for c in journal] + [f"{prefix}/manifest.json"])
    assert list(sink.temporaries(prefix + "/")) == []
    assert list(store.uploads(job.id)) == []


def test_a_lease_lost_at_a_commit_removes_the_chunks_temporary_file_at_once(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    run = local_run(tmp_path, 10)
    source, out, settings = run.source, run.out, run.settings
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(out), dataset="events"),
        chunking=ChunkingSpec(max_rows=1),
    )
    job, lease = _claim(store, spec)
    # A one-row chunk reaches the sink in one write, when the writer closes it: the
    # takeover comes between that write and the renewal before its commit.
    take_over = _TakeOver(store, f"events/{job.id}/part-000000.jsonl.zst", lambda: True)
    context = _context(settings, store, take_over)

    with pytest.raises(LeaseLost):
        execute(job, context, ExportStop(), lease)

    assert take_over.taken is not None
    sink = open_sink(str(out))
    assert list(sink.temporaries()) == []
    assert list(sink.list()) == []
    assert store.chunks(job.id) == []

    new_job, new_lease = take_over.taken
    execute(new_job, context, ExportStop(), new_lease)
    _assert_completed_once(sink, store, job, 10)


def test_a_lease_lost_during_the_key_pass_stores_no_key_index(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    """The key index (and tombstones, and the signature) replace what is under their
    names: a run whose lease was taken over while it wrote the index must not replace
    the new holder's. The renewal before its commit raises LeaseLost; nothing is stored
    under the export's prefix by that run, and the new holder completes the export."""
    run = local_run(tmp_path, 10)
    spec = ExportSpec(
        source=SourceSpec(uri=str(run.source)),
        destination=DestinationSpec(uri=str(run.out), dataset="events"),
        chunking=ChunkingSpec(max_rows=4),
        incremental=IncrementalSpec(mode="full", key=("id",)),
    )
    job, lease = _claim(store, spec)
    take_over = _TakeOver(store, f"events/{job.id}/index.arrows", lambda: True)
    context = _context(run.settings, store, take_over)

    with pytest.raises(LeaseLost):
        execute(job, context, ExportStop(), lease)

    assert take_over.taken is not None
    sink = open_sink(str(run.out))
    assert list(sink.list()) == []
    assert store.chunks(job.id) == []
    new_job, new_lease = take_over.taken
    execute(new_job, context, ExportStop(), new_lease)
    manifest = read_manifest(sink, f"events/{job.id}/manifest.json")
    assert manifest.key_index is not None and manifest.key_index.rows == 10
    assert [c.index for c in store.chunks(job.id)] == [0, 1, 2]


@pytest.mark.parametrize("renewal", ["refused", "unreachable"])
def test_a_lease_lost_at_a_commit_keeps_the_chunks_upload_for_the_new_holder(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: SQLiteJobStore,
    caplog: pytest.LogCaptureFixture,
    renewal: str,
) -> None:
    """Refused: the renewal finds the lease taken (LeaseLost). Unreachable: the store
    cannot be asked while the other replica takes over; this replica cannot tell its
    lease is gone, so it must not abort an upload the new holder may continue."""
    # Uncompressed random text: each 60,000-row chunk is about 7.6 MB, one part stored
    # while it is written and the rest sent at its commit. Written in segments of 5,000
    # rows: the takeover comes between two of them.
    rows = 120_000
    settings, spec, bucket = _hex_rows_to_s3(
        moto_server, monkeypatch, tmp_path, rows, batch_rows=5_000, chunk_rows=60_000
    )
    job, lease = _claim(store, spec)
    key = f"events/{job.id}/part-000000.jsonl"
    # Taken over once the chunk's first part is stored and journalled.
    take_over = _TakeOver(store, key, lambda: bool(store.uploads(job.id)))
    context = _context(settings, store, take_over)

    renew = store.renew
    if renewal == "unreachable":

        def unreachable(held: Lease, seconds: float) -> bool:
            if take_over.taken is not None:
                raise Unavailable("job store: connection refused")
            return renew(held, seconds)

        monkeypatch.setattr(store, "renew", unreachable)
    with pytest.raises((LeaseLost, Unavailable)):
        execute(job, context, ExportStop(), lease)
    monkeypatch.setattr(store, "renew", renew)  # reachable again

    # Kept for the new holder: the upload the journal names is open, with its part.
    assert take_over.taken is not None
    [(journalled_key, state_text)] = store.uploads(job.id)
    assert journalled_key == key
    state = UploadState.from_json(state_text)
    client = s3_client(moto_server.endpoint)
    uploads = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(f"exports/{key}", state.upload_id)]
    parts = client.list_parts(Bucket=bucket, Key=f"exports/{key}", UploadId=state.upload_id)
    assert [p["Size"] for p in parts["Parts"]] == [PART]
    assert store.chunks(job.id) == []

    # The new holder continues that upload (its stored part is verified, not sent
    # again) and completes the export.
    new_job, new_lease = take_over.taken
    with caplog.at_level(logging.INFO, logger="sluice.sinks"):
        execute(new_job, context, ExportStop(), new_lease)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{PART} bytes already stored were verified" in m for m in messages)
    sink = open_sink(f"s3://{bucket}/exports", profile=settings.storage_profiles["lake"])
    _assert_completed_once(sink, store, job, 2)
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


class _S3Requests:
    """Every S3 request a run's clients send, by operation (`logged_client` wraps the
    sink's client factory)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        #: Each request's URL, beside its operation.
        self.urls: list[str] = []

    def logged_client(self, build: Callable[[S3Profile], Any]) -> Callable[[S3Profile], Any]:
        def build_logged(profile: S3Profile) -> Any:
            client = build(profile)
            client.meta.events.register("before-send.s3", self._log_request)
            return client

        return build_logged

    def _log_request(self, event_name: str, request: Any = None, **_: object) -> None:
        self.requests.append(event_name.rsplit(".", 1)[-1])
        self.urls.append(str(getattr(request, "url", "")))


class _LostWhileTheNextChunkIsWritten(_S3Requests):
    """The takeover comes at the renewal before chunk 0's commit, once the writer thread
    holds chunk 1's first segment (more than a part) at the sink; that segment goes on
    only once chunk 0's writer was suspended. While `unreachable`, renewals after the
    takeover fail as a store that cannot be reached does. Records every S3 request this
    run sends (by operation), how many had gone out when that suspend returned, and
    whether it raised."""

    def __init__(
        self, store: SQLiteJobStore, chunk_keys: tuple[str, str], *, unreachable: bool
    ) -> None:
        super().__init__()
        self.store = store
        self.chunk_keys = chunk_keys
        self.unreachable = unreachable
        self.taken: tuple[Job, Lease] | None = None
        self.sent_at_suspend: int | None = None
        self.suspend_errors: list[BaseException] = []
        self._writing = threading.Event()
        self._next_chunk_held = threading.Event()
        self._suspended = threading.Event()

    def renewal(self, renew: Callable[[Lease, float], bool]) -> Callable[[Lease, float], bool]:
        def renew_after_takeover(held: Lease, seconds: float) -> bool:
            if self._writing.is_set() and self.taken is None:
                # The first renewal once chunks are written: before chunk 0's commit.
                assert self._next_chunk_held.wait(60), "chunk 1 never reached the sink"
                self.store.expire_leases()
                self.taken = self.store.claim("elsewhere", 60)
                assert self.taken is not None
            if self.unreachable and self.taken is not None:
                raise Unavailable("job store: connection refused")
            return renew(held, seconds)

        return renew_after_takeover

    def wrap(self, sink: Sink) -> Sink:
        create = sink.create

        def watched_create(key: str, **options: object) -> SinkWriter:
            writer = create(key, **options)  # type: ignore[arg-type]
            if self.taken is not None or key not in self.chunk_keys:
                return writer
            self._writing.set()
            return (
                _NextChunkHeld(self, writer)
                if key == self.chunk_keys[1]
                else _Watched(self, writer)
            )

        sink.create = watched_create  # type: ignore[method-assign]
        return sink

    def hold_next_chunk(self) -> None:
        self._next_chunk_held.set()
        assert self._suspended.wait(60), "chunk 0's writer was never suspended"

    def suspended(self, suspend: Callable[[], None]) -> None:
        try:
            suspend()
        except BaseException as exc:
            self.suspend_errors.append(exc)
            raise
        finally:
            self.sent_at_suspend = len(self.requests)
            self._suspended.set()


class _Watched(_PassingOn):
    def __init__(self, harness: _LostWhileTheNextChunkIsWritten, inner: SinkWriter) -> None:
        super().__init__(inner)
        self._harness = harness

    def suspend(self) -> None:
        self._harness.suspended(self._inner.suspend)


class _NextChunkHeld(_Watched):
    def __init__(self, harness: _LostWhileTheNextChunkIsWritten, inner: SinkWriter) -> None:
        super().__init__(harness, inner)
        self._held = False

    def write(self, data: bytes | memoryview) -> None:
        if not self._held:
            self._held = True
            self._harness.hold_next_chunk()
        super().write(data)

    def suspend(self) -> None:
        self._inner.suspend()


def _hex_rows_to_s3(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rows: int,
    *,
    batch_rows: int,
    chunk_rows: int,
    upload_concurrency: int = 1,
) -> tuple[Settings, ExportSpec, str]:
    """Settings and a spec exporting `rows` rows of about 120 bytes as uncompressed JSON
    lines to a new moto bucket (its name returned too), parts of PART bytes."""
    monkeypatch.setenv("T_LOST_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_LOST_SECRET", MOTO_SECRET)
    source = tmp_path / "in" / "events.parquet"
    source.parent.mkdir()
    pl.DataFrame(
        {"id": range(rows), "text": [secrets.token_hex(50) for _ in range(rows)]}
    ).write_parquet(source)
    bucket = new_bucket(moto_server.endpoint)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            "batch_rows": batch_rows,
            "allowed_source_roots": [str(source.parent)],
            "storage_profiles": {
                "lake": {
                    "kind": "s3",
                    "endpoint_url": moto_server.endpoint,
                    "access_key_id_ref": "env:T_LOST_KEY",
                    "secret_access_key_ref": "env:T_LOST_SECRET",
                    "part_size": PART,
                    "upload_concurrency": upload_concurrency,
                }
            },
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=f"s3://{bucket}/exports", dataset="events", profile="lake"),
        output=OutputSpec(compression="none"),
        chunking=ChunkingSpec(max_rows=chunk_rows),
    )
    return settings, spec, bucket


@pytest.mark.parametrize("renewal", ["refused", "unreachable"])
def test_a_run_that_lost_its_lease_sends_nothing_more_from_any_writer(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: SQLiteJobStore,
    renewal: str,
) -> None:
    """Two parts go up at once. Chunk 0's commit is refused (the lease was taken over;
    or the store cannot be asked, so the lease is unconfirmed) while chunk 1's first
    segment, more than a part, waits at the sink: once chunk 0's writer is suspended
    (which must not raise, though its part in flight can no longer be journalled) not
    one more S3 request goes out from this run, neither for chunk 0 nor for chunk 1, and
    the run ends with the renewal's error. The new holder then completes the export,
    every row stored once."""
    # Uncompressed JSON lines of about 120 bytes: a 50,000-row segment is about 6 MB,
    # more than a part, and chunk 0 (two segments) has one part still in flight when
    # its commit comes (a part is journalled only when the next one is sent).
    rows = 150_000
    settings, spec, bucket = _hex_rows_to_s3(
        moto_server, monkeypatch, tmp_path, rows, batch_rows=50_000, chunk_rows=100_000,
        upload_concurrency=2,
    )  # fmt: skip
    job, lease = _claim(store, spec)
    keys = (f"events/{job.id}/part-000000.jsonl", f"events/{job.id}/part-000001.jsonl")
    harness = _LostWhileTheNextChunkIsWritten(store, keys, unreachable=renewal == "unreachable")
    monkeypatch.setattr(s3_sink, "build_client", harness.logged_client(s3_sink.build_client))
    monkeypatch.setattr(store, "renew", harness.renewal(store.renew))

    def opener(uri: str, *, profile: object = None) -> Sink:
        return harness.wrap(open_sink(uri, profile=profile))  # type: ignore[arg-type]

    context = ExecutionContext(settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32)
    with pytest.raises(Unavailable if harness.unreachable else LeaseLost):
        execute(job, context, ExportStop(), lease)
    harness.unreachable = False  # reachable again, for the new holder

    assert harness.sent_at_suspend is not None
    assert "UploadPart" in harness.requests[: harness.sent_at_suspend]
    late = harness.requests[harness.sent_at_suspend :]
    assert late == []
    assert harness.suspend_errors == []

    assert harness.taken is not None
    new_job, new_lease = harness.taken
    execute(new_job, context, ExportStop(), new_lease)
    sink = open_sink(f"s3://{bucket}/exports", profile=settings.storage_profiles["lake"])
    _assert_completed_once(sink, store, job, 2)
    ids: list[int] = []
    for key in keys:
        with sink.open(key) as stored:
            ids += pl.read_ndjson(stored)["id"].to_list()
    assert sorted(ids) == list(range(rows))
    client = s3_client(moto_server.endpoint)
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


class _LongestBackoff(random.Random):
    """Jitter that always draws the longest wait the policy allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_a_lease_lost_while_a_part_waits_to_retry_ends_the_run_at_once(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: SQLiteJobStore,
) -> None:
    """Part 2 of chunk 0 failed and waits out a 60-second backoff (on the clock) when
    the heartbeat finds the lease taken: the wait ends then, the retry is never sent,
    and the run ends long before the backoff would have, its journal left with part 1
    for the new holder."""
    # Uncompressed JSON lines of about 120 bytes: one chunk of about 12 MB, three parts.
    rows = 100_000
    settings, spec, _ = _hex_rows_to_s3(
        moto_server, monkeypatch, tmp_path, rows, batch_rows=20_000, chunk_rows=rows
    )
    job, lease = _claim(store, spec)
    stop = ExportStop()
    sent: list[int] = []
    failed = threading.Event()
    send = S3Upload._send_part

    def flaky(
        writer: S3Upload, state: UploadState, number: int, payload: bytes, sha256: bytes
    ) -> str:
        sent.append(number)
        if number == 2 and sent.count(2) == 1:
            failed.set()
            raise StorageUnavailable("injected: part 2 was lost on the way")
        return send(writer, state, number, payload, sha256)

    monkeypatch.setattr(S3Upload, "_send_part", flaky)

    def opener(uri: str, *, profile: object = None) -> Sink:
        assert isinstance(profile, S3Profile)
        return RetryingSink(
            S3Sink(S3Location.parse(uri), profile),
            RetryPolicy(base_delay=60.0, max_delay=60.0),
            rng=_LongestBackoff(),
            store="s3",
        )

    def heartbeat() -> None:
        # What the runner's heartbeat does once it finds the lease taken.
        assert failed.wait(60), "part 2 never failed"
        store.expire_leases()
        assert store.claim("elsewhere", 60) is not None
        stop.lose_lease()

    context = ExecutionContext(settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32)
    taking_over = threading.Thread(target=heartbeat)
    taking_over.start()
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        execute(job, context, stop, lease)
    elapsed = time.monotonic() - started
    taking_over.join()

    assert elapsed < 30  # the backoff alone is 60 s
    assert sent == [1, 2]
    [(_, state_text)] = store.uploads(job.id)
    assert [part.number for part in UploadState.from_json(state_text).parts] == [1]
    assert store.chunks(job.id) == []


class _TakenAtCommit(_S3Requests):
    """Another replica takes the export over as chunk 0's commit begins (after the
    renewal before it, so this run does not know): the first the run hears of it is its
    journal's fence refusing a write. With `after_next_chunk`, chunk 0's commit goes on
    only once that refusal came on the writer thread, which writes chunk 1 meanwhile
    (the refusal failing its write). Records every S3 request this run sends, and how
    many had gone out when chunk 1's write failed."""

    def __init__(
        self, store: SQLiteJobStore, chunk_keys: tuple[str, ...], *, after_next_chunk: bool
    ) -> None:
        super().__init__()
        self.store = store
        self.chunk_keys = chunk_keys
        self.after_next_chunk = after_next_chunk
        self.taken: tuple[Job, Lease] | None = None
        self.sent_at_refusal: int | None = None
        self._refused = threading.Event()
        self._watched: set[str] = set()

    def wrap(self, sink: Sink) -> Sink:
        create = sink.create

        def watched_create(key: str, **options: object) -> SinkWriter:
            writer = create(key, **options)  # type: ignore[arg-type]
            if key not in self.chunk_keys or key in self._watched:
                return writer  # the new holder's writers
            self._watched.add(key)
            if key == self.chunk_keys[0]:
                return _CommitTakenOver(self, writer)
            return _RefusalSeen(self, writer)

        sink.create = watched_create  # type: ignore[method-assign]
        return sink

    def take_over(self) -> None:
        self.store.expire_leases()
        self.taken = self.store.claim("elsewhere", 60)
        assert self.taken is not None
        if self.after_next_chunk:
            assert self._refused.wait(60), "chunk 1's journal write was never refused"

    def refused(self) -> None:
        self.sent_at_refusal = len(self.requests)
        self._refused.set()


class _CommitTakenOver(_PassingOn):
    def __init__(self, harness: _TakenAtCommit, inner: SinkWriter) -> None:
        super().__init__(inner)
        self._harness = harness

    def commit(self) -> ObjectInfo:
        self._harness.take_over()
        return self._inner.commit()


class _RefusalSeen(_CommitTakenOver):
    def write(self, data: bytes | memoryview) -> None:
        try:
            self._inner.write(data)
        except BaseException:
            self._harness.refused()
            raise

    def commit(self) -> ObjectInfo:
        return self._inner.commit()


def _complete_as_the_new_holder(
    harness: _TakenAtCommit,
    context: ExecutionContext,
    settings: Settings,
    bucket: str,
    job: Job,
    moto_server: ServerProcess,
    rows: int,
) -> None:
    assert harness.taken is not None
    new_job, new_lease = harness.taken
    execute(new_job, context, ExportStop(), new_lease)
    sink = open_sink(f"s3://{bucket}/exports", profile=settings.storage_profiles["lake"])
    _assert_completed_once(sink, harness.store, job, len(harness.chunk_keys))
    ids: list[int] = []
    for key in harness.chunk_keys:
        with sink.open(key) as stored:
            ids += pl.read_ndjson(stored)["id"].to_list()
    assert sorted(ids) == list(range(rows))
    assert not s3_client(moto_server.endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_a_commit_whose_journal_write_is_refused_leaves_the_upload_to_the_new_holder(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: SQLiteJobStore,
) -> None:
    """The lease is taken over during chunk 0's commit, unknown to the run: the commit's
    last part goes up and its journal write is refused. The upload is the new holder's
    now, so it is neither completed nor aborted (an abort would destroy the parts the
    new holder continues); the run ends with LeaseLost and the new holder completes the
    export from the journal it inherited."""
    # Uncompressed JSON lines of about 120 bytes: one chunk of about 12 MB, two parts
    # stored while it is written and the third sent at its commit.
    rows = 100_000
    settings, spec, bucket = _hex_rows_to_s3(
        moto_server, monkeypatch, tmp_path, rows, batch_rows=20_000, chunk_rows=rows
    )
    job, lease = _claim(store, spec)
    key = f"events/{job.id}/part-000000.jsonl"
    harness = _TakenAtCommit(store, (key,), after_next_chunk=False)
    monkeypatch.setattr(s3_sink, "build_client", harness.logged_client(s3_sink.build_client))

    def opener(uri: str, *, profile: object = None) -> Sink:
        return harness.wrap(open_sink(uri, profile=profile))  # type: ignore[arg-type]

    context = ExecutionContext(settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32)
    with pytest.raises(LeaseLost):
        execute(job, context, ExportStop(), lease)

    assert harness.requests.count("UploadPart") == 3
    assert "AbortMultipartUpload" not in harness.requests
    assert "CompleteMultipartUpload" not in harness.requests
    [(_, state_text)] = store.uploads(job.id)
    state = UploadState.from_json(state_text)
    assert [part.number for part in state.parts] == [1, 2]
    client = s3_client(moto_server.endpoint)
    [upload] = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert upload["UploadId"] == state.upload_id

    _complete_as_the_new_holder(harness, context, settings, bucket, job, moto_server, rows)


def test_a_journal_write_refused_on_the_writer_thread_stops_the_commit_under_way(
    moto_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: SQLiteJobStore,
) -> None:
    """The lease is taken over during chunk 0's commit, unknown to the run, and chunk
    0's commit waits while the writer thread stores chunk 1's first part, whose journal
    write is refused: from that refusal on not one more S3 request goes out from this
    run (chunk 0's last part, its completion or an abort of it), and the run ends with
    LeaseLost. The new holder then completes the export, every row stored once."""
    # Uncompressed JSON lines of about 120 bytes: chunk 0 (two segments of about 6 MB)
    # stores two parts while written and sends a third at its commit; chunk 1's one
    # segment is more than a part.
    rows = 150_000
    settings, spec, bucket = _hex_rows_to_s3(
        moto_server, monkeypatch, tmp_path, rows, batch_rows=50_000, chunk_rows=100_000
    )
    job, lease = _claim(store, spec)
    keys = (f"events/{job.id}/part-000000.jsonl", f"events/{job.id}/part-000001.jsonl")
    harness = _TakenAtCommit(store, keys, after_next_chunk=True)
    monkeypatch.setattr(s3_sink, "build_client", harness.logged_client(s3_sink.build_client))

    def opener(uri: str, *, profile: object = None) -> Sink:
        return harness.wrap(open_sink(uri, profile=profile))  # type: ignore[arg-type]

    context = ExecutionContext(settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32)
    with pytest.raises(LeaseLost):
        execute(job, context, ExportStop(), lease)

    assert harness.sent_at_refusal is not None
    assert "UploadPart" in harness.requests[: harness.sent_at_refusal]
    # After the refusal, only chunk 1's own upload is aborted: no journal ever named it
    # (its first write was the one refused), so no other holder can know it, and it
    # would otherwise stay unfinished in the bucket. Chunk 0's is left to the new holder.
    assert harness.requests[harness.sent_at_refusal :] == ["AbortMultipartUpload"]
    [abort] = harness.urls[harness.sent_at_refusal :]
    assert keys[1] in abort and keys[0] not in abort

    _complete_as_the_new_holder(harness, context, settings, bucket, job, moto_server, rows)
