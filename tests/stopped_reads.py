"""A database read stopped at a chosen moment of its start, the way the export pipeline
runs it (run_pipeline: a prefetching reader thread, given the export's stop, cancelling
the read's statements when the consumer leaves): shared by the unit tests of file
databases and the PostgreSQL integration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from sluice.server.pipeline.postgres_reading import RangedRead
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.statement_cancels import StatementCancels

#: The reader thread's name; every thread of a read starts with it or with DRIVER_THREADS.
READER = "race-reader"
#: Threads the PostgreSQL read starts (its driver's stream, its range connections).
DRIVER_THREADS = "postgres-copy"
#: Key ranges of a million keys whose every statement sleeps a minute first: with two
#: connections, each reads its ranges on its own connection in one snapshot.
SLEEPING_RANGES = RangedRead(
    extent=("SELECT 1::int8, 1000000::int8, 100000000::int8, NULL::text", []),
    select=lambda lower, upper: (
        "SELECT g AS id FROM generate_series(%s::int8, %s::int8 - 1) g"
        " CROSS JOIN pg_sleep(60) ORDER BY g",
        [lower or 1, upper or 1000001],
    ),
)


class StopAtRegistration(StatementCancels):
    """Cancels that stop the read just after its `number`-th statement cancel was
    registered (1: the first connection's), and hold that connection back from sending
    its statement until the pipeline's cancel of every statement has come and gone:
    the stop arrives as the statement is being sent, and that cancel finds nothing
    running yet (for every driver here, a cancel of an idle connection is a no-op).
    With `number` 0 it never stops the read, and only notes when each registration
    came (`registered`)."""

    def __init__(self, stop: threading.Event, number: int) -> None:
        super().__init__()
        self._stop = stop
        self._number = number
        self._count_lock = threading.Lock()
        self._cancelled = threading.Event()
        self.registered: list[float] = []

    @contextmanager
    def cancelling(self, cancel: Callable[[], None]) -> Iterator[None]:
        with super().cancelling(cancel):
            with self._count_lock:
                self.registered.append(time.monotonic())
                now = len(self.registered) == self._number
            if now:
                self._stop.set()
                assert self._cancelled.wait(10), "the pipeline never cancelled the read"
            yield

    def cancel_all(self) -> None:
        super().cancel_all()
        self._cancelled.set()


class TimedStop(threading.Event):
    """An export's stop that notes when it was first set."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def set(self) -> None:
        if self.at is None:
            self.at = time.monotonic()
        super().set()


def stopped_read(
    frames: Callable[[StatementCancels], Iterable[object]],
    stop: TimedStop,
    cancels: StatementCancels,
) -> tuple[BaseException | None, float]:
    """Drain `frames(cancels)` as run_pipeline does, until `stop` (set by the caller, at
    any moment); returns what ended it (None: the rows ran out) and how many seconds
    after the stop the read was left (its producer is given up on, still running, only
    after prefetch.ABANDON_SECONDS)."""
    outcome: BaseException | None = None
    try:
        with prefetched(
            frames(cancels), 2, READER, stop=stop, interrupt=cancels.cancel_all
        ) as ready:
            for _ in ready:
                pass
    except BaseException as exc:  # inspected by the test
        outcome = exc
    left = time.monotonic()
    return outcome, left - (stop.at if stop.at is not None else left)


def stopped_at_moments(
    frames: Callable[[StatementCancels], Iterable[object]],
    first_stop_after: float,
    check: Callable[[BaseException | None, float], None],
) -> list[float]:
    """A calibration read stopped `first_stop_after` seconds in, noting when each of
    its statement cancels was registered; then twelve reads, each stopped at another
    moment from its start to twice the time the last registration took. `check` sees
    every read's outcome and the seconds it was left after its stop. Returns the
    calibration's registration times (seconds from its start)."""
    calibration = TimedStop()
    noting = StopAtRegistration(calibration, 0)
    begun = time.monotonic()
    threading.Timer(first_stop_after, calibration.set).start()
    check(*stopped_read(frames, calibration, noting))
    registered = [at - begun for at in noting.registered]
    assert registered, "the read never registered a cancel"
    for moment in range(12):
        stop = TimedStop()
        timer = threading.Timer(2 * registered[-1] * moment / 11, stop.set)
        timer.start()
        outcome = stopped_read(frames, stop, StatementCancels())
        timer.join()
        check(*outcome)
    return registered


def read_threads() -> list[str]:
    """Names of the live threads a read started (its reader, its driver's, the
    interrupts)."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t.name.startswith(READER) or t.name.startswith(DRIVER_THREADS)
    )


def no_read_threads_within(seconds: float) -> None:
    """Every thread a read started ends within `seconds` (an interrupt thread may still
    be returning from its cancel call)."""
    deadline = time.monotonic() + seconds
    while read_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read_threads() == [], read_threads()
