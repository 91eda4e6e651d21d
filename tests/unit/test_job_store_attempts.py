"""The JobStore contract for export attempts and retries (begin_attempt, end_attempt,
retry_later, attempts), run against SQLite and a real PostgreSQL like the rest of the
contract (tests/unit/test_job_store_contract.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition, LeaseLost, NotFound
from sluice.server.jobs import JobError, JobState, JobStore, Lease, SQLiteJobStore, postgres
from sluice.server.jobs.model import AttemptEnd, AttemptOutcome
from sluice.server.jobs.postgres import PostgresJobStore
from tests.servers.postgres import PostgresServer
from tests.unit.test_job_store_contract import new_job

Q, R, S, F, C = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELLED,
)
UNAVAILABLE = JobError("UNAVAILABLE", "storage s3://b answered 503", True)


def claim(store: JobStore, owner: str, lease_seconds: float = 30) -> Lease:
    claimed = store.claim(owner, lease_seconds)
    assert claimed is not None
    return claimed[1]


class AttemptContract:
    def open_store(self, tmp_path: Path) -> JobStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[JobStore]:
        opened = self.open_store(tmp_path)
        yield opened
        opened.close()

    def test_each_run_is_an_attempt_with_its_replica_times_and_outcome(
        self, store: JobStore
    ) -> None:
        store.create(new_job("j1"))
        assert store.attempts("j1") == []
        lease = claim(store, "replica-a")
        began = store.begin_attempt(lease)
        assert (began.number, began.replica, began.outcome) == (1, "replica-a", "running")
        assert began.ended_at is None and began.error is None
        store.end_attempt(lease, AttemptOutcome.SUCCEEDED)
        store.end_attempt(lease, AttemptOutcome.FAILED, UNAVAILABLE)  # ended already: no-op
        (only,) = store.attempts("j1")
        assert (only.number, only.outcome, only.error) == (1, AttemptOutcome.SUCCEEDED, None)
        assert only.ended_at is not None and only.ended_at >= only.started_at
        assert only.started_at.utcoffset() == timedelta(0)

    @pytest.mark.parametrize(
        ("final", "outcome", "error"),
        [
            (S, AttemptOutcome.SUCCEEDED, None),
            (F, AttemptOutcome.FAILED, UNAVAILABLE),
            (C, AttemptOutcome.CANCELLED, None),
        ],
    )
    def test_the_final_transition_ends_the_attempt_with_it(
        self, store: JobStore, final: JobState, outcome: AttemptOutcome, error: JobError | None
    ) -> None:
        # One transaction: a crash can never leave an ended attempt on a running job (its
        # next run would count failures in a row afresh).
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        job = store.transition(
            "j1", {R}, final, error=error, lease=lease, attempt=AttemptEnd(outcome, error)
        )
        assert job.state == final
        (only,) = store.attempts("j1")
        assert (only.outcome, only.error) == (outcome, error)
        assert only.ended_at is not None

    def test_a_refused_final_transition_leaves_the_attempt_running(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        ended = AttemptEnd(AttemptOutcome.FAILED, UNAVAILABLE)
        with pytest.raises(FailedPrecondition):
            store.transition("j1", {Q}, F, error=UNAVAILABLE, lease=lease, attempt=ended)
        with pytest.raises(ValueError, match="lease"):
            store.transition("j1", {R}, F, error=UNAVAILABLE, attempt=ended)
        (only,) = store.attempts("j1")
        assert (only.outcome, only.ended_at) == (AttemptOutcome.RUNNING, None)
        assert store.get("j1").state == R

    def test_release_ends_the_attempt_as_handed_back_with_it(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        assert store.release(lease, timedelta(0)).state == Q
        (only,) = store.attempts("j1")
        assert only.outcome == AttemptOutcome.HANDED_BACK and only.ended_at is not None

    def test_retry_later_requeues_after_the_backoff_only(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        not_before = datetime.now(UTC) + timedelta(seconds=1)
        job = store.retry_later(lease, UNAVAILABLE, not_before)
        assert (job.state, job.replica, job.cancel_requested) == (Q, "", False)
        (first,) = store.attempts("j1")
        assert (first.outcome, first.error) == (AttemptOutcome.RETRIED, UNAVAILABLE)
        assert first.retry_at is not None
        # PostgreSQL keeps it in the database's clock (the same one here, give or take
        # the round trip that reads it).
        assert abs((first.retry_at - not_before).total_seconds()) < 1.0
        # The old lease is over, and nobody may claim the job before its backoff ends.
        with pytest.raises(LeaseLost):
            store.renew(lease, 30)
        assert store.claim("replica-b", 30) is None
        time.sleep(1.2)
        again = claim(store, "replica-b")
        assert again.token == lease.token + 1
        second = store.begin_attempt(again)
        assert (second.number, second.replica) == (2, "replica-b")
        assert [a.number for a in store.attempts("j1")] == [1, 2]

    def test_a_lost_lease_cannot_retry(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        old = claim(store, "replica-a", 0.2)
        store.begin_attempt(old)
        time.sleep(0.5)
        new = claim(store, "replica-b")
        with pytest.raises(LeaseLost):
            store.retry_later(old, UNAVAILABLE, datetime.now(UTC))
        with pytest.raises(LeaseLost):
            store.begin_attempt(old)
        assert store.get("j1").state == R
        # The new holder's run closes the old one, which never recorded its end.
        store.begin_attempt(new)
        first, second = store.attempts("j1")
        assert (first.outcome, first.ended_at is not None) == (AttemptOutcome.STOPPED, True)
        assert (second.number, second.outcome) == (2, AttemptOutcome.RUNNING)
        # A replica ends only its own run: the old token matches nothing open now.
        store.end_attempt(old, AttemptOutcome.LEASE_LOST)
        assert store.attempts("j1")[1].outcome == AttemptOutcome.RUNNING

    def test_a_cancel_during_the_backoff_ends_the_wait_for_a_resume(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        store.retry_later(lease, UNAVAILABLE, datetime.now(UTC) + timedelta(hours=1))
        assert store.transition("j1", {Q}, C).state == C
        store.transition("j1", {C}, Q)  # resumed by its owner: claimable at once
        assert claim(store, "replica-a").job_id == "j1"

    def test_a_cancel_asked_for_before_a_retry_wins_over_it(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        store.begin_attempt(lease)
        store.request_cancel("j1")
        job = store.retry_later(lease, UNAVAILABLE, datetime.now(UTC))
        # Nothing written: still RUNNING under its lease, with the cancel still asked for.
        assert (job.state, job.cancel_requested) == (R, True)
        assert store.attempts("j1")[0].outcome == AttemptOutcome.RUNNING
        assert store.claim("replica-b", 30) is None
        store.end_attempt(lease, AttemptOutcome.CANCELLED)
        assert store.transition("j1", {R}, C, lease=lease).state == C

    def test_attempts_of_an_unknown_job_are_not_found(self, store: JobStore) -> None:
        with pytest.raises(NotFound):
            store.attempts("missing")


class TestSQLiteAttempts(AttemptContract):
    def open_store(self, tmp_path: Path) -> JobStore:
        return SQLiteJobStore(tmp_path / "jobs.sqlite3")


class TestPostgresAttempts(AttemptContract):
    @pytest.fixture(autouse=True)
    def _database(self, postgres_server: PostgresServer) -> None:
        self.url = postgres_server.new_database()

    def open_store(self, tmp_path: Path) -> JobStore:
        return PostgresJobStore(self.url)

    def test_a_replica_clock_ahead_does_not_lengthen_the_backoff(
        self, store: JobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Claims compare not_before with the database's now(): a backoff computed on a
        replica whose clock is an hour ahead waited an hour more."""
        store.create(new_job("j1"))
        lease = claim(store, "replica-a")
        ahead = timedelta(hours=1)
        monkeypatch.setattr(postgres, "_now", lambda: datetime.now(UTC) + ahead)
        not_before = datetime.now(UTC) + ahead + timedelta(seconds=1)  # a 1 s backoff
        store.retry_later(lease, UNAVAILABLE, not_before)
        assert store.claim("replica-b", 30) is None
        time.sleep(1.5)
        assert claim(store, "replica-b").job_id == "j1"
