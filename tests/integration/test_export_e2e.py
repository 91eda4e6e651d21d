"""End to end through a real daemon process: export, read back with plain tools, compare."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.format.temporal_text import temporal_as_text
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import chunk_files, load_manifest, read_export

pytestmark = pytest.mark.integration
ROWS = 30_000


@pytest.fixture
def source(daemon: Daemon) -> Path:
    return generate(daemon.sources / "events.parquet", ROWS, seed=11)


@pytest.fixture
def client(daemon: Daemon):  # type: ignore[no-untyped-def]
    with ExportClient(daemon.address) as c:
        yield c


def _export(client: ExportClient, daemon: Daemon, source: Path, **options: object) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="events", **options
    )
    created = client.create(spec)
    return client.wait(created.id, timeout=120)


def _ndjson_roundtrip(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as JSON lines hold it: dates and times as RFC 3339 text."""
    buffer = io.BytesIO()
    temporal_as_text(frame).write_ndjson(buffer)
    return pl.read_ndjson(io.BytesIO(buffer.getvalue()))


def test_jsonl_zstd_export_holds_every_record_once(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    finished = _export(client, daemon, source, chunk_bytes=256 * 1024)

    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["totals"]["records"] == ROWS == finished.progress.records
    assert manifest["totals"]["chunks"] == len(manifest["chunks"]) > 3
    assert chunk_files(finished.manifest_uri) == [c["path"] for c in manifest["chunks"]]
    exported = read_export(finished.manifest_uri)
    expected = _ndjson_roundtrip(pl.read_parquet(source))
    assert exported.equals(expected)


def test_manifest_records_the_contract_fields(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    finished = _export(client, daemon, source, chunk_rows=7_000, labels={"team": "data"})
    manifest = load_manifest(finished.manifest_uri)

    assert manifest["format_version"] == 1
    assert manifest["export_id"] == finished.id
    assert manifest["dataset"] == "events"
    assert manifest["parent_export_id"] is None
    assert manifest["source"]["format"] == "parquet"
    assert manifest["output"] == {
        "format": "jsonl",
        "compression": "zstd",
        "level": 3,
        "compression_applied": "stream",
        "encryption": {"scheme": "none", "recipients": []},
    }
    assert [f["name"] for f in manifest["schema"]] == pl.read_parquet_schema(source).names()
    assert [c["records"] for c in manifest["chunks"]] == [7000, 7000, 7000, 7000, 2000]
    ranges = [
        (c["source_range"]["start_row"], c["source_range"]["end_row"]) for c in manifest["chunks"]
    ]
    assert ranges == [(0, 7000), (7000, 14000), (14000, 21000), (21000, 28000), (28000, 30000)]
    for chunk in manifest["chunks"]:
        assert chunk["path"].startswith("part-") and chunk["path"].endswith(".jsonl.zst")
        assert chunk["content_digest"].startswith("blake3:")
    assert manifest["labels"] == {"team": "data"}
    assert manifest["created_at"] <= manifest["finished_at"]


@pytest.mark.parametrize(
    ("fmt", "compression", "suffix"),
    [
        ("parquet", "zstd", ".parquet"),
        ("csv", "gzip", ".csv.gz"),
        ("json", "none", ".json"),
        ("arrow", "zstd", ".arrow.zst"),
        ("jsonl", "gzip", ".jsonl.gz"),
    ],
)
def test_every_format_reads_back(client, daemon, source, fmt, compression, suffix) -> None:  # type: ignore[no-untyped-def]
    finished = _export(
        client, daemon, source, format=fmt, compression=compression, chunk_bytes=512 * 1024
    )
    manifest = load_manifest(finished.manifest_uri)
    assert all(c["path"].endswith(suffix) for c in manifest["chunks"])
    exported = read_export(finished.manifest_uri)
    original = pl.read_parquet(source)
    assert exported.height == ROWS
    if fmt in {"parquet", "arrow"}:
        assert exported.equals(original)
    else:
        assert exported["id"].to_list() == original["id"].to_list()
        assert exported["email"].to_list() == original["email"].to_list()
        assert exported["amount"].to_list() == original["amount"].to_list()


def test_query_selects_exactly_the_matching_rows(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = datetime(2026, 1, 1, tzinfo=UTC)
    finished = _export(
        client,
        daemon,
        source,
        format="parquet",
        columns=["id", "email", "amount", "created_at"],
        where="amount > 100 AND status <> 'failed'",
        time_column="created_at",
        since=since,
        until=until,
    )
    exported = read_export(finished.manifest_uri)
    original = pl.read_parquet(source)
    expected = original.filter(
        (pl.col("amount") > 100)
        & (pl.col("status") != "failed")
        & (pl.col("created_at") >= since)
        & (pl.col("created_at") < until)
    ).select("id", "email", "amount", "created_at")
    assert expected.height > 0
    assert exported.equals(expected)


def test_ids_filter(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    finished = _export(client, daemon, source, ids=["5", "17", "29999", "123456789"])
    assert read_export(finished.manifest_uri)["id"].to_list() == [5, 17, 29999]


def test_no_matching_rows_commits_an_empty_export(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    finished = _export(client, daemon, source, where="amount < -1")
    manifest = load_manifest(finished.manifest_uri)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert manifest["totals"] == {"records": 0, "chunks": 0, "stored_bytes": 0}
    assert manifest["chunks"] == []


def test_retried_create_returns_the_same_export(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="events")
    first = client.create(spec, request_id="nightly-2026-11-22")
    second = client.create(spec, request_id="nightly-2026-11-22")
    assert first.id == second.id
    client.wait(first.id, timeout=120)
    third = client.create(spec, request_id="nightly-2026-11-22")
    assert third.id == first.id and third.state == pb.EXPORT_STATE_SUCCEEDED
    assert len(list((daemon.exports / "events").iterdir())) == 1

    other = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="events", format="csv"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        client.create(other, request_id="nightly-2026-11-22")
    assert raised.value.violations[0].field == "request_id"


def test_watch_streams_snapshot_chunks_progress_and_final_state(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="events", chunk_rows=3000
    )
    created = client.create(spec)
    events = list(client.watch(created.id))

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "snapshot"
    assert kinds[-1] == "finished"
    assert events[-1].finished.state == pb.EXPORT_STATE_SUCCEEDED
    committed = [e.chunk_committed for e in events if e.HasField("chunk_committed")]
    # Every chunk after the snapshot is announced, in order: from the start when the
    # watch began before the first commit (on an idle machine, nearly always), else
    # from a chunk the snapshot already counts, however far the export had got.
    first = committed[0].index if committed else 10
    assert first <= events[0].snapshot.progress.chunks, events[0]
    assert [c.index for c in committed] == list(range(first, 10))
    assert sum(c.records for c in committed) == ROWS - first * 3000
    assert any(e.HasField("progress") for e in events) or events[0].snapshot.state != 1
    # Chunks commit while the next one is written; progress still never goes back.
    records = [e.progress.records for e in events if e.HasField("progress")]
    assert records == sorted(records)
    manifest = load_manifest(events[-1].finished.manifest_uri)
    for chunk in committed:
        assert manifest["chunks"][chunk.index]["sha256"] == chunk.sha256


def test_list_pages_and_filters(client, daemon, source) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for number in range(5):
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(daemon.exports),
            dataset="events",
            columns=["id"],
            labels={"batch": "odd" if number % 2 else "even"},
        )
        ids.append(client.create(spec).id)
    for export_id in ids:
        client.wait(export_id, timeout=120)

    page = client.list_page(page_size=2)
    assert len(page.exports) == 2 and page.next_page_token
    listed = [e.id for e in client.list(page_size=2)]
    assert listed == list(reversed(ids))
    odd = [e.id for e in client.list(labels={"batch": "odd"})]
    assert odd == [ids[3], ids[1]]
    assert [e.id for e in client.list(states=[pb.EXPORT_STATE_FAILED])] == []
