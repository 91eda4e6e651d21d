"""In-process publish/subscribe of export events, for WatchExport.

Each subscriber has its own small queue, filled by the publishing thread and drained by
the subscriber's (a gRPC worker thread per WatchExport stream). Every message a stream
sends costs its thread a wake-up and a gRPC round of its own (~0.2 ms of CPU on a busy
2-core machine), so what a watcher is sent is what a hundred watchers cost the export.
Progress is therefore paced per subscriber and latest-wins, never queued: a subscriber
holds at most one progress event, the newest, and is sent it at once the first time,
then at most once per `progress_interval(watchers of that export)`, an interval that
grows with the watchers so all of them together get about PROGRESS_EVENTS_PER_SECOND.
Watchers are the subscribers that follow progress: a WatchExport stream once its caller
may watch, never a Flight DoPut (which waits for chunks and the end only).
State, snapshot, chunk and finish events are always delivered, in the order they were
published; a progress held back is sent before a state, snapshot or finish event that
follows it (so the last progress before the end is the total), and gives way to a chunk
event (whose commit publishes a newer progress at once).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sluice.server.jobs.model import ChunkRecord, Job, JobState, Progress


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LiveProgress:
    progress: Progress
    records_per_second: float = 0.0
    bytes_per_second: float = 0.0
    #: Negative when unknown.
    eta_seconds: float = -1.0


@dataclass(frozen=True)
class StateChanged:
    job_id: str
    state: JobState
    time: datetime = field(default_factory=_now)
    #: The job's revision (Job.revision) in the write that made `state`: every publisher
    #: writes the store first, and passes the revision the store returned, so a watcher
    #: orders the event among its store reads by it. None: not known (such an event is
    #: sent unless the watcher has its state).
    revision: int | None = None


@dataclass(frozen=True)
class ProgressUpdated:
    job_id: str
    live: LiveProgress
    time: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class ChunkCommitted:
    job_id: str
    chunk: ChunkRecord
    time: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class Finished:
    job_id: str
    job: Job
    time: datetime = field(default_factory=_now)
    #: Whether job.attempts were read (all of them) when this was published.
    with_attempts: bool = True


@dataclass(frozen=True)
class Snapshot:
    job_id: str
    job: Job
    live: LiveProgress | None = None
    time: datetime = field(default_factory=_now)


JobEvent = StateChanged | ProgressUpdated | ChunkCommitted | Finished | Snapshot

#: Past this many undelivered events a watcher is too slow; its oldest chunk events go.
_MAX_PENDING = 4096
#: Progress events per second, all watchers of one export together, once there are more
#: watchers than the executor's own pace (4 a second) allows at that pace.
PROGRESS_EVENTS_PER_SECOND = 50.0
#: Progress is never sent to one watcher more often than this (the executor publishes
#: at most this often anyway) ...
MIN_PROGRESS_INTERVAL = 0.25
#: ... and, however many watch, at least this often while the export makes progress.
MAX_PROGRESS_INTERVAL = 5.0


def progress_interval(subscribers: int) -> float:
    """Seconds between two progress events to each of an export's `subscribers`."""
    paced = subscribers / PROGRESS_EVENTS_PER_SECOND
    return min(max(paced, MIN_PROGRESS_INTERVAL), MAX_PROGRESS_INTERVAL)


class Subscription:
    def __init__(self, job_id: str, *, progress: bool, hub_nudges: bool = True) -> None:
        self.job_id = job_id
        #: Whether EventHub.nudge nudges this subscriber itself; a watcher's store reads
        #: are its follower's (store_followers), which the hub nudges instead.
        self.hub_nudges = hub_nudges
        self._pending: deque[JobEvent] = deque()
        #: Whether progress events reach this subscriber (EventHub.follow_progress); while
        #: not, it is handed none and does not count toward its export's watchers.
        self._follows_progress = progress
        #: The newest progress not yet taken; it follows everything in _pending.
        self._progress: ProgressUpdated | None = None
        self._progress_every = MIN_PROGRESS_INTERVAL
        #: time.monotonic() from when the held progress may be taken: the first at once
        #: (a short export still shows its watcher progress before its final one).
        self._progress_due = time.monotonic()
        #: Whether a progress was taken: only then does a change of pace move _progress_due.
        self._progress_sent = False
        self._ready = threading.Condition()
        #: A nudge not yet returned by `next` as None.
        self._nudge_pending = False

    @property
    def follows_progress(self) -> bool:
        return self._follows_progress

    def _follow_progress(self, progress_every: float) -> None:
        with self._ready:
            self._follows_progress = True
            self._progress_every = progress_every
            self._progress_due = time.monotonic()

    def deliver(self, event: JobEvent, progress_every: float = MIN_PROGRESS_INTERVAL) -> None:
        """Queue `event`; `progress_every` is the pace of progress for this subscriber
        now (progress_interval of its export's watchers)."""
        with self._ready:
            if isinstance(event, ProgressUpdated) and not self._follows_progress:
                return
            if progress_every != self._progress_every:
                if self._progress_sent:
                    # Keeps the pace since the last progress sent; before the first,
                    # that one still goes at once.
                    self._progress_due += progress_every - self._progress_every
                self._progress_every = progress_every
            if isinstance(event, ProgressUpdated):
                self._progress = event
                if time.monotonic() >= self._progress_due:
                    self._ready.notify()
                return
            if self._progress is not None and not isinstance(event, ChunkCommitted):
                # Published before `event`: it goes first, paced or not, so a watcher's
                # last progress before a state change or the end is the newest one.
                self._append(self._progress)
            # Before a chunk event, a held progress is dropped: the chunk's commit
            # publishes a newer one right after it.
            self._progress = None
            self._append(event)
            self._ready.notify()

    def _append(self, event: JobEvent) -> None:
        if len(self._pending) >= _MAX_PENDING:
            self._pending.popleft()
        self._pending.append(event)

    def nudge(self) -> None:
        """Wake a waiting `next` without an event: the job changed in the store (on
        another replica), so the watcher should read it now rather than at its poll."""
        with self._ready:
            self._nudge_pending = True
            self._ready.notify()

    def next(self, timeout: float) -> JobEvent | None:
        """The next event, or None after `timeout` seconds without one (or once at a
        nudge: a consumer that ignores nudges waits as before on its next call).
        A held progress is returned once it is due, within the same `timeout`."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                if self._pending:
                    event = self._pending.popleft()
                    if isinstance(event, ProgressUpdated):
                        self._progress_due = time.monotonic() + self._progress_every
                        self._progress_sent = True
                    return event
                now = time.monotonic()
                if self._progress is not None and now >= self._progress_due:
                    event, self._progress = self._progress, None
                    self._progress_due = now + self._progress_every
                    self._progress_sent = True
                    return event
                if self._nudge_pending:
                    self._nudge_pending = False
                    return None
                if now >= deadline:
                    return None
                # Awake when a progress falls due, held yet or not: one that arrives
                # before then is not announced (deliver notifies only due progress).
                due = self._progress_due
                self._ready.wait((deadline if due <= now else min(deadline, due)) - now)


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscription]] = defaultdict(list)
        #: Subscribers of each export that follow its progress: what paces it.
        self._watchers: dict[str, int] = defaultdict(int)
        self._latest_progress: dict[str, LiveProgress] = {}
        #: What else a nudge of each export wakes: the reader of the store its watchers
        #: share (server.service.store_followers).
        self._nudge_listeners: dict[str, list[Callable[[], None]]] = defaultdict(list)

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            if isinstance(event, ProgressUpdated):
                self._latest_progress[event.job_id] = event.live
            elif isinstance(event, Finished):
                self._latest_progress.pop(event.job_id, None)
            subscribers = list(self._subscribers.get(event.job_id, ()))
            every = progress_interval(self._watchers.get(event.job_id, 0))
        for subscription in subscribers:
            subscription.deliver(event, every)

    def nudge(self, job_id: str) -> None:
        """Nudge the job's subscribers and listeners (every one for "": all may be
        stale), but not the subscribers a listener reads the store for."""
        with self._lock:
            if job_id:
                subscribers = list(self._subscribers.get(job_id, ()))
                listeners = list(self._nudge_listeners.get(job_id, ()))
            else:
                subscribers = [s for group in self._subscribers.values() for s in group]
                listeners = [f for group in self._nudge_listeners.values() for f in group]
        for subscription in subscribers:
            if subscription.hub_nudges:
                subscription.nudge()
        for listener in listeners:
            listener()

    def listen_for_nudges(self, job_id: str, listener: Callable[[], None]) -> None:
        """Call `listener` at every nudge of `job_id` (and of all jobs)."""
        with self._lock:
            self._nudge_listeners[job_id].append(listener)

    def stop_listening_for_nudges(self, job_id: str, listener: Callable[[], None]) -> None:
        with self._lock:
            remaining = self._nudge_listeners[job_id]
            remaining.remove(listener)
            if not remaining:
                del self._nudge_listeners[job_id]

    def latest_progress(self, job_id: str) -> LiveProgress | None:
        with self._lock:
            return self._latest_progress.get(job_id)

    @contextmanager
    def subscribe(
        self, job_id: str, *, progress: bool = True, hub_nudges: bool = True
    ) -> Iterator[Subscription]:
        """Every event of `job_id` from now on, progress only with `progress` (a
        subscriber that follows progress counts toward the pace of its export's
        watchers). One subscribed without may `follow_progress` later, e.g. once the
        caller was found to be allowed to watch. Without `hub_nudges`, `nudge` leaves
        the subscriber to whoever reads the store for it (its listener's nudges)."""
        subscription = Subscription(job_id, progress=False, hub_nudges=hub_nudges)
        with self._lock:
            self._subscribers[job_id].append(subscription)
            if progress:
                self._count_watcher(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                remaining = self._subscribers[job_id]
                remaining.remove(subscription)
                if not remaining:
                    del self._subscribers[job_id]
                if subscription.follows_progress:
                    self._watchers[job_id] -= 1
                    if not self._watchers[job_id]:
                        del self._watchers[job_id]

    def follow_progress(self, subscription: Subscription) -> None:
        """From now on `subscription` is handed its export's progress (the first at
        once, then paced) and counts among its watchers. Progress published before is
        in `latest_progress`."""
        with self._lock:
            if not subscription.follows_progress:
                self._count_watcher(subscription)

    def _count_watcher(self, subscription: Subscription) -> None:
        # Under self._lock, so the count and who follows progress agree.
        self._watchers[subscription.job_id] += 1
        subscription._follow_progress(progress_interval(self._watchers[subscription.job_id]))
