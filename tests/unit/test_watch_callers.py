"""ExportService.watch on a real SQLite job store and event hub: callers that may not
watch an export never pace its watchers' progress, and a watcher is shown the final
event's attempts even when the runner could not read them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from sluice.server.errors import NotFound, ServerBusy, Unavailable
from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import ExportAttempt, Job, JobState, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import Principal, Scope
from sluice.server.service.events import (
    MIN_PROGRESS_INTERVAL,
    EventHub,
    Finished,
    JobEvent,
    LiveProgress,
    ProgressUpdated,
    Snapshot,
    StateChanged,
)
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import Settings, load_settings
from sluice.sinks import open_sink
from tests.unit.watched_jobs import watched_job

ALICE = Principal("alice", frozenset({Scope.READ}))
BOB = Principal("bob", frozenset({Scope.READ}))
DENIED = 200


class _Store(SQLiteJobStore):
    """The SQLite store, whose reads can be held open (a loaded database) and whose
    attempts can fail (a lost connection)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.gets = 0
        self.reading = threading.Semaphore(0)
        self.held: threading.Event | None = None
        self.attempts_fail = False

    def get(self, job_id: str) -> Job:
        job = super().get(job_id)
        self.gets += 1
        if self.held is not None:
            self.reading.release()
            self.held.wait(10)
        return job

    def attempts(self, job_id: str) -> Sequence[ExportAttempt]:
        if self.attempts_fail:
            raise Unavailable("the job store is unreachable")
        return super().attempts(job_id)


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return load_settings(None, {"state_dir": tmp_path / "state", **extra}, environ={})


def _context(settings: Settings, store: _Store, hub: EventHub) -> ExecutionContext:
    return ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)


def _service(settings: Settings, store: _Store, hub: EventHub) -> ExportService:
    return ExportService(settings, store, ExportRunner(_context(settings, store, hub)), hub)


def _progress(records: int) -> ProgressUpdated:
    return ProgressUpdated("20261206T000000Z-watched", LiveProgress(Progress(records=records)))


def _watch(service: ExportService, job_id: str, principal: Principal) -> Iterator[JobEvent]:
    return service.watch(job_id, lambda: True, principal)


def test_callers_denied_an_export_do_not_slow_its_watchers_progress(tmp_path: Path) -> None:
    store, hub = _Store(), EventHub()
    service = _service(_settings(tmp_path), store, hub)
    job = watched_job(store, tmp_path)
    with hub.subscribe(job.id) as watcher:
        hub.publish(_progress(1))
        assert watcher.next(0) is not None
        store.held = threading.Event()

        def denied() -> None:
            with pytest.raises(NotFound):
                next(_watch(service, job.id, BOB))

        callers = [threading.Thread(target=denied) for _ in range(DENIED)]
        for caller in callers:
            caller.start()
        try:
            for _ in range(DENIED):  # every denied caller is reading the job now
                assert store.reading.acquire(timeout=10)
            second = _progress(2)
            hub.publish(second)
            # One watcher: the executor's pace (201 would make it 4 s).
            assert watcher.next(MIN_PROGRESS_INTERVAL + 0.5) is second
        finally:
            store.held.set()
            for caller in callers:
                caller.join()


def test_a_caller_over_its_watch_limit_is_refused_before_reading_the_store(
    tmp_path: Path,
) -> None:
    store, hub = _Store(), EventHub()
    service = _service(_settings(tmp_path, max_watch_streams_per_principal=1), store, hub)
    job = watched_job(store, tmp_path)
    first = _watch(service, job.id, ALICE)
    assert isinstance(next(first), Snapshot)
    reads = store.gets
    with pytest.raises(ServerBusy):
        next(_watch(service, job.id, ALICE))
    assert store.gets == reads
    first.close()
    # Nothing left subscribed: a new watcher is the only one, its first progress at once.
    with hub.subscribe(job.id) as watcher:
        hub.publish(_progress(1))
        hub.publish(StateChanged(job.id, JobState.RUNNING))
        assert isinstance(watcher.next(0), ProgressUpdated)


def test_a_watcher_reads_the_attempts_the_runner_could_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, hub = _Store(), EventHub()
    settings = _settings(tmp_path)
    runner = ExportRunner(_context(settings, store, hub))
    service = ExportService(settings, store, runner, hub)  # the daemon's wiring
    job = watched_job(store, tmp_path)
    claimed = store.claim("replica-a", 60)
    assert claimed is not None
    store.begin_attempt(claimed[1])
    store.release(claimed[1], timedelta(0))  # queued again, with one attempt behind it

    watch = _watch(service, job.id, ALICE)
    snapshot = next(watch)
    assert isinstance(snapshot, Snapshot) and len(snapshot.job.attempts) == 1
    store.attempts_fail = True
    with caplog.at_level(logging.WARNING, logger="sluice.runner"):
        runner.cancel(job.id)  # no worker runs: it is still queued
    store.attempts_fail = False
    assert any("cannot read its attempts" in r.getMessage() for r in caplog.records)

    events = list(watch)
    assert isinstance(events[-1], Finished)
    assert events[-1].job.state == JobState.CANCELLED
    assert len(events[-1].job.attempts) == 1
