"""In-process publish/subscribe of export events, for WatchExport.

Each subscriber has its own small queue. Progress events coalesce (a slow watcher sees
the latest progress, not a backlog), so a hundred watchers cost the export nothing but
a few appends; state, chunk and finish events are always delivered.
"""

from __future__ import annotations

import threading
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


class Subscription:
    def __init__(self) -> None:
        self._pending: deque[JobEvent] = deque()
        self._ready = threading.Condition()
        self._nudged = False

    def deliver(self, event: JobEvent) -> None:
        with self._ready:
            if (
                isinstance(event, ProgressUpdated)
                and self._pending
                and isinstance(self._pending[-1], ProgressUpdated)
            ):
                self._pending[-1] = event
            else:
                if len(self._pending) >= _MAX_PENDING:
                    self._pending.popleft()
                self._pending.append(event)
            self._ready.notify()

    def nudge(self) -> None:
        """Wake a waiting `next` without an event: the job changed in the store (on
        another replica), so the watcher should read it now rather than at its poll."""
        with self._ready:
            self._nudged = True
            self._ready.notify()

    def next(self, timeout: float) -> JobEvent | None:
        """The next event, or None after `timeout` seconds without one (or at a nudge)."""
        with self._ready:
            if not self._pending and not self._nudged:
                self._ready.wait(timeout)
            return self._pending.popleft() if self._pending else None

    def take_nudge(self) -> bool:
        """Whether a nudge came since the last call."""
        with self._ready:
            nudged, self._nudged = self._nudged, False
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
        for subscription in subscribers:
            subscription.deliver(event)

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
        subscription = Subscription()
        with self._lock:
            self._subscribers[job_id].append(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                remaining = self._subscribers[job_id]
                remaining.remove(subscription)
                if not remaining:
                    del self._subscribers[job_id]
