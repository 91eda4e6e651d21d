"""A stop that arrives just as a statement is being sent leaves no statement running:
StatementCancels under threads registering and cancelling at random, and SQLite and
DuckDB reads (as the pipeline runs them) stopped at many moments of their start, the
first connection's cancel landing before its statement was sent among them.
PostgreSQL: tests/integration/test_cancel_races.py."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.server.errors import Interrupted
from sluice.server.pipeline import prefetch
from sluice.server.pipeline.database_source import count_rows, plan_read, read_frames, read_schema
from sluice.server.pipeline.statement_cancels import StatementCancels
from tests.stopped_reads import (
    StopAtRegistration,
    TimedStop,
    no_read_threads_within,
    stopped_at_moments,
    stopped_read,
)
from tests.unit.test_statement_cancels import _slow_duckdb, _slow_sqlite


class _Connection:
    """A connection whose statement runs a moment (ending early, failing, when
    cancelled), and which notes a cancel that reached it after it was closed (what
    StatementCancels' lock prevents)."""

    def __init__(self, misuses: list[str]) -> None:
        self.closed = False
        self.cancelled = threading.Event()
        self._misuses = misuses

    def cancel(self) -> None:
        # A cancel request takes a moment (libpq's connects to the server): the
        # connection must stay open throughout.
        time.sleep(0.0002)
        if self.closed:
            self._misuses.append("cancelled after close")
        self.cancelled.set()

    def run_statement(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise OSError("canceling statement due to user request")


def _race(rng: random.Random) -> tuple[list[str], list[BaseException], bool]:
    """One round: four threads running statements, a cancel at a random moment; the
    misuses seen, what ended each thread, and whether a thread still runs."""
    cancels = StatementCancels()
    misuses: list[str] = []
    outcomes: list[BaseException] = []

    def work(seed: float) -> None:
        pause = random.Random(seed)
        while True:
            connection = _Connection(misuses)
            try:
                with cancels.cancelling(connection.cancel):
                    connection.run_statement(pause.uniform(0, 0.0003))
            except BaseException as exc:  # inspected by the test
                outcomes.append(exc)
                return
            finally:
                connection.closed = True

    workers = [threading.Thread(target=work, args=(rng.random(),), daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(rng.uniform(0, 0.002))
    cancels.cancel_all()
    for worker in workers:
        worker.join(5)
    return misuses, outcomes, any(w.is_alive() for w in workers)


def test_threads_registering_while_another_cancels_at_random_leave_nothing_running() -> None:
    """Four threads open connections and run short statements in a loop while the main
    thread cancels all at a random moment: a statement in flight then ends with
    Interrupted (not its driver's error), none starts after (its thread would loop on),
    and no cancel reaches a connection already closed. 300 rounds."""
    rng = random.Random(8)
    for round_number in range(300):
        misuses, outcomes, running = _race(rng)
        assert not running, f"round {round_number}: a statement still runs"
        assert misuses == [], (round_number, misuses)
        assert len(outcomes) == 4, (round_number, outcomes)
        assert all(isinstance(o, Interrupted) for o in outcomes), (round_number, outcomes)


def _slow_read(kind: str, tmp_path: Path, what: str = "rows"):  # type: ignore[no-untyped-def]
    """The frames of a read of a query that runs minutes before its first row, given
    its cancels; with `what` "count", its row count instead (the executor counts a
    database source's rows for progress, running the query in full)."""
    path = tmp_path / f"slow.{kind}"
    query = _slow_sqlite(path) if kind == "sqlite" else _slow_duckdb(path)
    read = plan_read(kind, str(path), "", query, ["id"])  # type: ignore[arg-type]
    schema = read_schema(read)

    def frames(cancels: StatementCancels) -> Iterator[object]:
        if what == "count":
            yield count_rows(read, cancels)
        else:
            yield from read_frames(read, schema, ["id"], 100, 0, cancels=cancels)

    return frames


def _ended_on_the_stop(outcome: BaseException | None, left_after: float) -> None:
    """The read ended with Interrupted once stopped, its statement cancelled: not given
    up on (after ABANDON_SECONDS) with the statement still running on its thread."""
    assert isinstance(outcome, Interrupted), outcome
    assert left_after < prefetch.ABANDON_SECONDS, f"left {left_after:.1f}s after the stop"
    no_read_threads_within(2)


@pytest.mark.parametrize("what", ["rows", "count"])
@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_file_database_read_stopped_as_its_statement_is_sent_ends(
    kind: str, what: str, tmp_path: Path
) -> None:
    """The stop, and the pipeline's cancel of the read's statements, come after the
    connection registered its cancel but before it sent its statement (that cancel
    cancels nothing): the statement, sent after it, is still cancelled (by the cancel
    prefetch repeats while its producer runs), not left running on an abandoned
    thread. The same for the statement counting the rows."""
    frames = _slow_read(kind, tmp_path, what)
    stop = TimedStop()
    outcome, left_after = stopped_read(frames, stop, StopAtRegistration(stop, 1))
    assert stop.is_set(), "the read never registered a cancel"
    _ended_on_the_stop(outcome, left_after)


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_file_database_reads_stopped_at_many_moments_of_their_start_end(
    kind: str, tmp_path: Path
) -> None:
    """Twelve reads, each stopped at another moment from its start to well after its
    statement was sent (moments spread over twice the time this machine takes to
    reach the statement): every one ends with Interrupted, its statement cancelled,
    and no thread of it is left."""
    stopped_at_moments(_slow_read(kind, tmp_path), 0.5, _ended_on_the_stop)
