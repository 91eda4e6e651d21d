"""ExportService.watch with a shared follower (server.service.store_followers) sends each
state once and never backwards: a follower read older than what the watcher was already
sent (its snapshot, or a state the runner published) is not taken for news. Real SQLite
store and EventHub; the store subclass below only pauses reads to force an order (found
in review of w20-watch: both stories failed before the fix)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sluice.server.jobs.model import Job, JobState, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import Principal, Scope
from sluice.server.service.events import (
    EventHub,
    Finished,
    LiveProgress,
    ProgressUpdated,
    Snapshot,
    StateChanged,
)
from tests.unit.watched_jobs import states, until, watch_service, watched_job, watching

ALICE = Principal("alice", frozenset({Scope.READ}))


class _HeldFollowerRead(SQLiteJobStore):
    """The second watcher's own first read waits (as for a pooled connection while a
    hundred watchers join) while the follower begins a read before a transition commits
    and returns it only after that watcher's snapshot."""

    def __init__(self, hub: EventHub) -> None:
        super().__init__(":memory:")
        self.hub = hub
        self.job_id = ""
        self.follower_read = threading.Event()
        self.release_follower = threading.Event()
        self.transitioned = threading.Event()
        self._armed = False
        self._second_watcher_waited = False

    def get(self, job_id: str) -> Job:
        name = threading.current_thread().name
        if name == "second" and not self._second_watcher_waited:
            self._second_watcher_waited = True
            self._armed = True
            self.hub.nudge(self.job_id)  # the follower reads now
            self.transitioned.wait(5)
            return super().get(job_id)
        if name.startswith("store-follower-") and self._armed:
            self._armed = False
            job = super().get(job_id)  # read before the transition commits
            self.follower_read.set()
            self.release_follower.wait(5)  # and returned after the second's snapshot
            return job
        return super().get(job_id)


def test_a_joining_watcher_is_not_sent_a_state_older_than_its_snapshot(tmp_path: Path) -> None:
    hub = EventHub()
    store = _HeldFollowerRead(hub)
    service = watch_service(tmp_path, store, hub, poll=3600.0)
    job = watched_job(store, tmp_path)
    store.job_id = job.id
    first_thread, first = watching(service, job, "first", ALICE)
    until(lambda: bool(first))  # the follower exists, with one watcher
    second_thread, second = watching(service, job, "second", ALICE)
    assert store.follower_read.wait(5)
    store.save_progress(job.id, Progress(records=10))
    store.transition(job.id, {JobState.QUEUED}, JobState.RUNNING)
    store.transitioned.set()
    until(lambda: bool(second))  # its snapshot: RUNNING
    store.release_follower.set()  # the follower's read (QUEUED) lands now
    time.sleep(1.5)  # the second watcher looks at the follower's reads at least once a second
    store.transition(job.id, {JobState.RUNNING}, JobState.FAILED)
    hub.nudge(job.id)
    first_thread.join(10)
    second_thread.join(10)
    snapshot = second[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.RUNNING
    assert states(second) == [], second
    assert isinstance(second[-1], Finished) and second[-1].job.state is JobState.FAILED
    assert isinstance(first[-1], Finished) and first[-1].job.state is JobState.FAILED


def test_a_state_the_runner_published_is_not_sent_again_from_the_store(tmp_path: Path) -> None:
    # A watcher of a local export that joined while it was queued: the runner writes the
    # store, then publishes; the follower's reads in between must not repeat RUNNING.
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    service = watch_service(tmp_path, store, hub, poll=0.05)
    job = watched_job(store, tmp_path)
    thread, events = watching(service, job, "watcher", ALICE)
    until(lambda: bool(events))
    store.transition(job.id, {JobState.QUEUED}, JobState.RUNNING)
    hub.publish(StateChanged(job.id, JobState.RUNNING))
    for i in range(1, 16):  # a running export: journalled and published progress
        progress = Progress(records=i * 1000, chunks=i)
        store.save_progress(job.id, progress)
        hub.publish(ProgressUpdated(job.id, LiveProgress(progress)))
        time.sleep(0.05)
    store.transition(job.id, {JobState.RUNNING}, JobState.SUCCEEDED)
    hub.publish(StateChanged(job.id, JobState.SUCCEEDED))
    hub.publish(Finished(job.id, store.get(job.id)))
    thread.join(10)
    # SUCCEEDED itself may come as the follower's read (Finished alone) when it lands
    # between the runner's write and its publish.
    assert states(events) in ([JobState.RUNNING, JobState.SUCCEEDED], [JobState.RUNNING]), events
    assert isinstance(events[-1], Finished) and events[-1].job.state is JobState.SUCCEEDED


class _RunsDuringTheSnapshotRead(SQLiteJobStore):
    """The export starts (store written, then published, as the runner does) after the
    watcher subscribed and before its snapshot read."""

    def __init__(self, hub: EventHub) -> None:
        super().__init__(":memory:")
        self.hub = hub
        self._started = False

    def get(self, job_id: str) -> Job:
        if threading.current_thread().name == "watcher" and not self._started:
            self._started = True
            self.transition(job_id, {JobState.QUEUED}, JobState.RUNNING)
            self.hub.publish(StateChanged(job_id, JobState.RUNNING))
        return super().get(job_id)


def test_a_state_published_before_the_snapshot_read_is_not_sent_after_it(tmp_path: Path) -> None:
    hub = EventHub()
    store = _RunsDuringTheSnapshotRead(hub)
    service = watch_service(tmp_path, store, hub, poll=3600.0)
    job = watched_job(store, tmp_path)
    thread, events = watching(service, job, "watcher", ALICE)
    until(lambda: bool(events))
    snapshot = events[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.RUNNING
    store.transition(job.id, {JobState.RUNNING}, JobState.SUCCEEDED)
    hub.publish(StateChanged(job.id, JobState.SUCCEEDED))
    hub.publish(Finished(job.id, store.get(job.id)))
    thread.join(10)
    assert states(events) == [JobState.SUCCEEDED], events
