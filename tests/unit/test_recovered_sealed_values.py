"""A job store rebuilt from manifests (jobs/recovery.py) opens an encrypted export's
sealed values with the daemon's content-digest key. Under another key (a lost state
folder made a new one) the export is restored without its labels and time range — not
with the range's column and no bounds, which reads as every row — and a WARNING says
that the encrypted chains need a full export to start again."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.client.demo_data import generate
from sluice.format.manifest import Manifest, TimeRangeInfo, Watermark
from sluice.server.committed.sealed_values import ValueSealer, sealed_manifest
from sluice.server.jobs.recovery import recover_jobs
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import TimeRange
from sluice.sinks import LocalSink
from tests.unit.exporting import export_to

SINCE = datetime(2026, 1, 2, tzinfo=UTC)
UNTIL = datetime(2026, 2, 3, tzinfo=UTC)
EXPORT = "20260101T000000Z-a"


@pytest.fixture
def sealed_root(tmp_path: Path) -> Path:
    """An export whose manifest holds a sealed watermark, labels and time range, sealed
    under the key b"a" * 32."""
    source = generate(tmp_path / "src" / "events.parquet", 500, seed=3)
    key = export_to(LocalSink(tmp_path / "out"), tmp_path, source, EXPORT)
    path = tmp_path / "out" / key
    manifest = Manifest.from_json(path.read_bytes())
    manifest = sealed_manifest(
        replace(
            manifest,
            labels=(("about", "case-4711"),),
            watermark=Watermark("ts", "2026-01-05", "String"),
            query=replace(manifest.query, time_range=TimeRangeInfo("ts", SINCE, UNTIL)),
        ),
        ValueSealer(b"a" * 32),
    )
    path.write_bytes(manifest.to_json())
    return tmp_path / "out"


def test_recovered_under_the_sealing_key_the_labels_and_range_open(sealed_root: Path) -> None:
    store = SQLiteJobStore(":memory:")
    assert recover_jobs(store, (sealed_root,), ValueSealer(b"a" * 32)) == 1
    spec = store.get(EXPORT).spec
    assert spec.labels == (("about", "case-4711"),)
    assert spec.query.time_range == TimeRange("ts", SINCE, UNTIL)


def test_recovered_under_another_key_no_range_is_left_and_a_warning_names_full(
    sealed_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteJobStore(":memory:")
    with caplog.at_level(logging.WARNING, logger="sluice.jobs"):
        assert recover_jobs(store, (sealed_root,), ValueSealer(b"b" * 32)) == 1
    spec = store.get(EXPORT).spec
    assert spec.labels == () and spec.query.time_range is None
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"export {EXPORT} restored without its labels and time range" in m for m in messages)
    assert any(
        "sealed under another content-digest key" in m and "--mode full" in m and EXPORT in m
        for m in messages
    ), messages
