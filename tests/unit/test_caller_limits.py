"""Queue and watch limits per principal and server-wide, on a real (SQLite) job store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sluice.server.errors import ServerBusy
from sluice.server.jobs import NewJob, SQLiteJobStore
from sluice.server.jobs.model import JobState
from sluice.server.principals import Principal, Scope
from sluice.server.service.caller_limits import CallerLimits
from sluice.server.settings import load_settings
from tests.unit.test_job_store_contract import make_spec

ALICE = Principal(name="alice", scopes=frozenset({Scope.CREATE}))
BOB = Principal(name="bob", scopes=frozenset({Scope.CREATE}))


def _queue(store: SQLiteJobStore, job_id: str, owner: str) -> None:
    store.create(replace(NewJob(job_id, make_spec()), created_by=owner))


def test_queue_limits_count_queued_exports_only() -> None:
    store = SQLiteJobStore(":memory:")
    settings = load_settings(
        overrides={"max_queued_exports": 3, "max_queued_per_principal": 2}, environ={}
    )
    limits = CallerLimits(settings, store)
    _queue(store, "a1", "alice")
    _queue(store, "a2", "alice")
    with (
        pytest.raises(ServerBusy, match="max_queued_per_principal") as busy,
        limits.queue_admission(ALICE),
    ):
        pass
    assert busy.value.transient  # answered with RetryInfo
    with limits.queue_admission(BOB):
        _queue(store, "b1", "bob")
    with pytest.raises(ServerBusy, match="max_queued_exports"), limits.queue_admission(BOB):
        pass
    store.transition("a1", {JobState.QUEUED}, JobState.RUNNING)  # running is not queued
    with limits.queue_admission(ALICE):
        pass


def test_watch_streams_per_principal() -> None:
    settings = load_settings(overrides={"max_watch_streams_per_principal": 1}, environ={})
    limits = CallerLimits(settings, SQLiteJobStore(":memory:"))
    with (
        limits.watch_slot(ALICE),
        limits.watch_slot(BOB),
        pytest.raises(ServerBusy, match="max_watch_streams_per_principal"),
        limits.watch_slot(ALICE),
    ):
        pass
    with limits.watch_slot(ALICE):  # released when the stream ended
        pass
