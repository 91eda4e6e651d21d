"""Exports from before chunk content digests moved to keyed BLAKE3 ("hmac-sha256:" chunks)
still read, verify and diff; an old export beside a new one, or one resumed across the
change, is diffed by stored sha256, since one content's digests under two algorithms never
match. The resume itself runs in-process: the executor on a real SQLite job store, into a
real local folder."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard

from sluice.client.demo_data import generate
from sluice.format.content_digests import BLAKE3, HMAC_SHA256, MIXED, digest_algorithm
from sluice.format.manifest import ContentDigest, Manifest
from sluice.server.committed.chunk_diff import ChunkDiff, diff_chunks
from sluice.server.committed.manifests import read_manifest
from sluice.server.committed.verify import verify_export
from sluice.server.errors import Interrupted
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.model import ChunkRecord, Job, Lease, NewJob, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.content_hasher import ContentHasher
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.planning.spec import ChunkingSpec, DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink, open_sink
from sluice.sinks.base import Sink
from tests.unit.exporting import export_to, with_middle_rows_changed

KEY = b"k" * 32  # export_to's content-digest key


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return generate(tmp_path / "src" / "events.parquet", 3_000, seed=4)


@pytest.fixture
def changed_source(tmp_path: Path, source: Path) -> Path:
    """`source` with rows inside the middle chunk (of three) changed."""
    return with_middle_rows_changed(source, tmp_path / "src")


def _plaintext(sink: Sink, manifest_key: str, path: str) -> bytes:
    folder = manifest_key.rpartition("/")[0]
    with sink.open(f"{folder}/{path}") as handle:
        stored: bytes = handle.read()
    return zstandard.ZstdDecompressor().decompressobj().decompress(stored)


def _recomputed(sink: Sink, manifest_key: str, path: str, recorded: str) -> str:
    """The chunk's content digest computed again from storage, with the algorithm its
    recorded digest's prefix names."""
    hasher = ContentHasher(KEY, digest_algorithm(recorded))
    hasher.update(_plaintext(sink, manifest_key, path))
    return hasher.text()


def _as_before_blake3(sink: Sink, manifest_key: str, old_chunks: slice = slice(None)) -> Manifest:
    """Store the export's manifest as a daemon from before keyed BLAKE3 would have written
    it: the chunks in `old_chunks` with HMAC-SHA256 digests of their plaintext (all: the
    manifest says "hmac-sha256"; some: a run resumed across the change, "mixed")."""
    manifest = read_manifest(sink, manifest_key)
    chunks = list(manifest.chunks)
    for i in range(len(chunks))[old_chunks]:
        chunk = chunks[i]
        hmac_of_plaintext = ContentHasher(KEY, HMAC_SHA256)
        hmac_of_plaintext.update(_plaintext(sink, manifest_key, chunk.path))
        chunks[i] = replace(chunk, content_digest=hmac_of_plaintext.text())
    algorithms = {digest_algorithm(c.content_digest) for c in chunks}
    algorithm = algorithms.pop() if len(algorithms) == 1 else MIXED
    assert manifest.content_digest is not None
    older = replace(
        manifest,
        chunks=tuple(chunks),
        content_digest=ContentDigest(algorithm, manifest.content_digest.key_id),
    )
    writer = sink.create(manifest_key, overwrite=True)
    writer.write(older.to_json())
    writer.commit()
    return read_manifest(sink, manifest_key)


def test_an_old_export_still_reads_verifies_and_recomputes(tmp_path: Path, source: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    key = export_to(sink, tmp_path, source, "old")
    new = read_manifest(sink, key)
    assert new.content_digest is not None and new.content_digest.algorithm == BLAKE3

    old = _as_before_blake3(sink, key)
    assert old.content_digest == ContentDigest(HMAC_SHA256, "key-1")
    assert all(c.content_digest.startswith("hmac-sha256:") for c in old.chunks)
    # verify checks sizes and sha256 only: rewriting the digests keeps the export whole.
    assert verify_export(sink, key).ok
    # Each digest recomputes from storage under the algorithm its prefix names.
    for old_chunk, new_chunk in zip(old.chunks, new.chunks, strict=True):
        assert _recomputed(sink, key, old_chunk.path, old_chunk.content_digest) == (
            old_chunk.content_digest
        )
        assert _recomputed(sink, key, new_chunk.path, new_chunk.content_digest) == (
            new_chunk.content_digest
        )


def test_two_old_exports_still_diff_by_content_digest(
    tmp_path: Path, source: Path, changed_source: Path
) -> None:
    sink = LocalSink(tmp_path / "out")
    first = _as_before_blake3(sink, export_to(sink, tmp_path, source, "a"))
    second = _as_before_blake3(sink, export_to(sink, tmp_path, source, "b"))
    changed = _as_before_blake3(sink, export_to(sink, tmp_path, changed_source, "c"))

    same = diff_chunks(first, second)
    assert (same.matched_by, same.added, same.removed, same.unchanged) == (
        "content_digest",
        (),
        (),
        3,
    )
    diff = diff_chunks(first, changed)
    _only_the_middle_chunk_changed(diff, "content_digest")


def _only_the_middle_chunk_changed(diff: ChunkDiff, matched_by: str) -> None:
    assert diff.matched_by == matched_by
    assert (
        [c.path for c in diff.added] == [c.path for c in diff.removed] == ["part-000001.jsonl.zst"]
    )
    assert diff.unchanged == 2


def test_an_old_export_beside_a_new_one_is_diffed_by_sha256(
    tmp_path: Path, source: Path, changed_source: Path
) -> None:
    sink = LocalSink(tmp_path / "out")
    old = _as_before_blake3(sink, export_to(sink, tmp_path, source, "a"))
    new = read_manifest(sink, export_to(sink, tmp_path, source, "b"))
    changed = read_manifest(sink, export_to(sink, tmp_path, changed_source, "c"))
    # Compared by content digest, the same content would look changed everywhere.
    assert not {c.content_digest for c in old.chunks} & {c.content_digest for c in new.chunks}

    for base, other in ((old, new), (new, old)):
        same = diff_chunks(base, other)
        assert (same.matched_by, same.added, same.removed, same.unchanged) == ("sha256", (), (), 3)
    diff = diff_chunks(old, changed)
    _only_the_middle_chunk_changed(diff, "sha256")


def test_an_export_resumed_across_the_change_is_diffed_by_sha256(
    tmp_path: Path, source: Path
) -> None:
    sink = LocalSink(tmp_path / "out")
    # Chunk 0 journalled by the old daemon, chunks 1 and 2 written after the upgrade.
    mixed = _as_before_blake3(sink, export_to(sink, tmp_path, source, "a"), slice(0, 1))
    new = read_manifest(sink, export_to(sink, tmp_path, source, "b"))
    assert mixed.content_digest is not None and mixed.content_digest.algorithm == MIXED
    assert [digest_algorithm(c.content_digest) for c in mixed.chunks] == [
        HMAC_SHA256,
        BLAKE3,
        BLAKE3,
    ]

    diff = diff_chunks(mixed, new)
    assert (diff.matched_by, diff.added, diff.removed, diff.unchanged) == ("sha256", (), (), 3)
    # The chunks' prefixes decide, not the manifest-level summary.
    claims_blake3 = replace(mixed, content_digest=ContentDigest(BLAKE3, "key-1"))
    assert diff_chunks(claims_blake3, new).matched_by == "sha256"


def _claimed(
    store: SQLiteJobStore, tmp_path: Path, source: Path, export_id: str
) -> tuple[Job, Lease]:
    """A new export of `source` (three chunks of 1,000 rows), claimed as a replica would."""
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
        chunking=ChunkingSpec(max_rows=1_000),
    )
    store.create(NewJob(id=export_id, spec=spec))
    claimed = store.claim("here", 60)
    assert claimed is not None and claimed[0].id == export_id
    return claimed


def test_a_run_resumed_across_the_change_keeps_its_journalled_hmac_chunks(
    tmp_path: Path, source: Path, store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            "allowed_source_roots": [source.parent],
            "allowed_roots": [tmp_path / "out"],
        },
        environ={},
    )
    context = ExecutionContext(settings, store, EventHub(), open_sink, KEY, "key-1", b"i" * 32)
    sink = LocalSink(tmp_path / "out")

    # The run stops (a graceful shutdown) right after its first chunk is journalled: no
    # later commit starts once the stop is set.
    job, lease = _claimed(store, tmp_path, source, "20260101T000000Z-resumed")
    first_run = ExportStop()
    record_chunk = store.record_chunk

    def record_then_shut_down(
        job_id: str, chunk: ChunkRecord, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        record_chunk(job_id, chunk, progress, lease=lease)
        first_run.shutdown()

    monkeypatch.setattr(store, "record_chunk", record_then_shut_down)
    with pytest.raises(Interrupted):
        execute(job, context, first_run, lease)
    monkeypatch.undo()
    journalled = store.chunks(job.id)
    assert [c.index for c in journalled] == [0]
    assert digest_algorithm(journalled[0].content_digest) == BLAKE3

    # As the daemon before keyed BLAKE3 would have journalled it: HMAC-SHA256 of the
    # chunk's plaintext, written into the job store's row.
    manifest_key = f"events/{job.id}/manifest.json"
    old_digests: dict[int, str] = {}
    for chunk in journalled:
        hmac_of_plaintext = ContentHasher(KEY, HMAC_SHA256)
        hmac_of_plaintext.update(_plaintext(sink, manifest_key, chunk.path))
        old_digests[chunk.index] = hmac_of_plaintext.text()
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        for index, digest in old_digests.items():
            updated = db.execute(
                "UPDATE chunks SET content_digest = ? WHERE job_id = ? AND idx = ?",
                (digest, job.id, index),
            ).rowcount
            assert updated == 1
    db.close()
    assert [c.content_digest for c in store.chunks(job.id)] == [old_digests[0]]

    # The upgraded daemon starts again and takes the export over where it stopped.
    store.expire_leases()
    resumed = store.claim("here", 60)
    assert resumed is not None and resumed[0].id == job.id
    resumed_job, resumed_lease = resumed
    assert execute(resumed_job, context, ExportStop(), resumed_lease).endswith(manifest_key)

    mixed = read_manifest(sink, manifest_key)
    assert mixed.content_digest == ContentDigest(MIXED, "key-1")
    # Chunk 0 is the journalled one, carried on as the store holds it.
    assert mixed.chunks[0].content_digest == old_digests[0]
    assert [digest_algorithm(c.content_digest) for c in mixed.chunks] == [
        HMAC_SHA256,
        BLAKE3,
        BLAKE3,
    ]
    for entry in mixed.chunks:
        assert _recomputed(sink, manifest_key, entry.path, entry.content_digest) == (
            entry.content_digest
        )
    assert verify_export(sink, manifest_key).ok

    fresh_job, fresh_lease = _claimed(store, tmp_path, source, "20260101T000001Z-fresh")
    fresh_key = f"events/{fresh_job.id}/manifest.json"
    execute(fresh_job, context, ExportStop(), fresh_lease)
    fresh = read_manifest(sink, fresh_key)
    assert fresh.content_digest == ContentDigest(BLAKE3, "key-1")
    # The same bytes stored: the resumed run's chunks are those of a run without a stop.
    assert [c.sha256 for c in fresh.chunks] == [c.sha256 for c in mixed.chunks]
    for base, other in ((mixed, fresh), (fresh, mixed)):
        diff = diff_chunks(base, other)
        assert (diff.matched_by, diff.added, diff.removed, diff.unchanged) == (
            "sha256",
            (),
            (),
            3,
        )
