"""The manifest of a real plan and a real pipeline run: every contract field, written once
and atomically, never overwritten by a different one, and free of secrets."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sluice.client.demo_data import generate
from sluice.format.manifest import FORMAT_VERSION, ContentDigest, Manifest
from sluice.server.committed.catalog import CommittedExport
from sluice.server.errors import DataLoss, FailedPrecondition
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline.encoders import arrow_schema
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.results import ChunkResult
from sluice.server.planning.incremental_plan import IncrementPlan
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    QuerySpec,
    SourceSpec,
    TimeRange,
)
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink, MemorySink
from sluice.sinks.local import TEMP_MARKER

KEY = b"manifest-test-key:\x00\xff-0123456789abcdef"
CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FINISHED = CREATED + timedelta(minutes=3)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[ChunkRecord] = []

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: object) -> None:
        self.chunks.append(chunk)

    def progress(self, progress: object) -> None:
        pass


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("manifest") / "sources" / "events.parquet", 1500)


def _plan(source: Path, export_id: str = "exp-1", **fields: Any) -> ExportPlan:
    root = source.parent.parent
    settings = load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [source.parent],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        # Planned as a local folder (never written: each test runs into a MemorySink).
        destination=DestinationSpec(str(root / "exports"), "events"),
        chunking=ChunkingSpec(target_bytes=32 * 1024),
        **fields,
    )
    return build_plan(spec, settings, export_id, owner="")


def _run(plan: ExportPlan, sink: Any) -> list[ChunkRecord]:
    recorder = Recorder()
    options = PipelineOptions(batch_rows=256, queue_depth=2, zstd_threads=0, content_key=KEY)
    run_pipeline(plan.pipeline, sink, ResumePoint(), recorder, threading.Event(), options)
    return recorder.chunks


def _manifest(plan: ExportPlan, chunks: list[ChunkRecord], **extra: Any) -> Manifest:
    return build_manifest(
        plan, chunks, created_at=CREATED, finished_at=FINISHED, digest_key_id="key-1", **extra
    )


def _query_plan(source: Path) -> ExportPlan:
    return _plan(
        source,
        query=QuerySpec(
            columns=("id", "email", "created_at", "amount", "device"),
            where="amount > 5",
            time_range=TimeRange("created_at", since=SINCE, until=UNTIL),
            ids=tuple(str(i) for i in range(0, 1500, 2)),
        ),
        output=OutputSpec("csv", "gzip", level=9),
        labels=(("team", "billing"), ("run", "nightly")),
    )


def test_manifest_fields_of_a_real_run(source: Path) -> None:
    plan = _query_plan(source)
    sink = MemorySink()
    chunks = _run(plan, sink)
    assert len(chunks) > 1
    parent = CommittedExport(
        "exp-0", "events", "events/exp-0/manifest.json", "", "", None, 0, 0, 0, None
    )
    manifest = _manifest(
        replace(plan, increment=IncrementPlan("incremental", parent)), chunks
    ).to_dict()

    assert manifest["format_version"] == FORMAT_VERSION == 1
    assert manifest["export_id"] == "exp-1"
    assert manifest["dataset"] == "events"
    assert manifest["parent_export_id"] == "exp-0"
    assert manifest["created_at"] == "2025-03-01T12:00:00+00:00"
    assert manifest["finished_at"] == "2025-03-01T12:03:00+00:00"
    assert manifest["source"] == {
        "uri": str(source),
        "format": "parquet",
        "files": 1,
        "on_bad_rows": "fail",
        "skipped_rows": 0,
    }
    assert manifest["query"] == {
        "columns": ["id", "email", "created_at", "amount", "device"],
        "where": "amount > 5",
        "time_range": {
            "column": "created_at",
            "since": "2024-01-01T00:00:00+00:00",
            "until": "2030-01-01T00:00:00+00:00",
        },
        # The ids themselves can be many and sensitive: only their count is recorded.
        "ids": {"column": "id", "count": 750},
    }
    assert manifest["output"] == {
        "format": "csv",
        "compression": "gzip",
        "level": 9,
        "compression_applied": "stream",
        "encryption": {"scheme": "none", "recipients": []},
    }
    expected_schema = arrow_schema(plan.schema)
    assert [f["name"] for f in manifest["schema"]] == [
        "id",
        "email",
        "created_at",
        "amount",
        "device",
    ]
    assert manifest["schema"] == [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in expected_schema
    ]
    assert manifest["schema"][2]["type"] == "timestamp[us, tz=UTC]"
    assert manifest["totals"] == {
        "records": sum(c.records for c in chunks),
        "chunks": len(chunks),
        "stored_bytes": sum(c.stored_bytes for c in chunks),
    }
    assert 0 < manifest["totals"]["records"] < 750
    assert manifest["watermark"] is None
    assert manifest["redaction"] == {"level": "none", "rules": [], "counts": {}}
    assert manifest["content_digest"] == {"algorithm": "blake3", "key_id": "key-1"}
    assert manifest["labels"] == {"team": "billing", "run": "nightly"}

    assert [c["index"] for c in manifest["chunks"]] == list(range(len(chunks)))
    for entry, chunk in zip(manifest["chunks"], chunks, strict=True):
        assert entry == {
            "index": chunk.index,
            "path": plan.pipeline.chunk_name(chunk.index),
            "records": chunk.records,
            "stored_bytes": chunk.stored_bytes,
            "sha256": chunk.sha256,
            "content_digest": chunk.content_digest,
            "source_range": {"start_row": chunk.source_start, "end_row": chunk.source_end},
        }
        # The path is relative to the manifest's folder and verifies with sha256.
        with sink.open(f"{plan.prefix}/{entry['path']}") as handle:
            data = handle.read()
        assert len(data) == entry["stored_bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["content_digest"].startswith("blake3:")
    ranges = [
        (c["source_range"]["start_row"], c["source_range"]["end_row"]) for c in manifest["chunks"]
    ]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(ranges))


def test_manifest_of_a_plain_export(source: Path) -> None:
    plan = _plan(source, output=OutputSpec("parquet", "none"))
    chunks = _run(plan, MemorySink())
    manifest = _manifest(plan, chunks).to_dict()
    assert manifest["parent_export_id"] is None
    assert manifest["query"] == {
        "columns": plan.schema.names(),
        "where": None,
        "time_range": None,
        "ids": None,
    }
    assert manifest["output"]["level"] is None
    assert manifest["output"]["compression_applied"] == "internal"
    assert manifest["labels"] == {}
    assert manifest["totals"]["records"] == 1500
    assert [c["path"] for c in manifest["chunks"]][:2] == [
        "part-000000.parquet",
        "part-000001.parquet",
    ]


def test_manifest_of_an_export_without_chunks(source: Path) -> None:
    plan = _plan(source, query=QuerySpec(where="id < 0"))
    manifest = _manifest(plan, _run(plan, MemorySink())).to_dict()
    assert manifest["chunks"] == []
    assert manifest["totals"] == {"records": 0, "chunks": 0, "stored_bytes": 0}


def test_the_digest_algorithm_is_the_chunks_one_or_mixed(source: Path) -> None:
    plan = _plan(source)
    chunks = _run(plan, MemorySink())
    # Chunks journalled by a daemon from before keyed BLAKE3 keep their HMAC-SHA256 digests.
    older = [replace(c, content_digest="hmac-sha256:" + "ab" * 32) for c in chunks]
    resumed = [*older[:1], *chunks[1:]]
    for journalled, algorithm in ((chunks, "blake3"), (older, "hmac-sha256"), (resumed, "mixed")):
        manifest = Manifest.from_dict(_manifest(plan, journalled).to_dict())
        assert manifest.content_digest == ContentDigest(algorithm, "key-1")
        assert [c.content_digest for c in manifest.chunks] == [c.content_digest for c in journalled]
    # An export without chunks names the algorithm its chunks would have had.
    empty = _manifest(plan, [])
    assert empty.content_digest == ContentDigest("blake3", "key-1")


def test_redaction_counts_are_summed_over_chunks(source: Path) -> None:
    plan = _plan(source)
    chunks = _run(plan, MemorySink())
    counted = [
        replace(chunks[0], counters=(("mask/email", 3), ("hash/phone", 1))),
        replace(chunks[1], counters=(("mask/email", 4), ("mask/ip", 2))),
    ]
    manifest = _manifest(plan, counted).to_dict()
    assert manifest["redaction"]["counts"] == {"mask": {"email": 7, "ip": 2}, "hash": {"phone": 1}}


def test_source_credentials_never_reach_the_manifest(source: Path) -> None:
    plan = _plan(source)
    leaky = replace(plan, source=replace(plan.source, uri="s3://alice:hunter2@bucket/e.parquet"))
    body = json.dumps(_manifest(leaky, _run(plan, MemorySink())).to_dict())
    assert "hunter2" not in body
    assert "alice:" not in body
    assert "s3://(credentials removed)@bucket/e.parquet" in body


# --- write_manifest --------------------------------------------------------------------


def _stored(sink: Any, key: str) -> bytes:
    with sink.open(key) as handle:
        data: bytes = handle.read()
    return data


def test_write_manifest_stores_valid_json_without_secrets(source: Path) -> None:
    plan = _query_plan(source)
    sink = MemorySink()
    manifest = _manifest(plan, _run(plan, sink))

    write_manifest(sink, plan.manifest_key, manifest)

    body = _stored(sink, plan.manifest_key)
    assert plan.manifest_key == f"events/{plan.export_id}/manifest.json"
    assert json.loads(body) == manifest.to_dict()
    assert body.endswith(b"\n")
    # The digest key, in any common spelling, never appears.
    for spelling in (KEY, KEY.hex().encode(), base64.b64encode(KEY), KEY[:16]):
        assert spelling not in body
    assert b'"algorithm": "blake3"' in body


def test_a_folder_where_the_manifest_goes_blocks_the_commit_by_name(
    source: Path, tmp_path: Path
) -> None:
    # Not "no manifest at ...": the manifest is not missing, its place is taken.
    plan = _plan(source)
    sink = LocalSink(tmp_path)
    manifest = _manifest(plan, _run(plan, sink))
    (tmp_path / plan.manifest_key).mkdir(parents=True)

    with pytest.raises(FailedPrecondition) as blocked:
        write_manifest(sink, plan.manifest_key, manifest)

    assert plan.manifest_key in str(blocked.value)
    assert (tmp_path / plan.manifest_key).is_dir()


def test_second_write_with_the_same_chunks_is_a_no_op(source: Path) -> None:
    plan = _plan(source)
    sink = MemorySink()
    chunks = _run(plan, sink)
    write_manifest(sink, plan.manifest_key, _manifest(plan, chunks))
    first = _stored(sink, plan.manifest_key)

    # A retry after a crash builds the manifest again, with a later finish time.
    retry = build_manifest(
        plan,
        chunks,
        created_at=CREATED,
        finished_at=FINISHED + timedelta(hours=1),
        digest_key_id="key-1",
    )
    write_manifest(sink, plan.manifest_key, retry)

    assert _stored(sink, plan.manifest_key) == first
    assert [o.key for o in sink.list(plan.prefix + "/")].count(plan.manifest_key) == 1


def test_second_write_with_different_chunks_is_data_loss(source: Path) -> None:
    plan = _plan(source)
    sink = MemorySink()
    chunks = _run(plan, sink)
    write_manifest(sink, plan.manifest_key, _manifest(plan, chunks))
    first = _stored(sink, plan.manifest_key)

    changed = [*chunks[:-1], replace(chunks[-1], sha256="0" * 64)]
    for different in (_manifest(plan, changed), _manifest(plan, chunks[:-1])):
        with pytest.raises(DataLoss) as raised:
            write_manifest(sink, plan.manifest_key, different)
        assert raised.value.code == "DATA_LOSS"
        assert plan.manifest_key in raised.value.message
        assert _stored(sink, plan.manifest_key) == first


def test_write_manifest_on_local_storage_is_atomic_and_final(source: Path, tmp_path: Path) -> None:
    plan = _plan(source)
    sink = LocalSink(tmp_path / "out")
    chunks = _run(plan, sink)
    manifest = _manifest(plan, chunks)

    write_manifest(sink, plan.manifest_key, manifest)
    write_manifest(sink, plan.manifest_key, manifest)
    with pytest.raises(DataLoss):
        write_manifest(sink, plan.manifest_key, _manifest(plan, chunks[1:]))

    folder = tmp_path / "out" / plan.prefix
    assert json.loads((folder / "manifest.json").read_text()) == manifest.to_dict()
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([*(c.path for c in chunks), "manifest.json"])
    assert not any(TEMP_MARKER in name for name in names)
    for entry in manifest.chunks:
        assert hashlib.sha256((folder / entry.path).read_bytes()).hexdigest() == entry.sha256
