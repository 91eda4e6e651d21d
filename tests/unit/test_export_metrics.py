"""The metrics that are not reached through a daemon run: job store gauges as the store
watch last read them (and `sluice_job_store_up` 0 when it did not answer), redaction counters
per rule label, dataset labels, and a telemetry failure that never fails an export."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sluice.server.job_store_watch import JobStoreWatch
from sluice.server.jobs.model import JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.metrics.export_metrics import ExportMetrics, JobStoreCollector
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.pipeline.results import ChunkResult
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.telemetry import report_safely


def _chunk(records: int, counters: tuple[tuple[str, int], ...] = ()) -> ChunkResult:
    return ChunkResult(
        index=0,
        path="part-000000.jsonl",
        records=records,
        stored_bytes=7,
        sha256="0" * 64,
        content_digest="hmac-sha256:" + "0" * 64,
        source_start=0,
        source_end=records,
        committed_at=datetime.now(UTC),
        counters=counters,
        commit_seconds=0.01,
    )


def test_job_store_gauges_and_up(tmp_path: Path) -> None:
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "in.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
    )
    for number in range(3):
        store.create(NewJob(id=f"20260101T000000Z-job{number}", spec=spec))
    store.transition("20260101T000000Z-job0", {JobState.QUEUED}, JobState.RUNNING)
    watch = JobStoreWatch(store, on_ready=lambda _ready: None, on_newer_schema=print)
    watch.check_once()
    registry = CollectorRegistry()
    registry.register(JobStoreCollector(watch.reading))
    assert registry.get_sample_value("sluice_exports_running") == 1
    assert registry.get_sample_value("sluice_exports_queued") == 2
    assert registry.get_sample_value("sluice_job_store_up") == 1
    checked = registry.get_sample_value("sluice_job_store_last_check_timestamp_seconds")
    assert checked is not None and checked > 0
    store.close()
    watch.check_once()
    # Down: said so, with the last known counts and when they were read.
    assert registry.get_sample_value("sluice_job_store_up") == 0
    assert registry.get_sample_value("sluice_exports_running") == 1
    assert registry.get_sample_value("sluice_job_store_last_check_timestamp_seconds") == checked


def test_redaction_counters_per_rule_label_and_dataset_labels() -> None:
    registry = CollectorRegistry()
    metrics = ExportMetrics(registry, dataset_label=True)
    counters = (("EMAIL/email", 3), ("EMAIL/message", 2), ("PHONE/phone", 0), (SKIPPED_ROWS, 4))
    metrics.chunk_committed("events", _chunk(10, counters))
    metrics.chunk_committed("orders", _chunk(5))
    value = registry.get_sample_value
    assert value("sluice_redacted_values_total", {"entity": "EMAIL"}) == 5
    assert value("sluice_redacted_values_total", {"entity": "PHONE"}) is None
    assert value("sluice_records_exported_total", {"dataset": "events"}) == 10
    assert value("sluice_records_exported_total", {"dataset": "orders"}) == 5
    assert value("sluice_chunk_commit_seconds_count") == 2


def test_a_failing_report_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: object) -> None:
        raise ValueError("secret-looking detail")

    with caplog.at_level(logging.WARNING, logger="sluice.telemetry"):
        report_safely(broken, "events", _chunk(1))
    assert "ValueError" in caplog.text and "secret-looking" not in caplog.text
