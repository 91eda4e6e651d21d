"""read_ahead (server/flight/read_ahead.py, DoGet's producer thread): items arrive in
order and the error that ended the iterator after them; the producer stays at most
`depth` ahead; a consumer that goes away, or an `alive()` that turns false, stops the
producer and closes its iterator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sluice.server.flight.read_ahead import read_ahead


class Source:
    """Counts the items produced and whether the iterator was closed."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced = 0
        self.closed = threading.Event()

    def items(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                if n == self.fail_after:
                    raise ValueError(f"broken at {n}")
                self.produced += 1
                yield n
        finally:
            self.closed.set()


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_items_arrive_in_order() -> None:
    source = Source(1_000)
    assert list(read_ahead(source.items(), 3, "test")) == list(range(1_000))
    assert source.closed.is_set()


def test_the_error_arrives_after_the_items_before_it() -> None:
    source = Source(10, fail_after=4)
    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 4"):
        got.extend(read_ahead(source.items(), 2, "test"))
    assert got == [0, 1, 2, 3]


def test_the_producer_stays_at_most_depth_ahead() -> None:
    source = Source(100)
    items = read_ahead(source.items(), 3, "test")
    assert next(items) == 0
    time.sleep(0.5)
    # One taken, three queued, one produced and waiting for a free slot.
    assert source.produced <= 1 + 3 + 1
    items.close()


def test_a_consumer_that_goes_away_stops_the_producer() -> None:
    source = Source(1_000_000)
    items = read_ahead(source.items(), 2, "test")
    assert next(items) == 0
    items.close()
    assert _eventually(source.closed.is_set)
    assert source.produced < 10


def test_alive_turning_false_stops_the_producer() -> None:
    source = Source(1_000_000)
    alive = threading.Event()
    alive.set()
    items = read_ahead(source.items(), 2, "test", alive.is_set)
    assert next(items) == 0
    alive.clear()
    assert _eventually(source.closed.is_set)
    assert source.produced < 10


def test_a_consumer_waiting_when_alive_turns_false_returns() -> None:
    """The call ends while the producer is busy with an item and the consumer waits: the
    producer stops without queueing an end, and the consumer must not wait forever."""
    release = threading.Event()
    alive = threading.Event()
    alive.set()

    def slow() -> Iterator[int]:
        yield 0
        release.wait(5)
        yield 1

    items = read_ahead(slow(), 2, "test", alive.is_set)
    assert next(items) == 0
    finished = threading.Event()

    def consume() -> None:
        for _ in items:
            pass
        finished.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.1)
    alive.clear()
    release.set()
    assert _eventually(finished.is_set)
