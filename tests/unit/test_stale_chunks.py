"""A resume after an upgrade, against real servers (moto, Azurite): a run killed between
completing a chunk object and journalling it leaves an object no record names; the next
run encodes that chunk to other bytes (another Sluice, Polars or pyarrow, or a changed
encoder setting, here the Parquet dictionary page limit). The export must still finish,
with every chunk stored once, byte-verified against the manifest, every record once."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.client.demo_data import generate
from sluice.server.committed.verify import verify_export
from sluice.server.errors import DataLoss
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.jobs.model import NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline import encoders
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.service.events import EventHub
from sluice.server.settings import load_settings
from sluice.sinks import Sink, open_sink
from sluice.sinks.base import UploadJournal
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket
from tests.servers.processes import ServerProcess
from tests.unit.cloud_stores import PART, CloudStore, cloud_store
from tests.unit.exporting import Journal, plan_export
from tests.unit.upload_journal import MemoryJournal

#: Chunks stored in one request, and chunks of two parts (5 MiB and the rest): rows, rows
#: per chunk, compression.
SHAPES = {"one request": (3_000, 1_000, "zstd"), "parts": (80_000, 40_000, "none")}


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloudStore:
    return cloud_store(str(request.param), request, monkeypatch)


class _Run(Journal):
    """One run's job-store side: the chunks it journalled and its upload journals."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, MemoryJournal] = {}

    def upload_journal(self, key: str) -> UploadJournal:
        return self.uploads.setdefault(key, MemoryJournal())


def _plan(tmp_path: Path, rows: int, chunk_rows: int, compression: str) -> ExportPlan:
    source = generate(tmp_path / "src" / "events.parquet", rows, seed=3)
    output = OutputSpec(format="parquet", compression=compression)
    return plan_export(tmp_path, source, "exp-stale", max_rows=chunk_rows, output=output)


def _run(plan: ExportPlan, sink: Sink, resume: ResumePoint, run: _Run) -> None:
    options = PipelineOptions(512, 2, 0, b"k" * 32)
    run_pipeline(plan.pipeline, sink, resume, run, threading.Event(), options)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_resume_replaces_chunks_an_older_encoder_completed_but_never_journalled(
    tmp_path: Path, store: CloudStore, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    rows, chunk_rows, compression = SHAPES[shape]
    indexes = list(range(rows // chunk_rows))
    cloud_sink = store.sink
    plan = _plan(tmp_path, rows, chunk_rows, compression)
    # The killed run: its encoder wrote dictionaries only up to 64 bytes (so the demo
    # messages went plain), and it journalled chunk 0 only, though the later chunks were
    # completed in the store before the kill.
    with monkeypatch.context() as older:
        older.setattr(encoders, "PARQUET_DICTIONARY_PAGE_LIMIT", 64)
        killed = _Run()
        _run(plan, cloud_sink, ResumePoint(), killed)
    assert [c.index for c in killed.chunks] == indexes
    journalled = killed.chunks[:1]

    resumed = _Run()
    _run(plan, cloud_sink, ResumePoint.after(journalled, rows), resumed)

    chunks = [*journalled, *resumed.chunks]
    assert [c.index for c in chunks] == indexes
    if shape == "parts":
        assert all(c.stored_bytes > PART for c in chunks)
    # The upgrade changed the bytes (else this test would prove nothing)...
    assert [c.sha256 for c in resumed.chunks] != [c.sha256 for c in killed.chunks[1:]]
    # ...and what is stored is what the resumed run journalled, each object once.
    now = datetime.now(UTC)
    manifest = build_manifest(plan, chunks, created_at=now, finished_at=now, digest_key_id="k")
    write_manifest(cloud_sink, plan.manifest_key, manifest)
    report = verify_export(cloud_sink, plan.manifest_key)
    assert report.ok, report
    assert report.chunks_checked == len(indexes)
    frames = []
    for chunk in chunks:
        with cloud_sink.open(plan.pipeline.chunk_key(chunk.index)) as handle:
            frames.append(pl.read_parquet(io.BytesIO(handle.read())))
    assert pl.concat(frames)["id"].to_list() == list(range(rows))
    assert all(journal.state is None for journal in resumed.uploads.values())
    assert store.open_uploads() == 0


@pytest.mark.parametrize("shape", list(SHAPES))
def test_chunks_a_manifest_names_are_never_replaced_though_the_journal_lost_them(
    tmp_path: Path, moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """A job store behind its storage (restored from a backup taken after chunk 0) while
    the manifest already commits every chunk: chunks 1 and 2 are named, by the manifest,
    so their other bytes are DATA_LOSS, and the committed export stays as it was."""
    rows, chunk_rows, compression = SHAPES[shape]
    monkeypatch.setenv("T_NAMED_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_NAMED_SECRET", MOTO_SECRET)
    source = generate(tmp_path / "src" / "events.parquet", rows, seed=3)
    lake = {
        "kind": "s3",
        "endpoint_url": moto_server.endpoint,
        "access_key_id_ref": "env:T_NAMED_KEY",
        "secret_access_key_ref": "env:T_NAMED_SECRET",
    }
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_source_roots": [source.parent],
            "storage_profiles": {"lake": lake},
        },
        environ={},
    )
    destination = DestinationSpec(
        f"s3://{new_bucket(moto_server.endpoint)}/exports", "events", profile="lake"
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=destination,
        output=OutputSpec(format="parquet", compression=compression),
        chunking=ChunkingSpec(max_rows=chunk_rows),
    )

    def run(store: SQLiteJobStore) -> str:
        claimed = store.claim("here", 60)
        assert claimed is not None
        context = ExecutionContext(
            settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
        )
        return execute(claimed[0], context, threading.Event(), claimed[1])

    first = SQLiteJobStore(":memory:")
    job, _ = first.create(NewJob(id="20260101T000000Z-named", spec=spec))
    with monkeypatch.context() as older:
        older.setattr(encoders, "PARQUET_DICTIONARY_PAGE_LIMIT", 64)
        manifest_uri = run(first)
    committed = list(first.chunks(job.id))
    assert len(committed) == rows // chunk_rows
    sink = open_sink(destination.uri, profile=settings.storage_profiles["lake"])
    manifest_key = manifest_uri.removeprefix(sink.uri.rstrip("/") + "/")
    stored = {info.key: info.size for info in sink.list()}

    behind = SQLiteJobStore(":memory:")
    assert behind.restore(job, committed[:1])
    with pytest.raises(DataLoss):
        run(behind)

    assert {info.key: info.size for info in sink.list()} == stored
    assert verify_export(sink, manifest_key).ok
