"""The job the WatchExport unit tests watch: created in a real store, never run."""

from __future__ import annotations

from pathlib import Path

from sluice.server.jobs.model import Job, NewJob
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec


def watched_job(store: JobStore, tmp_path: Path) -> Job:
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "never-read.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "exports"), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20261206T000000Z-watched", spec=spec, created_by="alice"))
    return job
