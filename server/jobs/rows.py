"""What the two SQL job stores (SQLite, PostgreSQL) share: their columns, the conversion
of rows to job records and back, and the rule a state transition follows. Each store
brings only its SQL dialect and how it stores a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sluice.server.errors import FailedPrecondition, LeaseLost
from sluice.server.jobs.forgotten_values import FORGOTTEN, SCHEDULE_LABEL, forgotten_spec
from sluice.server.jobs.model import (
    ChunkRecord,
    DeliveryState,
    Job,
    JobError,
    JobState,
    Lease,
    NotificationDelivery,
    Progress,
)
from sluice.server.jobs.request_keys import callers_request_id, stored_request_id
from sluice.server.pipeline.results import Counters, add_counters
from sluice.server.planning.spec import ExportSpec

JOB_COLUMNS: Final = (
    "id, request_id, state, spec_json, created_at, updated_at, started_at, finished_at,"
    " manifest_uri, error_code, error_message, error_transient,"
    " records, chunks, stored_bytes, source_rows_done, source_rows_total, created_by,"
    " lease_owner, cancel_requested, counters_json, revision, request_fingerprint"
)
CHUNK_COLUMNS: Final = (
    "idx, path, records, stored_bytes, sha256, content_digest, source_start, source_end,"
    " committed_at, counters_json, cursor_max_json, source_last_key_json"
)
NOTIFICATION_COLUMNS: Final = (
    "job_id, idx, target, delivery_id, state, attempts, last_error, last_attempt_at,"
    " next_attempt_at, late_seconds"
)

#: A stored time (SQLite text, PostgreSQL timestamptz) as an aware UTC datetime, or None.
ReadTime = Callable[[Any], datetime | None]
#: An aware datetime as the store keeps it.
WriteTime = Callable[[datetime], object]


def job_from_row(row: Mapping[str, Any], read_time: ReadTime) -> Job:
    error = None
    if row["error_code"] is not None:
        error = JobError(row["error_code"], row["error_message"], bool(row["error_transient"]))
    created_at, updated_at = read_time(row["created_at"]), read_time(row["updated_at"])
    assert created_at is not None and updated_at is not None
    return Job(
        id=row["id"],
        spec=ExportSpec.from_json(row["spec_json"]),
        state=JobState(row["state"]),
        created_at=created_at,
        updated_at=updated_at,
        request_id=callers_request_id(row["request_id"]),
        started_at=read_time(row["started_at"]),
        finished_at=read_time(row["finished_at"]),
        progress=Progress(
            records=int(row["records"]),
            chunks=int(row["chunks"]),
            stored_bytes=int(row["stored_bytes"]),
            source_rows_done=int(row["source_rows_done"]),
            source_rows_total=int(row["source_rows_total"]),
            counters=_counters(row["counters_json"]),
        ),
        manifest_uri=row["manifest_uri"],
        error=error,
        created_by=row["created_by"],
        replica=row["lease_owner"],
        cancel_requested=bool(row["cancel_requested"]),
        revision=int(row["revision"]),
        # Empty only for a forgotten request (FORGET_REQUEST_SQL): create and restore
        # store one for every job.
        values_forgotten=row["request_fingerprint"] == "",
    )


def _counters(text: str | None) -> Counters:
    if text is None:
        return ()
    return tuple((str(name), int(count)) for name, count in json.loads(text))


def counters_text(counters: Counters) -> str:
    """Counters as the store keeps them (a chunk's counters_json, a job's)."""
    return json.dumps([list(pair) for pair in counters])


#: A job's progress between chunks (save_progress; values from live_progress_values):
#: everything but the counters. The pipeline's totals already count the chunk being
#: committed, so its counters reach the job row only with that chunk (record_chunk, in
#: its transaction): a commit that fails never leaves the job's counters a chunk ahead
#: of its journal. Before its WHERE clause, with the store's placeholder in place of `?`.
LIVE_PROGRESS_UPDATE_SQL: Final = (
    "UPDATE jobs SET records = ?, chunks = ?, stored_bytes = ?, source_rows_done = ?,"
    " source_rows_total = ?, updated_at = ?"
)


def live_progress_values(progress: Progress, now: object) -> tuple[object, ...]:
    return (
        progress.records,
        progress.chunks,
        progress.stored_bytes,
        progress.source_rows_done,
        progress.source_rows_total,
        now,
    )


#: A job's whole progress, counters included (with a chunk, or at the end); values from
#: progress_values.
PROGRESS_UPDATE_SQL: Final = LIVE_PROGRESS_UPDATE_SQL + ", counters_json = ?"


def progress_values(progress: Progress, now: object) -> tuple[object, ...]:
    return (*live_progress_values(progress, now), counters_text(progress.counters))


def needs_summed_counters(row: Mapping[str, Any]) -> bool:
    """Whether a job row predates counters kept on the job (NULL) and has chunks whose
    counters must be summed instead (SUMMED_COUNTERS_SQL, with_summed_counters)."""
    return row["counters_json"] is None and int(row["chunks"]) > 0


#: The counters of a job's chunks (parameter: the job id), for rows from before
#: counters were kept on the job.
SUMMED_COUNTERS_SQL: Final = "SELECT counters_json FROM chunks WHERE job_id = ?"


def with_summed_counters(job: Job, chunk_rows: Sequence[Any]) -> Job:
    counters: Counters = ()
    for row in chunk_rows:
        counters = add_counters(
            counters, _counters(row[0] if not isinstance(row, Mapping) else row["counters_json"])
        )
    return replace(job, progress=replace(job.progress, counters=counters))


def chunk_from_row(row: Mapping[str, Any], read_time: ReadTime) -> ChunkRecord:
    committed_at = read_time(row["committed_at"])
    assert committed_at is not None
    return ChunkRecord(
        index=int(row["idx"]),
        path=row["path"],
        records=int(row["records"]),
        stored_bytes=int(row["stored_bytes"]),
        sha256=row["sha256"],
        content_digest=row["content_digest"],
        source_start=int(row["source_start"]),
        source_end=int(row["source_end"]),
        committed_at=committed_at,
        counters=_counters(row["counters_json"]),
        cursor_max=json.loads(row["cursor_max_json"]),
        source_last_key=_key_tuple(json.loads(row["source_last_key_json"])),
    )


def _key_tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def chunk_values(job_id: str, chunk: ChunkRecord, write_time: WriteTime) -> tuple[object, ...]:
    """A chunk as the values of `INSERT INTO chunks (job_id, CHUNK_COLUMNS)`."""
    return (
        job_id,
        chunk.index,
        chunk.path,
        chunk.records,
        chunk.stored_bytes,
        chunk.sha256,
        chunk.content_digest,
        chunk.source_start,
        chunk.source_end,
        write_time(chunk.committed_at),
        counters_text(chunk.counters),
        json.dumps(chunk.cursor_max),
        json.dumps(None if chunk.source_last_key is None else list(chunk.source_last_key)),
    )


#: Inserting a job recorded elsewhere (JobStore.restore), with the store's placeholder
#: in place of `?`; its values come from restored_job_values.
RESTORE_JOB_SQL: Final = (
    "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json,"
    " created_at, updated_at, started_at, finished_at, manifest_uri,"
    " records, chunks, stored_bytes, source_rows_done, source_rows_total,"
    " created_by, counters_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
#: The job's labels, values (job_id, key, value) per label.
INSERT_LABEL_SQL: Final = "INSERT INTO job_labels (job_id, key, value) VALUES (?, ?, ?)"


def restored_job_values(
    job: Job, chunks: Sequence[ChunkRecord], write_time: WriteTime
) -> tuple[object, ...]:
    """A job and its chunks as the values of RESTORE_JOB_SQL."""
    counters: Counters = ()
    for chunk in chunks:
        counters = add_counters(counters, chunk.counters)

    def optional(value: datetime | None) -> object:
        return None if value is None else write_time(value)

    return (
        job.id,
        stored_request_id(job.created_by, job.request_id),
        job.spec.fingerprint(),
        job.state.value,
        job.spec.to_json(),
        write_time(job.created_at),
        write_time(job.updated_at),
        optional(job.started_at),
        optional(job.finished_at),
        job.manifest_uri,
        job.progress.records,
        job.progress.chunks,
        job.progress.stored_bytes,
        job.progress.source_rows_done,
        job.progress.source_rows_total,
        job.created_by,
        counters_text(job.progress.counters or counters),
    )


#: One attempt of a notification delivery, with the store's placeholder in place of `?`;
#: values from attempt_values.
#: An attempt that ends after its export was deleted (a delivery in flight meanwhile)
#: records its error as FORGOTTEN_ERROR: the delete forgot the others already. PostgreSQL
#: first takes a share lock on the job row (postgres_forgetting.lock_delivery_job): the
#: statement's snapshot would otherwise predate a delete committed while it waited.
#: One that would be retried ends failed instead, with EXPORT_DELETED, as the delete
#: failed the others (FAIL_DELETED_DELIVERIES_SQL): a deleted export's deliveries are
#: never due again, and say why alike however the attempt raced the delete.
_JOB_DELETED: Final = (
    "EXISTS (SELECT 1 FROM jobs j WHERE j.id = notifications.job_id AND j.state = ?)"
)
_RETRIED_AFTER_DELETE: Final = f"? = ? AND {_JOB_DELETED}"
RECORD_ATTEMPT_SQL: Final = (
    "UPDATE notifications SET attempts = attempts + 1,"
    f" state = CASE WHEN {_RETRIED_AFTER_DELETE} THEN ? ELSE ? END,"
    f" last_error = CASE WHEN {_RETRIED_AFTER_DELETE} THEN ?"
    f" WHEN ? <> '' AND {_JOB_DELETED} THEN ? ELSE ? END,"
    " last_attempt_at = ?,"
    # Typed NULL: PostgreSQL types the other branch's parameter from it.
    f" next_attempt_at = CASE WHEN {_RETRIED_AFTER_DELETE}"
    " THEN CAST(NULL AS timestamptz) ELSE ? END,"
    " late_seconds = COALESCE(CAST(? AS DOUBLE PRECISION), late_seconds)"
    " WHERE delivery_id = ?"
)


def attempt_values(
    delivery_id: str,
    *,
    state: DeliveryState,
    error: str,
    attempted_at: datetime,
    next_attempt_at: datetime | None,
    late_seconds: float | None,
    write_time: WriteTime,
) -> tuple[object, ...]:
    retried_after_delete = (state.value, DeliveryState.PENDING.value, JobState.DELETED.value)
    return (
        *retried_after_delete,
        DeliveryState.FAILED.value,
        state.value,
        *retried_after_delete,
        EXPORT_DELETED,
        error,
        JobState.DELETED.value,
        FORGOTTEN_ERROR,
        error,
        write_time(attempted_at),
        *retried_after_delete,
        None if next_attempt_at is None else write_time(next_attempt_at),
        late_seconds,
        delivery_id,
    )


#: The transition's UPDATE, with the store's placeholder in place of `?`; its values come
#: from transition_values.
TRANSITION_SQL: Final = (
    "UPDATE jobs SET state = ?, updated_at = ?,"
    " started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END,"
    " finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE ? END,"
    " error_code = ?, error_message = ?, error_transient = ?,"
    " manifest_uri = COALESCE(?, manifest_uri),"
    " lease_owner = CASE WHEN ? THEN lease_owner ELSE '' END,"
    " lease_expires_at = CASE WHEN ? THEN lease_expires_at ELSE NULL END,"
    " cancel_requested = CASE WHEN ? THEN cancel_requested ELSE ? END,"
    # Any transition ends a backoff: a resume or a cancel is the caller's decision now.
    " not_before = NULL"
    " WHERE id = ?"
)


def transition_values(
    job_id: str,
    current: JobState,
    allowed_from: Collection[JobState],
    to: JobState,
    *,
    now: object,
    error: JobError | None,
    manifest_uri: str | None,
) -> tuple[object, ...]:
    """The values of TRANSITION_SQL, or FailedPrecondition naming the current state when
    it is not in allowed_from. started_at is set on the first RUNNING; finished_at on
    entering a final state, kept from one final state to another (succeeded -> deleted:
    the export finished when it first did) and cleared when leaving one."""
    if current not in allowed_from:
        expected = " or ".join(sorted(JobState(s).value for s in allowed_from))
        raise FailedPrecondition(f"export '{job_id}' is {current}; expected {expected}")
    return (
        to.value,
        now,
        to is JobState.RUNNING,
        now,
        to.final and current.final,
        now,
        now if to.final else None,
        None if error is None else error.code,
        None if error is None else error.message,
        None if error is None else error.transient,
        manifest_uri,
        # Leaving RUNNING ends the lease (its token stays: tokens only grow) and any
        # cancel request with it.
        to is JobState.RUNNING,
        to is JobState.RUNNING,
        to is JobState.RUNNING,
        False,
        job_id,
    )


def check_not_deleting(to: JobState) -> None:
    """A job becomes DELETED only through mark_deleted, which forgets its request's
    values in the same transaction: a transition there would keep them."""
    if to is JobState.DELETED:
        raise ValueError("a job becomes DELETED through mark_deleted, not transition")


#: What a forgotten export's error messages become: its own, its attempts' and its
#: notification deliveries'. A message may quote the request's values (a `where`
#: literal, a subject's e-mail address, a path naming a person, a notify target), and
#: which part of it does cannot be told from the text, so none of it is kept; the error's
#: code and whether it was transient are (they name a kind of failure, nobody's value).
FORGOTTEN_ERROR: Final = "(message forgotten with the deleted export's values)"
#: The last_error of a delivery its export's delete ended (FAIL_DELETED_DELIVERIES_SQL).
EXPORT_DELETED: Final = "export deleted"

#: mark_deleted's forgetting, in its transaction, with the store's placeholder in place of
#: `?`: the spec masked (forgotten_values), the job's error message reduced to
#: FORGOTTEN_ERROR, and the request's fingerprint emptied, for a digest of the whole
#: request beside the masked one would confirm a guessed value. An empty fingerprint
#: marks a forgotten request (create stores one for every job): Job.values_forgotten.
FORGET_REQUEST_SQL: Final = (
    "UPDATE jobs SET spec_json = ?, request_fingerprint = '',"
    " error_message = CASE WHEN error_message IS NULL THEN NULL ELSE ? END WHERE id = ?"
)
#: ... each notification's target as the masked spec has it (a deleted job's deliveries
#: are never due again: its state is no NOTIFYING_STATES one, and it never resumes) ...
FORGET_TARGET_SQL: Final = "UPDATE notifications SET target = ? WHERE job_id = ? AND idx = ?"
#: ... each label's value as the masked spec has it (ListExports filters on these rows) ...
FORGET_LABEL_SQL: Final = "UPDATE job_labels SET value = ? WHERE job_id = ? AND key = ?"
#: ... each attempt's error message and each delivery's last error reduced as the job's
#: (values from forgotten_error_values) ...
FORGET_ATTEMPT_ERRORS_SQL: Final = (
    "UPDATE attempts SET error_message = ? WHERE job_id = ? AND error_message IS NOT NULL"
)
FORGET_DELIVERY_ERRORS_SQL: Final = (
    "UPDATE notifications SET last_error = ? WHERE job_id = ?"
    f" AND last_error NOT IN ('', '{EXPORT_DELETED}')"
)
#: ... and its deliveries still pending (retrying when the export was deleted) failed:
#: nothing delivers a deleted export's notifications (model.NOTIFYING_STATES), and they
#: showed "pending" for good. Values from deleted_delivery_values.
FAIL_DELETED_DELIVERIES_SQL: Final = (
    "UPDATE notifications SET state = ?, last_error = ?, next_attempt_at = NULL"
    " WHERE job_id = ? AND state = ?"
)
#: ... and each chunk's values read from the rows: the largest cursor (before redaction)
#: and the last row's order key, which only a resume reads.
FORGET_CHUNK_VALUES_SQL: Final = (
    "UPDATE chunks SET cursor_max_json = 'null', source_last_key_json = 'null' WHERE job_id = ?"
)


#: A deleted job's run facts (its source files' paths, server/execution/run_facts.py): a
#: deleted export is never resumed, so they go with its values.
FORGET_RUN_FACTS_SQL: Final = "DELETE FROM run_facts WHERE job_id = ?"


#: The DELETED jobs with something not forgotten yet (forget_deleted): deleted before
#: mark_deleted forgot their request, or before it forgot error messages and label values
#: (kept by a Sluice that masked only the spec, or an attempt's or delivery's recorded after
#: the delete by a run or a delivery that ended late). With the store's placeholder in
#: place of `?`; values from unforgotten_values.
UNFORGOTTEN_SQL: Final = (
    "SELECT id, spec_json FROM jobs WHERE state = ? AND (request_fingerprint <> ''"
    " OR error_message <> ?"
    " OR EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = jobs.id AND a.error_message <> ?)"
    " OR EXISTS (SELECT 1 FROM notifications n WHERE n.job_id = jobs.id"
    " AND (n.state = ? OR n.last_error <> '' AND n.last_error NOT IN (?, ?)))"
    " OR EXISTS (SELECT 1 FROM job_labels l WHERE l.job_id = jobs.id"
    " AND l.value <> ? AND l.key <> ?)"
    " OR EXISTS (SELECT 1 FROM run_facts r WHERE r.job_id = jobs.id))"
)


def unforgotten_values() -> tuple[str, ...]:
    """The values of UNFORGOTTEN_SQL."""
    return (
        JobState.DELETED.value,
        FORGOTTEN_ERROR,
        FORGOTTEN_ERROR,
        DeliveryState.PENDING.value,
        FORGOTTEN_ERROR,
        EXPORT_DELETED,
        FORGOTTEN,
        SCHEDULE_LABEL,
    )


def forgotten_values(
    job_id: str, spec_json: str
) -> tuple[tuple[str, str, str], list[tuple[str, str, int]], list[tuple[str, str, str]]]:
    """The values of FORGET_REQUEST_SQL, of each FORGET_TARGET_SQL and of each
    FORGET_LABEL_SQL for a job whose stored spec is `spec_json` (its notifications are
    its spec's notify, in order; its job_labels rows its spec's labels)."""
    spec = forgotten_spec(ExportSpec.from_json(spec_json))
    targets = [(target, job_id, index) for index, target in enumerate(spec.notify)]
    labels = [(value, job_id, key) for key, value in spec.labels]
    return (spec.to_json(), FORGOTTEN_ERROR, job_id), targets, labels


def deleted_delivery_values(job_id: str) -> tuple[str, str, str, str]:
    """The values of FAIL_DELETED_DELIVERIES_SQL."""
    return (DeliveryState.FAILED.value, EXPORT_DELETED, job_id, DeliveryState.PENDING.value)


def forgotten_error_values(job_id: str) -> tuple[str, str]:
    """The values of FORGET_ATTEMPT_ERRORS_SQL and FORGET_DELIVERY_ERRORS_SQL."""
    return (FORGOTTEN_ERROR, job_id)


def rearms(current: JobState, to: JobState) -> bool:
    """Whether a transition re-arms the job's notifications (REARM_SQL, in its
    transaction): a resume, from a final state back to the queue, makes the export's next
    end news again. In one transaction, a crash cannot resume it without re-arming."""
    return current.final and to is JobState.QUEUED


def new_notifications(job_id: str, spec: ExportSpec) -> list[tuple[str, int, str, str]]:
    """(job_id, idx, target, delivery_id) rows for a new job's notify targets; the
    delivery id is fixed here, once, so every attempt (and every replica) sends the same."""
    return [
        (job_id, index, target, delivery_id(job_id, index, 0))
        for index, target in enumerate(spec.notify)
    ]


def delivery_id(job_id: str, index: int, rounds: int) -> str:
    """The id of delivery `index` of a job after `rounds` re-arms (resumes)."""
    return f"{job_id}.{index}" if rounds == 0 else f"{job_id}.{index}.{rounds}"


#: Re-arming a delivery: pending, no attempts, the next round (and so a new id).
REARM_SQL: Final = (
    "UPDATE notifications SET state = 'pending', attempts = 0, last_error = '',"
    " last_attempt_at = NULL, next_attempt_at = NULL, late_seconds = 0,"
    " rounds = rounds + 1,"
    " delivery_id = job_id || '.' || CAST(idx AS TEXT) || '.' || CAST(rounds + 1 AS TEXT)"
    " WHERE job_id = {param}"
)


def notification_from_row(row: Mapping[str, Any], read_time: ReadTime) -> NotificationDelivery:
    return NotificationDelivery(
        job_id=row["job_id"],
        index=int(row["idx"]),
        target=row["target"],
        delivery_id=row["delivery_id"],
        state=DeliveryState(row["state"]),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        last_attempt_at=read_time(row["last_attempt_at"]),
        next_attempt_at=read_time(row["next_attempt_at"]),
        late_seconds=float(row["late_seconds"]),
    )


#: The lease columns `check_lease` reads, selected with the job row's lock.
LEASE_COLUMNS: Final = "state, lease_owner, lease_token"


def check_lease(job_id: str, row: Mapping[str, Any], lease: Lease | None) -> None:
    """Fencing: raise LeaseLost unless `lease` is still the job's (same token, running).
    Called under the job row's write lock, in the transaction of the write it guards.
    No lease (None) is a write outside any run (admin, tests) and is not checked."""
    if lease is None:
        return
    if row["state"] != JobState.RUNNING.value or int(row["lease_token"]) != lease.token:
        holder = row["lease_owner"] or "no replica"
        raise LeaseLost(
            f"export '{job_id}': the lease of replica {lease.owner} (token {lease.token})"
            f" is lost; the export is {row['state']}, held by {holder}"
            f" (token {row['lease_token']})"
        )


def check_pinnable(job_id: str, state: str, lease_owner: str, live: bool, replica: str) -> None:
    """A job may move to `replica` (JobStore.pin) unless another replica runs it under
    a live lease: its stream is there until that run ends."""
    if state == JobState.RUNNING.value and live and lease_owner not in ("", replica):
        raise FailedPrecondition(
            f"export '{job_id}' is receiving its records on replica {lease_owner}; resume the"
            " put there, or once that run ends (flight_put_idle_timeout)"
        )


#: A running job handed back (JobStore.release), with the store's placeholder in place of
#: {p}: queued, lease ended, its pin cleared. A DoPut export (pinned: runs_on) becomes
#: claimable only from the second parameter, so the client's retried put pins it where it
#: lands first. Parameters: the queued state, that time, now, the job id.
RELEASE_SQL: Final = (
    "UPDATE jobs SET state = {p}, lease_owner = '', lease_expires_at = NULL,"
    " not_before = CASE WHEN runs_on <> '' THEN {p} ELSE not_before END,"
    " runs_on = '', updated_at = {p} WHERE id = {p}"
)


#: The jobs a replica (the first parameter) may claim: queued ones meant for any replica
#: or for it (`runs_on`), and running ones whose lease expired, whoever they were meant
#: for: a pinned replica that died must not leave its stream export running for good
#: (whoever takes it over ends it once no records come; JobStore.pin moves it back).
#: A job back in the queue after a transient failure waits for its backoff (not_before).
#: Parameters: owner, the queued state, the running state (and now, twice, where {now}
#: is one).
CLAIMABLE_SQL: Final = (
    "(((runs_on = '' OR runs_on = {param}) AND state = {param})"
    " OR (state = {param} AND (lease_expires_at IS NULL OR lease_expires_at < {now})))"
    " AND (not_before IS NULL OR not_before <= {now})"
)
#: Appended to CLAIMABLE_SQL under max_running_per_principal: a principal's job only
#: while fewer than the limit of its jobs run under a live lease (one whose lease expired
#: is claimable and counts for nobody; the server's own, created_by "", are not limited).
#: Uncorrelated: the principals at their limit are found once, through the running jobs
#: (jobs_by_state), never by counting each claimable row's creator's whole history.
#: Parameters: the running state (and now, where {now} is one), the limit.
PER_CREATOR_SQL: Final = (
    " AND (created_by = '' OR created_by NOT IN (SELECT created_by FROM jobs AS other"
    " WHERE other.state = {param} AND other.lease_expires_at >= {now}"
    " GROUP BY created_by HAVING COUNT(*) >= {param}))"
)
