"""The job store watch judges readiness by time since the last check that succeeded: one
failed (or slow) check within the grace changes nothing, silence past it makes the
daemon not ready, and the first check that succeeds makes it ready again. A store whose
schema became newer than the binary's is reported once, naming both versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from sluice.server.errors import Unavailable
from sluice.server.job_store_watch import JobStoreWatch
from sluice.server.jobs.model import StoreCheck
from sluice.server.jobs.sqlite import SCHEMA_VERSION, SQLiteJobStore
from sluice.server.jobs.store import JobStore


class _Switchable:
    """A real SQLite store behind a switch that makes its checks fail (an outage)."""

    def __init__(self, path: Path) -> None:
        self.store = SQLiteJobStore(path)
        self.down = False

    def check(self) -> StoreCheck:
        if self.down:
            raise Unavailable("job store unavailable: connection refused")
        return self.store.check()


class _Clock:
    """Monotonic seconds the test moves on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watch(store: _Switchable, clock: _Clock, changes: list[bool]) -> JobStoreWatch:
    return JobStoreWatch(
        cast(JobStore, store),
        on_ready=changes.append,
        on_newer_schema=print,
        grace=10.0,
        clock=clock,
    )


def test_one_failed_check_within_the_grace_changes_nothing(tmp_path: Path) -> None:
    store = _Switchable(tmp_path / "jobs.sqlite3")
    clock = _Clock()
    changes: list[bool] = []
    watch = _watch(store, clock, changes)
    store.down = True
    for _ in range(5):
        clock.now += 2.0
        watch.check_once()
    assert changes == []
    assert watch.reading().up is False  # metrics say so at once


def test_silence_past_the_grace_is_not_ready_until_a_check_succeeds(tmp_path: Path) -> None:
    store = _Switchable(tmp_path / "jobs.sqlite3")
    clock = _Clock()
    changes: list[bool] = []
    watch = _watch(store, clock, changes)
    store.down = True
    for _ in range(8):
        clock.now += 2.0
        watch.check_once()
    assert changes == [False]
    store.down = False
    clock.now += 2.0
    watch.check_once()
    assert changes == [False, True]
    assert watch.reading().up is True


def test_a_store_migrated_past_this_binary_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = _Switchable(path)
    reported: list[str] = []
    changes: list[bool] = []
    watch = JobStoreWatch(
        cast(JobStore, store), on_ready=changes.append, on_newer_schema=reported.append
    )
    watch.check_once()
    other = sqlite3.connect(path)
    other.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    other.close()
    watch.check_once()
    watch.check_once()
    assert reported == [
        f"job store {path} now has schema version {SCHEMA_VERSION + 1}, newer than this"
        f" Sluice understands ({SCHEMA_VERSION}): a newer Sluice migrated it; this replica"
        " stops (its exports go back to the queue) and would refuse to start: run the newer"
        " version on every replica"
    ]
    assert changes == [False]
