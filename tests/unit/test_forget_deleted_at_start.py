"""A daemon that starts on a job store written by an earlier Sluice forgets what the jobs
of exports deleted then still hold (JobStore.forget_deleted): a privacy team that deleted
an export before stores forgot gets the same result as one deleting it now."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.server.jobs import Job, JobError, JobState, NewJob, Progress, SQLiteJobStore
from sluice.server.jobs.recovery import open_job_store
from sluice.server.settings import load_settings
from tests.unit.test_job_store_contract import EMAIL, personal_chunk, personal_spec


def test_opening_the_store_forgets_what_earlier_deletes_kept(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [tmp_path / "exports"]}
    )
    done = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    earlier = SQLiteJobStore(settings.job_store_path)
    earlier.restore(
        Job(
            id="j1",
            spec=personal_spec(),
            state=JobState.DELETED,
            created_at=done,
            updated_at=done,
            finished_at=done,
            progress=Progress(records=100, chunks=1),
            manifest_uri="file:///exports/users/j1/manifest.json",
        ),
        [personal_chunk(0)],
    )
    earlier.close()
    assert EMAIL.encode() in settings.job_store_path.read_bytes()

    store = open_job_store(settings)
    try:
        job = store.get("j1")
        assert job.spec.query.where == "email = ? AND age > ?"
        assert store.chunks("j1")[0].cursor_max is None
        assert (job.state, job.finished_at) == (JobState.DELETED, done)
    finally:
        store.close()
    files = sorted(settings.job_store_path.parent.glob("jobs.sqlite3*"))
    assert [f.name for f in files if EMAIL.encode() in f.read_bytes()] == []


def test_the_start_log_says_what_was_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Deleted by a Sluice that masked the request but kept the error's message: the
    # start forgets that message, and its log does not claim request values were.
    (tmp_path / "exports").mkdir()
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [tmp_path / "exports"]}
    )
    earlier = SQLiteJobStore(settings.job_store_path)
    earlier.create(NewJob(id="j1", spec=personal_spec()))
    earlier.transition("j1", {JobState.QUEUED}, JobState.FAILED, error=JobError("INTERNAL", "x"))
    earlier.mark_deleted("j1", {JobState.FAILED})
    earlier.close()
    with sqlite3.connect(settings.job_store_path) as db:
        db.execute(f"UPDATE jobs SET error_message = 'no rows where {EMAIL}'")
    db.close()

    with caplog.at_level(logging.INFO, logger="sluice.jobs"):
        open_job_store(settings).close()
    [said] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job store: 1")]
    assert "error messages" in said
