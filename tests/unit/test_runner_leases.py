"""The runner under leases, in one process on a real SQLite store (the export itself is
replaced by a stand-in that waits for its stop signal): a run whose lease is taken over
stops and writes nothing (not even a failed state); a cancel recorded in the store
reaches the run through the heartbeat; a shutdown hands the job back at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice.server.errors import Interrupted, LeaseLost
from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, JobState, Lease, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service import runner as runner_module
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink


class _Run:
    """Stands in for execute(): records its lease, then waits for its stop (raising
    Interrupted like the pipeline) or for `finish`."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.finish = threading.Event()
        self.lease: Lease | None = None

    def __call__(
        self, job: Job, context: ExecutionContext, stop: threading.Event, lease: Lease
    ) -> str:
        self.lease = lease
        self.started.set()
        while not self.finish.is_set():
            if stop.wait(0.05):
                raise Interrupted("export interrupted")
        return "file:///x/manifest.json"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> _Run:
    stand_in = _Run()
    monkeypatch.setattr(runner_module, "execute", stand_in)
    return stand_in


@pytest.fixture
def runner(tmp_path: Path, store: SQLiteJobStore) -> Iterator[ExportRunner]:
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "max_concurrent_exports": 1,
            "replica_id": "here",
            "job_lease_seconds": 1,
        },
        environ={},
    )
    context = ExecutionContext(
        settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
    )
    started = ExportRunner(context)
    started.start()
    yield started
    started.shutdown(5)


def _job(store: SQLiteJobStore, tmp_path: Path) -> Job:
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "x.parquet")),
        destination=DestinationSpec(uri=str(tmp_path), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-lease", spec=spec))
    return job


def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_run_whose_lease_is_taken_over_stops_and_writes_nothing(
    run: _Run, runner: ExportRunner, store: SQLiteJobStore, tmp_path: Path
) -> None:
    job = _job(store, tmp_path)
    runner.submit(job.id)
    assert run.started.wait(10)
    assert run.lease is not None and run.lease.owner == "here"
    # Another replica takes the job over (as after an expired lease).
    store.expire_leases()
    claimed = store.claim("elsewhere", 60)
    assert claimed is not None and claimed[1].token == run.lease.token + 1
    _until(lambda: run.started.is_set() and not runner._running)
    after = store.get(job.id)
    assert (after.state, after.replica, after.error) == (JobState.RUNNING, "elsewhere", None)
    with pytest.raises(LeaseLost):
        store.renew(run.lease, 1)


def test_a_cancel_recorded_in_the_store_reaches_the_run(
    run: _Run, runner: ExportRunner, store: SQLiteJobStore, tmp_path: Path
) -> None:
    job = _job(store, tmp_path)
    runner.submit(job.id)
    assert run.started.wait(10)
    store.request_cancel(job.id)  # as another replica's CancelExport does
    _until(lambda: store.get(job.id).state == JobState.CANCELLED)
    assert store.get(job.id).replica == ""


def test_shutdown_hands_the_job_back_at_once(
    run: _Run, runner: ExportRunner, store: SQLiteJobStore, tmp_path: Path
) -> None:
    job = _job(store, tmp_path)
    runner.submit(job.id)
    assert run.started.wait(10)
    assert runner.shutdown(5)
    back = store.get(job.id)
    assert (back.state, back.replica) == (JobState.QUEUED, "")
    claimed = store.claim("next-replica", 30)  # claimable now, not after the lease
    assert claimed is not None and claimed[0].id == job.id


def test_a_finished_run_ends_its_lease(
    run: _Run, runner: ExportRunner, store: SQLiteJobStore, tmp_path: Path
) -> None:
    job = _job(store, tmp_path)
    runner.submit(job.id)
    assert run.started.wait(10)
    time.sleep(1.5)  # past the 1 s lease: only the heartbeat keeps it
    assert store.get(job.id).replica == "here"
    assert store.claim("elsewhere", 30) is None
    run.finish.set()
    _until(lambda: store.get(job.id).state == JobState.SUCCEEDED)
    assert store.get(job.id).replica == ""
