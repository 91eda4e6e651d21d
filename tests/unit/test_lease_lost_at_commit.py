"""A run whose lease is taken over right at a chunk's commit (the renewal before the
commit raises LeaseLost) closes that chunk's writer as any lost lease does: the parts
already stored stay open and journalled for the new holder, and a local temporary file
goes at once (not at the export's next run). The new holder then completes the export,
every chunk stored and journalled once. Run in-process on a real SQLite store, against
a real local folder and against moto (S3 multipart uploads)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

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
    OutputSpec,
    SourceSpec,
)
from sluice.server.service.events import EventHub
from sluice.server.settings import Settings, load_settings
from sluice.sinks import open_sink
from sluice.sinks.base import ObjectInfo, Sink, SinkWriter
from sluice.sinks.upload_state import UploadState
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess
from tests.unit.local_runs import local_run

PART = 5 * 1024 * 1024


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


class _Writer:
    def __init__(self, take_over: _TakeOver, inner: SinkWriter) -> None:
        self._take_over = take_over
        self._inner = inner

    def write(self, data: bytes | memoryview) -> None:
        self._take_over.take_over_if_ready()
        self._inner.write(data)

    def commit(self) -> ObjectInfo:
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()

    def suspend(self) -> None:
        self._inner.suspend()


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
    monkeypatch.setenv("T_TAKEN_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_TAKEN_SECRET", MOTO_SECRET)
    source = tmp_path / "in" / "events.parquet"
    source.parent.mkdir()
    # Uncompressed random text: each 60,000-row chunk is about 7.6 MB, one part stored
    # while it is written and the rest sent at its commit.
    rows = 120_000
    pl.DataFrame(
        {"id": range(rows), "text": [secrets.token_hex(50) for _ in range(rows)]}
    ).write_parquet(source)
    bucket = new_bucket(moto_server.endpoint)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            # Written in segments of 5,000 rows: the takeover comes between two of them.
            "batch_rows": 5_000,
            "allowed_source_roots": [str(source.parent)],
            "storage_profiles": {
                "lake": {
                    "kind": "s3",
                    "endpoint_url": moto_server.endpoint,
                    "access_key_id_ref": "env:T_TAKEN_KEY",
                    "secret_access_key_ref": "env:T_TAKEN_SECRET",
                    "part_size": PART,
                }
            },
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=f"s3://{bucket}/exports", dataset="events", profile="lake"),
        output=OutputSpec(compression="none"),
        chunking=ChunkingSpec(max_rows=60_000),
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
