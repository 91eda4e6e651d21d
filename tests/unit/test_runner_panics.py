"""A Rust panic inside Polars or Arrow (pyo3's PanicException, a BaseException) fails
the export it happened in; the runner's worker survives and runs the next export."""

from __future__ import annotations

import time
from pathlib import Path

import polars.exceptions
import pytest

from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service import runner as runner_module
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink


def _wait_final(store: SQLiteJobStore, job_id: str) -> Job:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.state.final:
            return job
        time.sleep(0.05)
    raise AssertionError(f"export {job_id} is still {store.get(job_id).state}")


def test_a_panic_fails_its_export_and_the_worker_runs_the_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def execute(job: Job, context: ExecutionContext, stop: object, lease: object) -> str:
        if job.id.endswith("panics"):
            raise polars.exceptions.PanicException("not yet implemented: secret-value")
        return f"{tmp_path}/events/{job.id}/manifest.json"

    monkeypatch.setattr(runner_module, "execute", execute)
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "max_concurrent_exports": 1}, environ={}
    )
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "x.parquet")),
        destination=DestinationSpec(uri=str(tmp_path), dataset="events"),
    )
    panics, _ = store.create(NewJob(id="20260101T000000Z-panics", spec=spec))
    after, _ = store.create(NewJob(id="20260101T000001Z-after", spec=spec))
    context = ExecutionContext(
        settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
    )
    runner = ExportRunner(context)
    runner.start()
    try:
        runner.submit(panics.id)
        runner.submit(after.id)
        failed = _wait_final(store, panics.id)
        succeeded = _wait_final(store, after.id)
    finally:
        runner.shutdown(5)

    assert failed.state == JobState.FAILED
    assert failed.error is not None and failed.error.code == "INTERNAL"
    assert "secret-value" not in failed.error.message
    assert succeeded.state == JobState.SUCCEEDED
