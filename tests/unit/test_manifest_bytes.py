"""The manifest's exact bytes for fixed inputs: the typed model writes what the format
has always stored (the examples in tests/unit/manifests/ were written by the dict-based
writer it replaced), and reads every one of them back to the same bytes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.client.demo_data import generate
from sluice.format.json_fields import ManifestError
from sluice.format.manifest import ChangeCounts, Manifest, Watermark
from sluice.server.execution.key_changes import KeyedChanges
from sluice.server.execution.manifest_writer import build_manifest
from sluice.server.execution.tombstones import StoredTombstones
from sluice.server.jobs.model import ChunkRecord
from sluice.server.keyindex.store import StoredIndex
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    QuerySpec,
    RedactionSpec,
    SourceSpec,
    TimeRange,
)
from sluice.server.settings import load_settings

EXAMPLES = Path(__file__).parent / "manifests"
SOURCE = "<source>"
CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FINISHED = CREATED + timedelta(minutes=3)
#: From the age specification's test keys.
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def _settings(root: Path, source: Path) -> object:
    return load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [source.parent],
        },
        environ={},
    )


def _chunks(extension: str, counters: tuple[tuple[str, int], ...]) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            index=i,
            path=f"part-{i:06d}.{extension}",
            records=100 + i,
            stored_bytes=2048 + i,
            sha256=f"{i:02d}" + "a" * 62,
            content_digest="hmac-sha256:" + f"{i:02d}" + "b" * 62,
            source_start=i * 100,
            source_end=(i + 1) * 100,
            committed_at=FINISHED,
            counters=counters,
            cursor_max=f"2025-02-0{i + 1}T00:00:00+00:00",
        )
        for i in range(3)
    ]


def _keyed_plan(tmp_path: Path) -> tuple[ExportPlan, bytes]:
    """Every part of the format: query, age recipients, redaction, a parent and its
    watermark, a key index and tombstones."""
    source = generate(tmp_path / "sources" / "events.parquet", 200)
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(tmp_path / "exports"), "events"),
        query=QuerySpec(
            columns=("id", "email", "created_at", "amount", "device"),
            where="amount > 5",
            time_range=TimeRange("created_at", since=CREATED - timedelta(days=30), until=None),
            ids=("1", "2", "3"),
        ),
        output=OutputSpec("csv", "gzip", level=9),
        chunking=ChunkingSpec(target_bytes=32 * 1024),
        labels=(("team", "billing"), ("run", "nightly")),
        redaction=RedactionSpec(level="basic"),
        encryption=EncryptionSpec(age_recipients=(RECIPIENT,)),
        incremental=IncrementalSpec("full", cursor="created_at", lookback_seconds=60, key=("id",)),
    )
    plan = build_plan(spec, _settings(tmp_path, source), "exp-2", owner="")  # type: ignore[arg-type]
    return plan, str(source).encode()


def _keyed_manifest(tmp_path: Path) -> bytes:
    from dataclasses import replace

    from sluice.server.committed.catalog import CommittedExport
    from sluice.server.planning.incremental_plan import IncrementPlan

    plan, source = _keyed_plan(tmp_path)
    parent = CommittedExport(
        "exp-1", "events", "events/exp-1/manifest.json", "", "", None, 0, 0, 0, None
    )
    since = Watermark(
        "created_at", "2025-01-01T00:00:00+00:00", "Datetime(time_unit='us', time_zone='UTC')"
    )
    plan = replace(
        plan,
        increment=IncrementPlan("incremental", parent, since, "created_at", None, ("id",)),
    )
    keyed = KeyedChanges(
        index=StoredIndex("index.arrows", 300, 4096, "c" * 64),
        key_id="sha256:0123456789abcdef",
        counts=ChangeCounts(inserted=5, updated=2, deleted=1, unchanged=292),
        selection=None,
        tombstones=StoredTombstones(
            "tombstones.csv.gz.age", 1, 300, "d" * 64, "hmac-sha256:" + "e" * 64
        ),
    )
    counters = (("mask/email", 3), ("hash/phone", 1), (SKIPPED_ROWS, 0))
    manifest = build_manifest(
        plan,
        _chunks("csv.gz.age", counters),
        created_at=CREATED,
        finished_at=FINISHED,
        digest_key_id="key-1",
        keyed=keyed,
    )
    return manifest.to_json().replace(source, SOURCE.encode())


def _csv_manifest(tmp_path: Path) -> bytes:
    """A CSV source with column types that skips bad rows, no cursor, no key."""
    source = tmp_path / "sources" / "events.csv"
    source.parent.mkdir(parents=True)
    source.write_text("id,amount,day\n1,2.5,2025-01-01\nx,3,2025-01-02\n")
    spec = ExportSpec(
        source=SourceSpec(
            str(source), on_bad_rows="skip", schema=(("id", "int64"), ("day", "date"))
        ),
        destination=DestinationSpec(str(tmp_path / "exports"), "events"),
        output=OutputSpec("jsonl", "zstd"),
    )
    plan = build_plan(spec, _settings(tmp_path, source), "exp-3", owner="")  # type: ignore[arg-type]
    manifest = build_manifest(
        plan,
        _chunks("jsonl.zst", ((SKIPPED_ROWS, 1),)),
        created_at=CREATED,
        finished_at=FINISHED,
        digest_key_id="key-1",
    )
    return manifest.to_json().replace(str(source).encode(), SOURCE.encode())


CASES = {"keyed.json": _keyed_manifest, "csv.json": _csv_manifest}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_writer_stores_the_same_bytes(name: str, tmp_path: Path) -> None:
    assert CASES[name](tmp_path) == (EXAMPLES / name).read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_stored_manifest_reads_back_to_the_same_bytes(name: str) -> None:
    stored = (EXAMPLES / name).read_bytes()
    assert Manifest.from_json(stored).to_json() == stored


def test_a_partial_manifest_loads_with_empty_defaults() -> None:
    """What older or hand-made manifests may lack reads as empty, totals as the sums."""
    chunk = {"index": 0, "path": "part-000000.jsonl", "records": 2, "stored_bytes": 9}
    manifest = Manifest.from_json(json.dumps({"chunks": [{**chunk, "sha256": "ab"}]}))
    assert manifest.export_id == "" and manifest.created_at is None
    assert manifest.totals.records == 2 and manifest.totals.chunks == 1
    assert manifest.output.compression_applied == "stream"
    assert manifest.key_index is None and manifest.watermark is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"export_id": "e"}', "no list of chunks"),
        (b'{"chunks": [{"index": 0, "path": "p"}]}', "chunks[0].records is missing"),
        (b'{"chunks": [], "totals": {"records": "3"}}', "totals.records must be an integer"),
        (b'{"chunks": [], "created_at": "yesterday"}', "created_at must be an ISO 8601 time"),
        (b'{"chunks": [], "key_index": {"rows": 3}}', "key_index.path is missing"),
    ],
)
def test_a_malformed_manifest_is_one_error(document: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        Manifest.from_json(document)


def test_the_format_imports_without_polars_pyarrow_or_fsspec() -> None:
    """The client's reading path (manifest, signatures, age, zip) is light to install."""
    modules = ", ".join(
        f"sluice.format.{m}"
        for m in ("manifest", "layout", "signatures", "age_reader", "zip_reader", "bech32")
    )
    script = (
        f"import sys, {modules}\n"
        "heavy = {'polars', 'pyarrow', 'fsspec', 'duckdb', 'grpc'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
