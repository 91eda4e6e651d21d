"""The job the WatchExport unit tests watch (created in a real store, never run), and the
service they watch it through."""

from __future__ import annotations

from pathlib import Path

from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, NewJob
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink


def watched_job(store: JobStore, tmp_path: Path) -> Job:
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "never-read.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "exports"), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20261206T000000Z-watched", spec=spec, created_by="alice"))
    return job


def watch_service(tmp_path: Path, store: JobStore, hub: EventHub, poll: float) -> ExportService:
    """An ExportService over `store` and `hub` whose watchers' store reads come every
    `poll` seconds (job_store_poll_seconds)."""
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "job_store_poll_seconds": poll}, environ={}
    )
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    return ExportService(settings, store, ExportRunner(context), hub)
