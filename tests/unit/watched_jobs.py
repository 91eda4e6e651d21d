"""The job the WatchExport unit tests watch (created in a real store, never run), and the
service they watch it through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, JobState, NewJob
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import Principal
from sluice.server.service.events import EventHub, JobEvent, StateChanged
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


def watching(
    service: ExportService, job: Job, name: str, principal: Principal
) -> tuple[threading.Thread, list[JobEvent]]:
    """A watcher of `job` on its own thread, and the events it has been sent so far."""
    events: list[JobEvent] = []

    def watch() -> None:
        events.extend(service.watch(job.id, lambda: True, principal))

    thread = threading.Thread(target=watch, name=name, daemon=True)
    thread.start()
    return thread, events


def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def states(events: list[JobEvent]) -> list[JobState]:
    return [e.state for e in events if isinstance(e, StateChanged)]
