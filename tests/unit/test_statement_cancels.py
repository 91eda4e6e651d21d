"""A stopped export does not wait for its source: the statements in flight are cancelled
(SQLite and DuckDB interrupted here; PostgreSQL in the integration tests), a registry
fired once refuses later statements, and `prefetched`'s consumer stops waiting for a
stuck producer once the export's stop is set."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from sluice.server.errors import Interrupted, Unavailable
from sluice.server.pipeline import prefetch
from sluice.server.pipeline.database_source import plan_read, read_frames, read_schema
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.statement_cancels import StatementCancels
from tests.interrupted_reads import BackgroundRead


def test_a_cancel_reaches_the_statement_in_flight_and_refuses_the_next() -> None:
    cancels = StatementCancels()
    called = threading.Event()
    with pytest.raises(Interrupted), cancels.cancelling(called.set):
        cancels.cancel_all()
        assert called.is_set()
        raise Unavailable("the driver's error for the cancelled statement")
    with pytest.raises(Interrupted), cancels.cancelling(called.set):
        pytest.fail("a statement started after the cancel")


def test_an_error_without_a_cancel_is_the_error() -> None:
    cancels = StatementCancels()
    with pytest.raises(Unavailable), cancels.cancelling(lambda: None):
        raise Unavailable("lost")


def test_a_failing_cancel_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    def refuse() -> None:
        raise RuntimeError("postgresql://reader:secret@db/x")

    cancels = StatementCancels()
    with cancels.cancelling(refuse):
        cancels.cancel_all()
    assert "RuntimeError" in caplog.text and "secret" not in caplog.text


def _slow_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(3)])
    con.close()
    # Counts to a billion before its first row (minutes).
    return (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)"
        " SELECT id FROM t WHERE (SELECT count(*) FROM c) > 0"
    )


def _slow_duckdb(path: Path) -> str:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY)")
        con.execute("INSERT INTO t VALUES (0), (1), (2)")
    # Hashes a trillion numbers before its first row (hours).
    return "SELECT id FROM t WHERE (SELECT sum(hash(r.range)) FROM range(1000000000000) r) <> 0"


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_file_database_statement_is_interrupted_before_its_first_row(
    kind: str, tmp_path: Path
) -> None:
    path = tmp_path / f"slow.{kind}"
    query = _slow_sqlite(path) if kind == "sqlite" else _slow_duckdb(path)
    read = plan_read(kind, str(path), "", query, ["id"])  # type: ignore[arg-type]
    cancels = StatementCancels()
    reading = BackgroundRead(
        lambda: read_frames(read, read_schema(read), ["id"], 100, 0, cancels=cancels)
    )
    time.sleep(1.0)
    assert reading.thread.is_alive(), "the query ended before the cancel"
    reading.cancelled_within(cancels, 3)


def test_the_consumer_stops_waiting_for_a_stuck_producer_once_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A producer stuck (as in a statement that ignores its cancel) and an interrupt that
    blocks (a cancel request to a server that does not answer): the consumer raises
    Interrupted soon after the stop, the interrupt is called, and leaving gives up on
    the producer after ABANDON_SECONDS."""
    monkeypatch.setattr(prefetch, "ABANDON_SECONDS", 0.5)
    release = threading.Event()
    interrupts: list[float] = []

    def stuck() -> Iterator[int]:
        release.wait(30)
        yield 1

    def interrupt() -> None:
        interrupts.append(time.monotonic())
        release.wait(30)

    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    # The with block's exit (waiting for the producer) is under test too.
    with (
        pytest.raises(Interrupted),
        prefetched(stuck(), 1, "stuck", stop=stop, interrupt=interrupt) as items,
    ):
        next(items)
    took = time.monotonic() - started
    release.set()
    assert len(interrupts) == 1, "not interrupted, or again while the first still ran"
    assert took < 2.5, took


def test_a_producer_that_ends_is_not_interrupted() -> None:
    stop = threading.Event()
    interrupts: list[int] = []
    with prefetched(
        iter(range(5)), 2, "short", stop=stop, interrupt=lambda: interrupts.append(1)
    ) as items:
        assert list(items) == [0, 1, 2, 3, 4]
    assert interrupts == []


_EXPORT: contextvars.ContextVar[str] = contextvars.ContextVar("export", default="")


def test_a_prefetched_producer_runs_in_the_callers_context() -> None:
    # Its log lines carry the export's fields (log context is context variables) and
    # its spans nest under the caller's: a fresh thread's context is empty.
    def produced() -> Iterator[str]:
        yield _EXPORT.get()

    token = _EXPORT.set("export-7")
    try:
        with prefetched(produced(), 1, "ctx", stop=threading.Event()) as items:
            assert list(items) == ["export-7"]
    finally:
        _EXPORT.reset(token)
