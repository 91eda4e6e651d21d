"""What the two SQL job stores share about export attempts: one row per run of an export
(per claim), its end, and handing a transiently failed job back to the queue until its
backoff ends. Kept apart from rows.py so the attempt bookkeeping stays one small module.

Each statement is written with `{p}` for the store's placeholder; times are parameters
(the store's own time type), so both stores run the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from sluice.server.jobs.model import (
    AttemptEnd,
    AttemptOutcome,
    ExportAttempt,
    JobError,
    JobState,
    Lease,
)

#: An aware datetime as the store keeps it, and back.
WriteTime = Callable[[datetime], object]
ReadTime = Callable[[Any], datetime | None]

ATTEMPT_COLUMNS: Final = (
    "number, replica, started_at, ended_at, outcome, error_code, error_message,"
    " error_transient, retry_at"
)

#: A run that never recorded its end (its replica died) is closed when the next starts.
CLOSE_STRAY_SQL: Final = (
    "UPDATE attempts SET ended_at = {p}, outcome = {p} WHERE job_id = {p} AND ended_at IS NULL"
)
#: A new attempt, numbered after the job's last one. Parameters: job id, replica, lease
#: token, started at, job id.
BEGIN_SQL: Final = (
    "INSERT INTO attempts (job_id, number, replica, lease_token, started_at, outcome)"
    " SELECT {p}, COALESCE(MAX(number), 0) + 1, {p}, {p}, {p}, 'running'"
    " FROM attempts WHERE job_id = {p}"
)
#: The end of the attempt run under a lease. Matched by the lease's token, so a replica
#: can only ever end its own run (whatever happened to the lease since).
END_SQL: Final = (
    "UPDATE attempts SET ended_at = {p}, outcome = {p}, error_code = {p}, error_message = {p},"
    " error_transient = {p}, retry_at = {p}"
    " WHERE job_id = {p} AND lease_token = {p} AND ended_at IS NULL"
)
#: Back to the queue, lease and cancel request ended, claimable again from `not_before`.
REQUEUE_SQL: Final = (
    "UPDATE jobs SET state = {p}, lease_owner = '', lease_expires_at = NULL,"
    " cancel_requested = {p}, not_before = {p}, updated_at = {p} WHERE id = {p}"
)
#: Whether a cancel was asked for the job (it then wins over a retry).
CANCEL_PENDING_SQL: Final = "SELECT cancel_requested FROM jobs WHERE id = {p}"
LIST_SQL: Final = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_id = {{p}} ORDER BY number"


def close_stray_values(job_id: str, now: object) -> tuple[object, ...]:
    return (now, AttemptOutcome.STOPPED.value, job_id)


def begin_values(lease: Lease, now: object) -> tuple[object, ...]:
    return (lease.job_id, lease.owner, lease.token, now, lease.job_id)


def end_values(
    lease: Lease,
    outcome: AttemptOutcome,
    error: JobError | None,
    now: object,
    retry_at: object = None,
) -> tuple[object, ...]:
    return (
        now,
        outcome.value,
        None if error is None else error.code,
        None if error is None else error.message,
        None if error is None else error.transient,
        retry_at,
        lease.job_id,
        lease.token,
    )


def transition_end_values(
    attempt: AttemptEnd | None, lease: Lease | None, now: object
) -> tuple[object, ...] | None:
    """END_SQL's values for the attempt a transition ends (None: it ends none).
    ValueError for an attempt without its lease: the lease names the run."""
    if attempt is None:
        return None
    if lease is None:
        raise ValueError("ending an attempt needs the lease it ran under")
    return end_values(lease, attempt.outcome, attempt.error, now)


def requeue_values(job_id: str, not_before: object, now: object) -> tuple[object, ...]:
    return (JobState.QUEUED.value, False, not_before, now, job_id)


def attempt_from_row(row: Mapping[str, Any], read_time: ReadTime) -> ExportAttempt:
    started_at = read_time(row["started_at"])
    assert started_at is not None
    error = None
    if row["error_code"] is not None:
        error = JobError(row["error_code"], row["error_message"], bool(row["error_transient"]))
    return ExportAttempt(
        number=int(row["number"]),
        replica=row["replica"],
        started_at=started_at,
        ended_at=read_time(row["ended_at"]),
        outcome=AttemptOutcome(row["outcome"]),
        error=error,
        retry_at=read_time(row["retry_at"]),
    )


def cancel_pending(cursor: Any) -> bool:
    """The answer of CANCEL_PENDING_SQL."""
    row = cursor.fetchone()
    return row is not None and bool(row["cancel_requested"])
