"""ExportService.watch on a real SQLite job store and event hub: what a watcher's store
reads (at its poll, or at a nudge) may send. The journalled progress lags the live one
of an export running on this daemon, so it never reaches that export's watchers, and
no store read sends a watcher progress older than what it was already sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sluice.server.jobs.model import Job, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import Principal, Scope
from sluice.server.service.events import (
    EventHub,
    JobEvent,
    LiveProgress,
    ProgressUpdated,
    Snapshot,
    progress_interval,
)
from sluice.server.service.export_service import ExportService
from tests.unit.watched_jobs import watch_service, watched_job

ALICE = Principal("alice", frozenset({Scope.READ}))
#: Polls of the store, far more often than the pace of many watchers' progress.
POLL = 0.1


def _progress(job: Job, records: int) -> ProgressUpdated:
    return ProgressUpdated(job.id, LiveProgress(Progress(records=records)))


def _watch_for(service: ExportService, job: Job, seconds: float) -> Iterator[JobEvent]:
    """A watch whose caller hangs up after `seconds` (so it ends without Finished)."""
    until = time.monotonic() + seconds
    return service.watch(job.id, lambda: time.monotonic() < until, ALICE)


def _records(events: list[JobEvent]) -> list[int]:
    return [e.live.progress.records for e in events if isinstance(e, ProgressUpdated)]


def test_a_poll_never_sends_the_journalled_progress_of_an_export_running_here(
    tmp_path: Path,
) -> None:
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    service = watch_service(tmp_path, store, hub, POLL)
    job = watched_job(store, tmp_path)
    watches = [_watch_for(service, job, 1.0) for _ in range(100)]  # paced to one per 2 s
    for watch in watches:
        assert isinstance(next(watch), Snapshot)
    hub.publish(_progress(job, 50))
    store.save_progress(job.id, Progress(records=10))  # the executor's last journal save
    events = list(watches[0])  # ten polls of the store within the second
    assert _records(events) == [50]
    for watch in watches[1:]:
        watch.close()


def test_a_resync_nudge_never_sends_the_journalled_progress_of_an_export_running_here(
    tmp_path: Path,
) -> None:
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    service = watch_service(tmp_path, store, hub, POLL)
    job = watched_job(store, tmp_path)
    watch = _watch_for(service, job, 0.5)
    assert isinstance(next(watch), Snapshot)
    store.save_progress(job.id, Progress(records=10))
    hub.publish(_progress(job, 50))
    first = next(watch)
    assert isinstance(first, ProgressUpdated) and first.live.progress.records == 50
    hub.nudge("")  # a RESYNC: every subscriber reads the store, local exports' too
    assert _records(list(watch)) == []


def test_many_watchers_of_slow_chunks_see_progress_only_forward_and_at_their_pace(
    tmp_path: Path,
) -> None:
    """The executor publishes live progress often and journals it at each chunk's
    commit, which is slower than the store polls: the journal is always behind."""
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    service = watch_service(tmp_path, store, hub, POLL)
    job = watched_job(store, tmp_path)
    watchers, seconds = 20, 2.0
    seen: list[list[tuple[float, int]]] = [[] for _ in range(watchers)]

    def watcher(received: list[tuple[float, int]]) -> None:
        for event in _watch_for(service, job, seconds):
            if isinstance(event, ProgressUpdated):
                received.append((time.monotonic(), event.live.progress.records))

    threads = [threading.Thread(target=watcher, args=(seen[i],)) for i in range(watchers)]
    for thread in threads:
        thread.start()
    records, journalled, chunk_at = 0, 0, time.monotonic()
    while any(thread.is_alive() for thread in threads):
        records += 1000
        hub.publish(_progress(job, records))
        if time.monotonic() - chunk_at > 3 * POLL:  # a chunk commits, journalled late
            store.save_progress(job.id, Progress(records=journalled))
            journalled, chunk_at = records, time.monotonic()
        time.sleep(0.02)
    for thread in threads:
        thread.join()

    pace = progress_interval(watchers)
    for received in seen:
        counts = [count for _, count in received]
        assert len(counts) >= 2
        assert counts == sorted(counts), counts
        # At their pace: as many events as the watch's seconds allow, counted rather
        # than timed one by one (a watcher thread woken late by a loaded machine sees
        # its next, on-time event sooner: gaps of 0.359 s at a 0.4 s pace).
        times = [at for at, _ in received]
        assert len(times) <= (times[-1] - times[0]) / pace + 2, times


def test_a_poll_sends_the_journalled_progress_of_an_export_running_elsewhere_only_forward(
    tmp_path: Path,
) -> None:
    """No live progress here: the journal is all there is, sent when it moved ahead."""
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    service = watch_service(tmp_path, store, hub, POLL)
    job = watched_job(store, tmp_path)
    watch = _watch_for(service, job, 1.0)
    assert isinstance(next(watch), Snapshot)
    store.save_progress(job.id, Progress(records=10))
    first = next(watch)
    assert isinstance(first, ProgressUpdated) and first.live.progress.records == 10
    store.save_progress(job.id, Progress(records=5))  # an older journal save, read late
    assert _records(list(watch)) == []
