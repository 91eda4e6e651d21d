"""ExportService.watch orders what it sends by the job row's own revision (a number the
store raises with every write of the row), not by when a read began: a follower read
newer than what the watcher was sent is news however early it began, and a state the
hub publishes late, older than the watcher's snapshot, is not sent after it.

Real SQLite store, EventHub and ExportService (resume publishes as in production); the
store subclasses below only hold a read or a write to force an order. Each test failed
on the code before row revisions: the first two never sent RUNNING (it waited for the
follower's next poll, an hour here), the last two sent QUEUED after a RUNNING
snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from sluice.server.jobs.model import Job, JobState
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import Principal, Scope
from sluice.server.service.events import EventHub, Finished, Snapshot
from tests.unit.watched_jobs import states, until, watch_service, watched_job, watching

ALICE = Principal("alice", frozenset({Scope.READ, Scope.CREATE, Scope.CANCEL}))
#: No poll within a test: a change reaches a watcher from a read the test asked for.
NO_POLL = 3600.0


class _HeldFollowerRead(SQLiteJobStore):
    """The follower's next read, once armed, begins and waits before reading the row
    until released (so it began before whatever the test does meanwhile)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.armed = False
        self.began = threading.Event()
        self.release = threading.Event()

    def get(self, job_id: str) -> Job:
        if threading.current_thread().name.startswith("store-follower-") and self.armed:
            self.armed = False
            self.began.set()
            self.release.wait(10)  # no assert: a failure here is the test thread's to tell
        return super().get(job_id)


def _finish(store: SQLiteJobStore, hub: EventHub, job: Job, *threads: threading.Thread) -> None:
    store.transition(job.id, {JobState.RUNNING}, JobState.SUCCEEDED)
    hub.nudge(job.id)
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_a_read_begun_before_a_joining_watchers_snapshot_is_news_to_it(tmp_path: Path) -> None:
    # LOW 1: the follower's read began before the second watcher's snapshot read ended,
    # and read a state newer than that snapshot; it is sent at once, not a poll later.
    hub, store = EventHub(), _HeldFollowerRead()
    service = watch_service(tmp_path, store, hub, poll=NO_POLL)
    job = watched_job(store, tmp_path)
    first_thread, first = watching(service, job, "first", ALICE)
    until(lambda: bool(first))  # the follower exists, with one watcher
    store.armed = True
    hub.nudge(job.id)
    assert store.began.wait(5)  # the follower's read has begun
    second_thread, second = watching(service, job, "second", ALICE)
    until(lambda: bool(second))  # its snapshot, after the read began: QUEUED
    store.transition(job.id, {JobState.QUEUED}, JobState.RUNNING)
    store.release.set()  # the read lands: RUNNING, newer than the second's snapshot
    until(lambda: JobState.RUNNING in states(first))
    until(lambda: JobState.RUNNING in states(second))
    _finish(store, hub, job, first_thread, second_thread)
    snapshot = second[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.QUEUED
    assert states(second) == [JobState.RUNNING], second
    assert isinstance(second[-1], Finished) and second[-1].job.state is JobState.SUCCEEDED


def test_a_read_begun_before_a_published_state_is_news_when_newer(tmp_path: Path) -> None:
    # LOW 1, after a state the hub published: the export failed on another replica, a
    # resume here queues it (store written, then published), and another replica claims
    # it. The follower's read began before the publish and read the claim: it is news.
    hub, store = EventHub(), _HeldFollowerRead()
    service = watch_service(tmp_path, store, hub, poll=NO_POLL)
    job = watched_job(store, tmp_path)
    assert store.claim("other-replica", 30.0) is not None
    thread, events = watching(service, job, "watcher", ALICE)
    until(lambda: bool(events))  # its snapshot: RUNNING
    store.transition(job.id, {JobState.RUNNING}, JobState.FAILED)
    store.armed = True
    hub.nudge(job.id)
    assert store.began.wait(5)
    service.resume(job.id, ALICE)
    until(lambda: states(events) == [JobState.QUEUED])
    assert store.claim("other-replica", 30.0) is not None
    store.release.set()  # the read lands: RUNNING, newer than the QUEUED published
    until(lambda: states(events) == [JobState.QUEUED, JobState.RUNNING])
    _finish(store, hub, job, thread)
    assert states(events) == [JobState.QUEUED, JobState.RUNNING], events
    assert isinstance(events[-1], Finished) and events[-1].job.state is JobState.SUCCEEDED


class _HeldSnapshotRead(SQLiteJobStore):
    """The watcher's snapshot read, once armed, waits (subscribed already) until
    released, and reads the row then."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.armed = False
        self.reading = threading.Event()
        self.release = threading.Event()

    def get(self, job_id: str) -> Job:
        if threading.current_thread().name == "watcher" and self.armed:
            self.armed = False
            self.reading.set()
            self.release.wait(10)  # no assert: a failure here is the test thread's to tell
        return super().get(job_id)


def test_a_state_published_before_the_snapshot_read_and_older_is_not_sent(
    tmp_path: Path,
) -> None:
    # LOW 2: between the watcher's subscription and its snapshot read, a resume queues
    # the failed export (written, then published) and another replica claims it. The
    # snapshot shows RUNNING; the QUEUED published before it is older, and not sent.
    hub, store = EventHub(), _HeldSnapshotRead()
    service = watch_service(tmp_path, store, hub, poll=NO_POLL)
    job = watched_job(store, tmp_path)
    assert store.claim("other-replica", 30.0) is not None
    store.transition(job.id, {JobState.RUNNING}, JobState.FAILED)
    store.armed = True
    thread, events = watching(service, job, "watcher", ALICE)
    assert store.reading.wait(5)  # subscribed, its snapshot read not yet made
    service.resume(job.id, ALICE)
    assert store.claim("other-replica", 30.0) is not None
    store.release.set()
    until(lambda: bool(events))
    snapshot = events[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.RUNNING
    _finish(store, hub, job, thread)
    assert states(events) == [], events
    assert isinstance(events[-1], Finished) and events[-1].job.state is JobState.SUCCEEDED


class _ClaimedBeforeResumePublishes(SQLiteJobStore):
    """Once armed, a resume's write to the queue is followed by another replica's claim
    and returned (so resume publishes QUEUED) only after the watcher's snapshot."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.armed = False
        self.claimed = threading.Event()
        self.snapshot_taken = threading.Event()

    def transition(
        self, job_id: str, allowed_from: Collection[JobState], to: JobState, **kwargs: Any
    ) -> Job:
        queued = super().transition(job_id, allowed_from, to, **kwargs)
        if self.armed and to is JobState.QUEUED:
            self.armed = False
            self.claim("other-replica", 30.0)
            self.claimed.set()
            self.snapshot_taken.wait(10)  # no assert: the test thread tells what went wrong
        return queued


def test_a_state_published_after_the_snapshot_and_older_is_not_sent(tmp_path: Path) -> None:
    # LOW 2, published later: subscribed before resume publishes its QUEUED, the
    # watcher's snapshot read came after another replica's claim: RUNNING. The QUEUED
    # published after it is older than the snapshot; sent, the stream would go back
    # from RUNNING to QUEUED.
    hub, store = EventHub(), _ClaimedBeforeResumePublishes()
    service = watch_service(tmp_path, store, hub, poll=NO_POLL)
    job = watched_job(store, tmp_path)
    assert store.claim("other-replica", 30.0) is not None
    store.transition(job.id, {JobState.RUNNING}, JobState.FAILED)
    store.armed = True
    resume = threading.Thread(target=service.resume, args=(job.id, ALICE), daemon=True)
    resume.start()
    assert store.claimed.wait(5)
    thread, events = watching(service, job, "watcher", ALICE)
    until(lambda: bool(events))  # its snapshot: RUNNING (the claim after the resume)
    store.snapshot_taken.set()
    resume.join(10)  # QUEUED published, after the snapshot
    snapshot = events[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.RUNNING
    _finish(store, hub, job, thread)
    assert states(events) == [], events
    assert isinstance(events[-1], Finished) and events[-1].job.state is JobState.SUCCEEDED


class _ResumedBeforeTheCancelIsAnnounced(_HeldSnapshotRead):
    """Once armed, a cancel's write is followed by a resume (written and published) and
    the watcher's snapshot read, before the runner announces the cancel."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel_armed = False
        self.resume: Callable[[], object] = lambda: None
        self.snapshot: Callable[[], bool] = lambda: True

    def transition(
        self, job_id: str, allowed_from: Collection[JobState], to: JobState, **kwargs: Any
    ) -> Job:
        written = super().transition(job_id, allowed_from, to, **kwargs)
        if self.cancel_armed and to is JobState.CANCELLED:
            self.cancel_armed = False
            self.resume()
            self.release.set()
            until(self.snapshot)
        return written


def test_an_end_announced_late_and_older_than_the_snapshot_is_not_sent(tmp_path: Path) -> None:
    # The same rule for the runner's StateChanged and Finished: the export was cancelled
    # and resumed before the runner announced the cancel, and the watcher's snapshot
    # shows it queued again. Its stream does not end with the cancel.
    hub, store = EventHub(), _ResumedBeforeTheCancelIsAnnounced()
    service = watch_service(tmp_path, store, hub, poll=NO_POLL)
    job = watched_job(store, tmp_path)
    store.armed = True
    thread, events = watching(service, job, "watcher", ALICE)
    assert store.reading.wait(5)
    store.resume = lambda: service.resume(job.id, ALICE)
    store.snapshot = lambda: bool(events)
    store.cancel_armed = True
    service.cancel(job.id, ALICE)  # the runner announces CANCELLED after the snapshot
    snapshot = events[0]
    assert isinstance(snapshot, Snapshot) and snapshot.job.state is JobState.QUEUED
    assert store.claim("other-replica", 30.0) is not None
    hub.nudge(job.id)
    until(lambda: states(events) == [JobState.RUNNING])
    _finish(store, hub, job, thread)
    assert states(events) == [JobState.RUNNING], events
    assert isinstance(events[-1], Finished) and events[-1].job.state is JobState.SUCCEEDED
