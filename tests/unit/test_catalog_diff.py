"""A dataset's exports found from storage alone, and chunk-level diffs of two exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.client.demo_data import generate
from sluice.server.committed.catalog import committed_exports, latest_export
from sluice.server.committed.chunk_diff import diff_chunks
from sluice.server.committed.manifests import read_manifest
from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.sinks import LocalSink
from tests.unit.exporting import export_to, with_middle_rows_changed


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return generate(tmp_path / "src" / "events.parquet", 3_000, seed=4)


def test_catalog_lists_committed_exports_only(tmp_path: Path, source: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    export_to(sink, tmp_path, source, "20260101T000000Z-a")
    export_to(sink, tmp_path, source, "20260102T000000Z-b", parent_export_id="20260101T000000Z-a")
    export_to(sink, tmp_path, source, "20260101T000000Z-x", dataset="other")
    # An export folder without a manifest is not committed.
    writer = sink.create("events/20260103T000000Z-c/part-000000.jsonl.zst")
    writer.write(b"half")
    writer.commit()

    exports = committed_exports(sink, "events")
    assert [e.export_id for e in exports] == ["20260101T000000Z-a", "20260102T000000Z-b"]
    assert exports[1].parent_export_id == "20260101T000000Z-a"
    assert exports[0].records == 3_000 and exports[0].chunks == 3
    latest = latest_export(sink, "events", "")
    assert latest is not None and latest.export_id == "20260102T000000Z-b"
    assert latest_export(sink, "missing", "") is None


def test_identical_content_diffs_to_nothing_and_changes_show(tmp_path: Path, source: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    first = read_manifest(sink, export_to(sink, tmp_path, source, "a"))
    second = read_manifest(sink, export_to(sink, tmp_path, source, "b"))
    diff = diff_chunks(first, second)
    assert (diff.matched_by, diff.added, diff.removed, diff.unchanged) == (
        "content_digest",
        (),
        (),
        3,
    )

    # Change rows inside the middle chunk only.
    changed_path = with_middle_rows_changed(source, tmp_path / "src")
    third = read_manifest(sink, export_to(sink, tmp_path, changed_path, "c"))
    diff = diff_chunks(first, third)
    assert [c.path for c in diff.added] == ["part-000001.jsonl.zst"]
    assert [c.path for c in diff.removed] == ["part-000001.jsonl.zst"]
    assert diff.unchanged == 2
    assert diff.added_bytes == third.chunks[1].stored_bytes


def test_different_keys_fall_back_to_stored_digests(tmp_path: Path, source: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    first = read_manifest(sink, export_to(sink, tmp_path, source, "a"))
    other = read_manifest(
        sink, export_to(sink, tmp_path, source, "b", key=b"z" * 32, key_id="key-2")
    )
    diff = diff_chunks(first, other)
    assert diff.matched_by == "sha256"
    assert diff.unchanged == 3


def test_bad_diffs_are_refused(tmp_path: Path, source: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    first = read_manifest(sink, export_to(sink, tmp_path, source, "a"))
    elsewhere = read_manifest(sink, export_to(sink, tmp_path, source, "b", dataset="other"))
    with pytest.raises(InvalidArgument):
        diff_chunks(first, first)
    with pytest.raises(FailedPrecondition):
        diff_chunks(first, elsewhere)
