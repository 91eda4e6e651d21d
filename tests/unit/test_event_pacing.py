"""server.service.events: what a watcher is handed when it reads slowly, and how often
progress reaches it as more watch the same export."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime

from sluice.server.jobs.model import ChunkRecord, JobState, Progress
from sluice.server.service.events import (
    MAX_PROGRESS_INTERVAL,
    MIN_PROGRESS_INTERVAL,
    ChunkCommitted,
    EventHub,
    JobEvent,
    LiveProgress,
    ProgressUpdated,
    StateChanged,
    Subscription,
    progress_interval,
)

JOB = "20261206T000000Z-000000000000"


def _progress(records: int) -> ProgressUpdated:
    return ProgressUpdated(JOB, LiveProgress(Progress(records=records)))


def _chunk(index: int) -> ChunkCommitted:
    return ChunkCommitted(
        JOB,
        ChunkRecord(
            index=index,
            path=f"part-{index:06d}.jsonl",
            records=10,
            stored_bytes=100,
            sha256="0" * 64,
            content_digest="",
            source_start=0,
            source_end=10,
            committed_at=datetime.now(UTC),
        ),
    )


def _drain(subscription: Subscription) -> list[JobEvent]:
    events: list[JobEvent] = []
    while (event := subscription.next(0)) is not None:
        events.append(event)
    return events


def test_a_slow_watcher_gets_the_newest_progress_and_every_chunk_and_state_change() -> None:
    hub = EventHub()
    with hub.subscribe(JOB) as subscription:
        running = StateChanged(JOB, JobState.RUNNING)
        hub.publish(running)
        for records in range(1, 11):
            hub.publish(_progress(records))
        chunk = _chunk(0)
        hub.publish(chunk)
        for records in range(11, 21):
            hub.publish(_progress(records))
        succeeded = StateChanged(JOB, JobState.SUCCEEDED)
        hub.publish(succeeded)

        events = _drain(subscription)

    # Progress 1-10 gave way to the chunk (whose commit publishes a newer one); 11-20
    # coalesced into 20, which goes before the state change, paced or not.
    assert events[:2] == [running, chunk]
    assert isinstance(events[2], ProgressUpdated)
    assert events[2].live.progress.records == 20
    assert events[3:] == [succeeded]


def test_progress_to_each_watcher_slows_as_more_watch() -> None:
    watchers = 20
    every = progress_interval(watchers)
    assert every == watchers / 50 > MIN_PROGRESS_INTERVAL
    hub = EventHub()
    with ExitStack() as stack:
        subscriptions = [stack.enter_context(hub.subscribe(JOB)) for _ in range(watchers)]
        mine = subscriptions[-1]
        first = _progress(1)
        hub.publish(first)
        # The first progress goes at once; the next waits an interval.
        assert mine.next(0) is first
        taken = time.monotonic()
        second = _progress(2)
        hub.publish(second)
        assert mine.next(0) is None
        assert mine.next(5 * every) is second
        assert time.monotonic() - taken >= every - 0.01
        # Every other watcher holds the newest progress, once: no backlog.
        for other in subscriptions[:-1]:
            assert other.next(0) is second
            assert other.next(0) is None


def test_the_pace_ranges_from_the_executors_to_a_ceiling() -> None:
    assert progress_interval(1) == progress_interval(12) == MIN_PROGRESS_INTERVAL
    assert progress_interval(100) == 2.0
    assert progress_interval(100_000) == MAX_PROGRESS_INTERVAL


def test_a_state_change_reaches_a_waiting_watcher_at_once() -> None:
    hub = EventHub()
    with hub.subscribe(JOB) as subscription:
        hub.publish(_progress(1))
        succeeded = StateChanged(JOB, JobState.SUCCEEDED)
        hub.publish(succeeded)
        started = time.monotonic()
        taken = [subscription.next(5), subscription.next(5)]
        assert time.monotonic() - started < 1.0
    assert isinstance(taken[0], ProgressUpdated) and taken[1] is succeeded


def test_an_early_watchers_first_progress_goes_at_once_however_many_joined_since() -> None:
    hub = EventHub()
    with ExitStack() as stack:
        early = stack.enter_context(hub.subscribe(JOB))
        for _ in range(99):
            stack.enter_context(hub.subscribe(JOB))
        first = _progress(1)
        hub.publish(first)  # at the pace of 100 watchers: 2 s
        assert early.next(0) is first
        # From then on, paced at 100 watchers' pace.
        hub.publish(_progress(2))
        assert early.next(0.5) is None


def test_the_pace_moves_with_the_watchers_once_a_progress_was_sent() -> None:
    hub = EventHub()
    with ExitStack() as stack:
        early = stack.enter_context(hub.subscribe(JOB))
        hub.publish(_progress(1))
        assert early.next(0) is not None
        for _ in range(99):
            stack.enter_context(hub.subscribe(JOB))
        hub.publish(_progress(2))
        # Due 2 s after the first, not 0.25 s: the interval grew with the watchers.
        assert early.next(0.6) is None


def test_a_subscriber_without_progress_gets_none_and_does_not_slow_the_watchers() -> None:
    hub = EventHub()
    with ExitStack() as stack:
        watcher = stack.enter_context(hub.subscribe(JOB))
        putters = [stack.enter_context(hub.subscribe(JOB, progress=False)) for _ in range(200)]
        hub.publish(_progress(1))
        assert watcher.next(0) is not None
        second = _progress(2)
        hub.publish(second)
        # One watcher: the executor's pace, however many other subscribers there are.
        assert watcher.next(MIN_PROGRESS_INTERVAL + 0.5) is second
        chunk = _chunk(0)
        hub.publish(chunk)
        for putter in putters:
            assert _drain(putter) == [chunk]


def test_a_subscriber_follows_progress_from_when_it_asks_to() -> None:
    hub = EventHub()
    with ExitStack() as stack:
        watcher = stack.enter_context(hub.subscribe(JOB))
        hub.publish(_progress(1))
        assert watcher.next(0) is not None
        # 200 subscribed, not yet following progress (a WatchExport before its check).
        pending = [stack.enter_context(hub.subscribe(JOB, progress=False)) for _ in range(200)]
        hub.publish(_progress(2))
        assert watcher.next(MIN_PROGRESS_INTERVAL + 0.5) is not None
        late = pending[0]
        hub.follow_progress(late)
        third = _progress(3)
        hub.publish(third)
        assert late.next(0) is third  # its first at once
        assert [e for p in pending[1:] for e in _drain(p)] == []


def test_a_consumer_that_ignores_nudges_still_waits_for_events() -> None:
    """A Flight DoPut never takes its nudges: after one (a shared store's RESYNC nudges
    every subscriber), next() must not return at once ever after, or its loop spins."""
    hub = EventHub()
    with hub.subscribe(JOB) as subscription:
        hub.nudge("")
        assert subscription.next(5) is None  # the nudge
        started = time.monotonic()
        returns = 0
        while time.monotonic() - started < 0.5:
            assert subscription.next(0.1) is None
            returns += 1
        assert returns <= 6


def test_a_nudge_is_returned_by_next_once() -> None:
    subscription = Subscription(JOB, progress=True)
    subscription.nudge()
    subscription.nudge()  # two before the consumer looks: one wake
    started = time.monotonic()
    assert subscription.next(5) is None
    assert time.monotonic() - started < 1
    started = time.monotonic()
    assert subscription.next(0.2) is None
    assert time.monotonic() - started >= 0.19
