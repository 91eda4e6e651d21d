"""Two increments of one chain both queued (the first resumed after the second was
created; or created before the job store refused a second one): the run-time check
catches the second while the first runs. The refusal is transient (IncrementRunning):
nothing of it is written, so the runner puts it back in the queue with the normal
backoff instead of failing it for good; once the first committed, it runs from it.
In-process, real executor and runner policy, real SQLite store and local folders."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.server.errors import is_transient
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.increment_chains import IncrementRunning
from sluice.server.jobs.model import JobError, JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.service.events import EventHub
from sluice.sinks import open_sink
from sluice.sinks.base import Sink
from tests.integration.helpers import load_manifest
from tests.unit.local_runs import local_run


def _spec(source: Path, out: Path, mode: str) -> ExportSpec:
    return ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(out), dataset="events"),
        output=OutputSpec(format="jsonl"),
        incremental=IncrementalSpec(mode=mode, key=("id",)),
    )


def test_a_second_increment_refused_at_its_run_is_transient_and_runs_later(
    tmp_path: Path,
) -> None:
    run = local_run(tmp_path, 1_000)
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")

    def opener(uri: str, *, profile: object = None) -> Sink:
        return open_sink(uri, profile=profile)  # type: ignore[arg-type]

    context = ExecutionContext(
        run.settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32
    )
    try:
        store.create(NewJob(id="20260101T000000Z-night1", spec=_spec(run.source, run.out, "full")))
        night1 = store.claim("here", 60)
        assert night1 is not None
        execute(night1[0], context, threading.Event(), night1[1])
        # Both queued: the first cancelled, the second created, the first resumed (the
        # store's create refuses a second increment of a queued or running one).
        for name in ("night2", "night2b"):
            spec = _spec(run.source, run.out, "incremental")
            store.create(NewJob(id=f"20260102T000000Z-{name}", spec=spec))
            if name == "night2":
                store.transition(f"20260102T000000Z-{name}", {JobState.QUEUED}, JobState.CANCELLED)
        store.transition("20260102T000000Z-night2", {JobState.CANCELLED}, JobState.QUEUED)
        first = store.claim("here", 60)
        second = store.claim("elsewhere", 60)
        assert first is not None and second is not None
        with pytest.raises(IncrementRunning, match=f"export {first[0].id}, .* is running") as got:
            execute(second[0], context, threading.Event(), second[1])
        assert is_transient(got.value)
        assert got.value.code == "FAILED_PRECONDITION"
        assert not (run.out / "events" / second[0].id).exists()  # nothing written
        # What the runner does with a transient failure: back to the queue for later.
        error = JobError(got.value.code, got.value.message, True)
        store.retry_later(second[1], error, datetime.now(UTC))
        execute(first[0], context, threading.Event(), first[1])
        store.transition(first[0].id, {JobState.RUNNING}, JobState.SUCCEEDED, lease=first[1])
        # Retried once the first ended, it runs against the parent the first committed.
        again = store.claim("elsewhere", 60)
        assert again is not None and again[0].id == second[0].id
        uri = execute(again[0], context, threading.Event(), again[1])
        assert load_manifest(uri)["parent_export_id"] == first[0].id
    finally:
        store.close()
