"""One reader of the job store per watched export, shared by all its watchers here.

An export running on another replica sharing the store publishes nothing on this one:
its watchers learn of its changes by reading the job (at every job_store_poll_seconds,
and when the store signals a change). Read by each watcher, a hundred watchers cost a
hundred reads per poll, here and on the store. A follower reads for all of them: one
thread per watched export, started by its first watcher and stopped with its last,
reading the job once per poll (and once at a nudge, however many watch) and waking its
watchers when the job changed, who each compare the read with what they were sent (so
each is sent exactly what its own read would have sent it). A read is ordered among a
watcher's other news by the job row's revision (Job.revision), not by when it began: one
that began before a watcher joined may still be newer than its snapshot. A job read
final is read with its attempts, once.

A read that fails is not shared: the watchers it wakes read the store themselves, and
fail (or not) as each would have.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sluice.server.jobs.model import Job
from sluice.server.jobs.store import JobStore
from sluice.server.service.events import EventHub, Subscription

_log = logging.getLogger("sluice.watch")


@dataclass(frozen=True)
class StoreRead:
    #: Reads of one follower are numbered from 1 when they start, so a watcher that
    #: looks at `StoreFollower.latest()` again knows whether it looked at that read.
    number: int
    #: The job as read, with its attempts when final; None when the read failed.
    job: Job | None


class StoreFollower:
    """Reads one job for its watchers (`StoreFollowers.follow`)."""

    def __init__(self, job_id: str, store: JobStore, poll_seconds: float) -> None:
        self.job_id = job_id
        self._store = store
        self._poll = poll_seconds
        self._lock = threading.Lock()
        self._watchers: list[Subscription] = []
        self._latest: StoreRead | None = None
        self._numbers = itertools.count(1)
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"store-follower-{job_id}", daemon=True
        )

    def latest(self) -> StoreRead | None:
        with self._lock:
            return self._latest

    def nudge(self) -> None:
        """The store signalled a change: read now (once, however many nudges)."""
        self._wake.set()

    def _add(self, watcher: Subscription) -> None:
        with self._lock:
            self._watchers.append(watcher)

    def _remove(self, watcher: Subscription) -> bool:
        """Whether `watcher` was the last one."""
        with self._lock:
            self._watchers.remove(watcher)
            return not self._watchers

    def _start(self) -> None:
        self._thread.start()

    def _stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll)
            # Cleared before the read, so a signal during it brings another read.
            self._wake.clear()
            with self._lock:
                if self._stopped:
                    return
                number = next(self._numbers)
            job = self._read()
            with self._lock:
                if self._stopped:
                    return
                # A read like the last one is taken at the watchers' own next look (once
                # a second at most: export_service's _WATCH_POLL_SECONDS): it sends them
                # nothing, and a hundred wake-ups a poll for nothing cost the daemon.
                unchanged = job is not None and self._latest is not None and job == self._latest.job
                self._latest = StoreRead(number, job)
                watchers = [] if unchanged else list(self._watchers)
            for watcher in watchers:
                watcher.nudge()

    def _read(self) -> Job | None:
        try:
            job = self._store.get(self.job_id)
            if job.state.final:
                job = replace(job, attempts=tuple(self._store.attempts(job.id)))
            return job
        except Exception as exc:  # noqa: BLE001 - each watcher then reads itself, failing as it would
            _log.debug("store read of %s for its watchers failed: %s", self.job_id, exc)
            return None


class StoreFollowers:
    """The followers of the exports watched on this daemon, one per export."""

    def __init__(self, store: JobStore, hub: EventHub, poll_seconds: float) -> None:
        self._store = store
        self._hub = hub
        self._poll = poll_seconds
        self._lock = threading.Lock()
        self._followers: dict[str, StoreFollower] = {}

    @contextmanager
    def follow(self, watcher: Subscription) -> Iterator[StoreFollower]:
        """The follower of `watcher`'s export, which nudges `watcher` after each of its
        reads; started when this is its first watcher, stopped after its last."""
        job_id = watcher.job_id
        with self._lock:
            follower = self._followers.get(job_id)
            if follower is None:
                follower = StoreFollower(job_id, self._store, self._poll)
                # Started before it is registered: a thread that cannot start (none left)
                # fails this watch alone, and leaves no follower that never reads.
                follower._start()
                self._followers[job_id] = follower
                self._hub.listen_for_nudges(job_id, follower.nudge)
            follower._add(watcher)
        try:
            yield follower
        finally:
            with self._lock:
                if follower._remove(watcher):
                    del self._followers[job_id]
                    self._hub.stop_listening_for_nudges(job_id, follower.nudge)
                    follower._stop()
