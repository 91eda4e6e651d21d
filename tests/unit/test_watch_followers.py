"""ExportService.watch on a real SQLite job store: the watchers of one export share its
follower's store reads (server.service.store_followers), once per poll and once per
nudge however many watch, and each is still sent every change. The store counts its
own reads of the job (a subclass of the real store, which it only counts)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sluice.server.jobs.model import Job, JobState, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import Principal, Scope
from sluice.server.service.events import (
    EventHub,
    Finished,
    JobEvent,
    ProgressUpdated,
    Snapshot,
    StateChanged,
)
from sluice.server.service.export_service import ExportService
from tests.unit.watched_jobs import watch_service, watched_job

ALICE = Principal("alice", frozenset({Scope.READ}))
WATCHERS = 20


class CountedStore(SQLiteJobStore):
    """The real store, counting reads of one job."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.reads = 0
        self._count_lock = threading.Lock()

    def get(self, job_id: str) -> Job:
        with self._count_lock:
            self.reads += 1
        return super().get(job_id)


def _followers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("store-follower-")]


def _watch(
    service: ExportService, job: Job, events: list[JobEvent], ready: threading.Barrier
) -> None:
    watch: Iterator[JobEvent] = service.watch(job.id, lambda: True, ALICE)
    events.append(next(watch))
    ready.wait(10)
    events.extend(watch)


def _started(
    service: ExportService, job: Job
) -> tuple[list[list[JobEvent]], list[threading.Thread]]:
    seen: list[list[JobEvent]] = [[] for _ in range(WATCHERS)]
    ready = threading.Barrier(WATCHERS + 1)
    threads = [
        threading.Thread(target=_watch, args=(service, job, seen[i], ready), daemon=True)
        for i in range(WATCHERS)
    ]
    for thread in threads:
        thread.start()
    ready.wait(10)
    return seen, threads


def test_watchers_of_one_export_read_it_once_per_poll_and_each_gets_every_change(
    tmp_path: Path,
) -> None:
    store, hub = CountedStore(), EventHub()
    poll = 0.1
    service = watch_service(tmp_path, store, hub, poll)
    job = watched_job(store, tmp_path)
    seen, threads = _started(service, job)
    store.reads = 0
    time.sleep(2.0)  # ~20 polls: one reader makes ~20 reads, one per watcher ~400
    assert store.reads <= 2.0 / poll + 3, store.reads
    assert len(_followers()) == 1
    store.save_progress(job.id, Progress(records=10))
    store.transition(job.id, {JobState.QUEUED}, JobState.CANCELLED)
    for thread in threads:
        thread.join(10)
    for events in seen:
        assert isinstance(events[0], Snapshot)
        assert isinstance(events[-1], Finished)
        assert events[-1].job.state is JobState.CANCELLED
    until = time.monotonic() + 5
    while _followers() and time.monotonic() < until:
        time.sleep(0.01)
    assert _followers() == []


def test_a_nudge_makes_one_read_for_all_watchers_and_each_gets_the_change(
    tmp_path: Path,
) -> None:
    store, hub = CountedStore(), EventHub()
    service = watch_service(tmp_path, store, hub, poll=3600.0)  # no poll: nudges only
    job = watched_job(store, tmp_path)
    seen, threads = _started(service, job)
    store.reads = 0
    store.save_progress(job.id, Progress(records=10))
    hub.nudge(job.id)
    time.sleep(0.5)
    assert store.reads == 1
    store.transition(job.id, {JobState.QUEUED}, JobState.RUNNING)
    hub.nudge(job.id)
    time.sleep(0.5)
    assert store.reads == 2
    store.transition(job.id, {JobState.RUNNING}, JobState.FAILED)
    hub.nudge("")  # a RESYNC: all may be stale
    for thread in threads:
        thread.join(10)
    assert store.reads == 3
    for events in seen:
        assert [type(e) for e in events] == [Snapshot, ProgressUpdated, StateChanged, Finished]
        progress, state, finished = events[1:]
        assert isinstance(progress, ProgressUpdated) and progress.live.progress.records == 10
        assert isinstance(state, StateChanged) and state.state is JobState.RUNNING
        assert isinstance(finished, Finished) and finished.job.state is JobState.FAILED
