"""In-process publish/subscribe of export events, for WatchExport.

Each subscriber has its own small queue, filled by the publishing thread and drained by
the subscriber's (a gRPC worker thread per WatchExport stream). Every message a stream
sends costs its thread a wake-up and a gRPC round of its own (~0.2 ms of CPU on a busy
2-core machine), so what a watcher is sent is what a hundred watchers cost the export.
Progress is therefore paced per subscriber and latest-wins, never queued: a subscriber
holds at most one progress event, the newest, and is sent it at once the first time,
then at most once per `progress_interval(subscribers of that export)`, an interval that
grows with the watchers so all of them together get about PROGRESS_EVENTS_PER_SECOND.
State, snapshot, chunk and finish events are always delivered, in the order they were
published; a progress held back is sent before a state, snapshot or finish event that
follows it (so the last progress before the end is the total), and gives way to a chunk
event (whose commit publishes a newer progress at once).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
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
    def __init__(self, progress_every: float = MIN_PROGRESS_INTERVAL) -> None:
        self._pending: deque[JobEvent] = deque()
        #: The newest progress not yet taken; it follows everything in _pending.
        self._progress: ProgressUpdated | None = None
        self._progress_every = progress_every
        #: time.monotonic() from when the held progress may be taken: the first at once
        #: (a short export still shows its watcher progress before its final one).
        self._progress_due = time.monotonic()
        self._ready = threading.Condition()
        #: A nudge not yet returned by `next` as None, and one returned but not yet taken.
        self._nudge_pending = False
        self._nudge_returned = False

    def deliver(self, event: JobEvent, progress_every: float = MIN_PROGRESS_INTERVAL) -> None:
        """Queue `event`; `progress_every` is the pace of progress for this subscriber
        now (progress_interval of its export's subscribers)."""
        with self._ready:
            if progress_every != self._progress_every:
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
                    return event
                now = time.monotonic()
                if self._progress is not None and now >= self._progress_due:
                    event, self._progress = self._progress, None
                    self._progress_due = now + self._progress_every
                    return event
                if self._nudge_pending:
                    self._nudge_pending, self._nudge_returned = False, True
                    return None
                if now >= deadline:
                    return None
                # Awake when a progress falls due, held yet or not: one that arrives
                # before then is not announced (deliver notifies only due progress).
                due = self._progress_due
                self._ready.wait((deadline if due <= now else min(deadline, due)) - now)

    def take_nudge(self) -> bool:
        """Whether a nudge came since the last call (returned by `next` or not yet)."""
        with self._ready:
            nudged = self._nudge_pending or self._nudge_returned
            self._nudge_pending = self._nudge_returned = False
            return nudged


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscription]] = defaultdict(list)
        self._latest_progress: dict[str, LiveProgress] = {}

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            if isinstance(event, ProgressUpdated):
                self._latest_progress[event.job_id] = event.live
            elif isinstance(event, Finished):
                self._latest_progress.pop(event.job_id, None)
            subscribers = list(self._subscribers.get(event.job_id, ()))
        every = progress_interval(len(subscribers))
        for subscription in subscribers:
            subscription.deliver(event, every)

    def nudge(self, job_id: str) -> None:
        """Nudge the job's subscribers (every subscriber for "": all may be stale)."""
        with self._lock:
            if job_id:
                subscribers = list(self._subscribers.get(job_id, ()))
            else:
                subscribers = [s for group in self._subscribers.values() for s in group]
        for subscription in subscribers:
            subscription.nudge()

    def latest_progress(self, job_id: str) -> LiveProgress | None:
        with self._lock:
            return self._latest_progress.get(job_id)

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[Subscription]:
        with self._lock:
            subscription = Subscription(progress_interval(len(self._subscribers[job_id]) + 1))
            self._subscribers[job_id].append(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                remaining = self._subscribers[job_id]
                remaining.remove(subscription)
                if not remaining:
                    del self._subscribers[job_id]
