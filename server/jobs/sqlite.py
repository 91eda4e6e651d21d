"""The embedded job store: one SQLite file in the daemon's state folder.

Durability first: WAL with synchronous=FULL, so once record_chunk returns the chunk is in
the journal even if the machine loses power (lease renewals and a run's facts commit
unsynced, persisted by the next synced commit: see _tx). One connection is shared by all threads and
guarded by a lock; sqlite3 would serialise writers anyway, and a single connection keeps
":memory:" databases (used by tests) visible to every thread. The schema is in
sqlite_schema.py; how a deleted export's values are forgotten, in sqlite_forgetting.py.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RequestIdInUse,
    SluiceError,
    Unavailable,
)
from sluice.server.jobs.attempts import (
    BEGIN_SQL,
    CANCEL_PENDING_SQL,
    CLOSE_STRAY_SQL,
    END_SQL,
    LIST_SQL,
    REQUEUE_SQL,
    attempt_from_row,
    begin_values,
    cancel_pending,
    close_stray_values,
    end_values,
    requeue_values,
    transition_end_values,
)
from sluice.server.jobs.increment_chains import (
    INCREMENT_MODE,
    is_increment,
    refuse_second_increment,
)
from sluice.server.jobs.migrations import SchemaStatus, newer_store
from sluice.server.jobs.model import (
    NOTIFYING_STATES,
    UNFINISHED_STATES,
    AttemptEnd,
    AttemptOutcome,
    ChunkRecord,
    DeliveryState,
    ExportAttempt,
    Job,
    JobError,
    JobFilter,
    JobPage,
    JobState,
    Lease,
    NewJob,
    NotificationDelivery,
    Progress,
    StoreCheck,
)
from sluice.server.jobs.paging import decode_token, encode_token, timestamp
from sluice.server.jobs.request_keys import stored_request_id
from sluice.server.jobs.rows import (
    CHUNK_COLUMNS,
    CLAIMABLE_SQL,
    INSERT_LABEL_SQL,
    JOB_COLUMNS,
    LEASE_COLUMNS,
    LIVE_PROGRESS_UPDATE_SQL,
    NOTIFICATION_COLUMNS,
    PER_CREATOR_SQL,
    PROGRESS_UPDATE_SQL,
    REARM_SQL,
    RECORD_ATTEMPT_SQL,
    RELEASE_SQL,
    RESTORE_JOB_SQL,
    SUMMED_COUNTERS_SQL,
    TRANSITION_SQL,
    attempt_values,
    check_lease,
    check_not_deleting,
    check_pinnable,
    chunk_from_row,
    chunk_values,
    job_from_row,
    live_progress_values,
    needs_summed_counters,
    new_notifications,
    notification_from_row,
    progress_values,
    rearms,
    restored_job_values,
    transition_values,
    with_summed_counters,
)
from sluice.server.jobs.schedules import (
    RECORD_TICK_SQL,
    RECORD_TRIGGER_IF_LAST,
    RECORD_TRIGGER_SQL,
    SCHEDULE_COLUMNS,
    Schedule,
    TickRecord,
    schedule_from_row,
    schedule_not_found,
    schedule_values,
    tick_values,
)
from sluice.server.jobs.signals import SignalListener
from sluice.server.jobs.sqlite_forgetting import empty_wal, forget, forget_unforgotten
from sluice.server.jobs.sqlite_schema import MIGRATIONS, SCHEMA_VERSION, SPEC_DATASET
from sluice.sinks.locations import without_secrets

if TYPE_CHECKING:
    from sluice.server.jobs.store import JobStore


def claim_query(owner: str, now: datetime, per_creator: int) -> tuple[str, tuple[object, ...]]:
    """The SELECT picking the job `owner` claims at `now` (under `per_creator`, if not 0),
    and its parameters."""
    claimable = CLAIMABLE_SQL.format(param="?", now="?")
    values: tuple[object, ...] = (
        owner,
        JobState.QUEUED.value,
        JobState.RUNNING.value,
        _timestamp(now),
        _timestamp(now),
    )
    if per_creator:
        claimable += PER_CREATOR_SQL.format(param="?", now="?")
        values += (JobState.RUNNING.value, _timestamp(now), per_creator)
    return (
        f"SELECT id, lease_token FROM jobs WHERE {claimable} ORDER BY created_at, id LIMIT 1",
        values,
    )


class SQLiteJobStore:
    """JobStore on SQLite. `path` is a file (created with its schema when missing) or
    ":memory:" for a private in-process database."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = str(path)
        if self._path != ":memory:" and not self._path.startswith("file:"):
            # The state folder may be fresh (first start, new volume); SQLite makes only files.
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._busy_timeout_ms = int(busy_timeout_ms)
        try:
            # isolation_level=None: the module must not open transactions behind our back;
            # every write below runs in an explicit BEGIN IMMEDIATE.
            self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise FailedPrecondition(f"job store {self._path} cannot be opened ({exc})") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            # Before anything that writes (journal_mode changes the file header): a
            # store from a newer Sluice is refused untouched.
            status = self._status()
            if status.newer:
                raise newer_store(status)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            # Freed bytes are zeroed, not left in the file: a job row is rewritten with
            # every chunk (its spec, with a `where`'s literals, each time), and what
            # mark_deleted forgets must leave no copy behind in free space.
            self._db.execute("PRAGMA secure_delete = ON")
            self._migrate()
        except (sqlite3.Error, Unavailable) as exc:
            self._db.close()
            raise _unopenable(self._path, exc) from None
        except FailedPrecondition:
            self._db.close()
            raise
        except BaseException:
            self._db.close()
            raise

    # -- JobStore ---------------------------------------------------------------------

    def create(self, new: NewJob) -> tuple[Job, bool]:
        fingerprint = new.request_fingerprint or new.spec.fingerprint()
        with self._tx() as db:
            # Stamped under the write lock, so creation times follow commit order and a
            # keyset page boundary is never overtaken by a slower writer.
            now = _now()
            try:
                cursor = db.execute(
                    "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json,"
                    " created_at, updated_at, created_by, runs_on)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (request_id) DO NOTHING",
                    (
                        new.id,
                        stored_request_id(new.created_by, new.request_id),
                        fingerprint,
                        JobState.QUEUED.value,
                        new.spec.to_json(),
                        now,
                        now,
                        new.created_by,
                        new.runs_on,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                # Only the primary key can still conflict: ids are minted by the server,
                # so this is a bug, not a caller's mistake.
                raise SluiceError(f"export id '{new.id}' already exists") from exc
            if cursor.rowcount == 1:
                # In the transaction (IMMEDIATE: creates are serialised): two increments
                # of one chain created at once make one export. Only an increment looks,
                # and only at the unfinished increments of its creator and dataset.
                if is_increment(new.spec):
                    refuse_second_increment(new, self._unfinished_increments(db, new))
                db.executemany(
                    INSERT_LABEL_SQL,
                    [(new.id, k, v) for k, v in dict(new.spec.labels).items()],
                )
                db.executemany(
                    "INSERT INTO notifications (job_id, idx, target, delivery_id)"
                    " VALUES (?, ?, ?, ?)",
                    new_notifications(new.id, new.spec),
                )
                return self._load(db, new.id), True
            row = db.execute(
                "SELECT id, request_fingerprint FROM jobs WHERE request_id = ?",
                (stored_request_id(new.created_by, new.request_id),),
            ).fetchone()
            existing_id, existing_fingerprint = row
            # Empty: a deleted job's forgotten request (mark_deleted), answered as it is.
            if existing_fingerprint and existing_fingerprint != fingerprint:
                raise RequestIdInUse(existing_id)
            return self._load(db, existing_id), False

    def find_by_request_id(self, request_id: str, created_by: str) -> Job | None:
        if not request_id:
            # An empty request id means the caller gave none; it names no job.
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE request_id = ?",
                (stored_request_id(created_by, request_id),),
            ).fetchone()
            return None if row is None else self._job(db, row)

    def get(self, job_id: str) -> Job:
        with self._read() as db:
            return self._load(db, job_id)

    def list(self, where: JobFilter, *, page_size: int, page_token: str = "") -> JobPage:
        if page_size < 1:
            raise InvalidArgument("page_size", "must be at least 1")
        clauses: list[str] = []
        params: list[Any] = []
        if where.states:
            states = sorted(s.value for s in where.states)
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if where.created_by is not None:
            clauses.append("created_by = ?")
            params.append(where.created_by)
        for key, value in where.labels:
            clauses.append(
                "EXISTS (SELECT 1 FROM job_labels l"
                " WHERE l.job_id = jobs.id AND l.key = ? AND l.value = ?)"
            )
            params.extend((key, value))
        if page_token:
            created_at, last_id = decode_token(page_token)
            clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params.extend((created_at, created_at, last_id))
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        # One row more than asked tells whether another page exists without a COUNT.
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(page_size + 1)
        with self._read() as db:
            rows = db.execute(sql, params).fetchall()
        jobs = tuple(job_from_row(row, _optional_time) for row in rows[:page_size])
        next_token = ""
        if len(rows) > page_size:
            last = rows[page_size - 1]
            next_token = encode_token(last["created_at"], last["id"])
        return JobPage(jobs=jobs, next_page_token=next_token)

    def transition(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        to: JobState,
        *,
        error: JobError | None = None,
        manifest_uri: str | None = None,
        lease: Lease | None = None,
        attempt: AttemptEnd | None = None,
    ) -> Job:
        check_not_deleting(to)
        now = _now()
        ended = transition_end_values(attempt, lease, now)
        with self._tx() as db:
            row = self._fence(db, job_id, lease)
            current = JobState(row["state"])
            values = transition_values(
                job_id,
                current,
                allowed_from,
                to,
                now=now,
                error=error,
                manifest_uri=manifest_uri,
            )
            db.execute(TRANSITION_SQL, values)
            if ended is not None:
                db.execute(END_SQL.format(p="?"), ended)
            if rearms(current, to):
                db.execute(REARM_SQL.format(param="?"), (job_id,))
            return self._load(db, job_id)

    def mark_deleted(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        *,
        error: JobError | None = None,
        batch: bool = False,
    ) -> Job:
        now = _now()
        with self._tx() as db:
            row = self._fence(db, job_id, None)
            values = transition_values(
                job_id,
                JobState(row["state"]),
                allowed_from,
                JobState.DELETED,
                now=now,
                error=error,
                manifest_uri=None,
            )
            db.execute(TRANSITION_SQL, values)
            (spec_json,) = db.execute(
                "SELECT spec_json FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            forget(db, job_id, spec_json)
            job = self._load(db, job_id)
        if not batch:
            self.erase_forgotten()
        return job

    def forget_deleted(self) -> int:
        with self._tx() as db:
            forgotten = forget_unforgotten(db)
        if forgotten:
            self.erase_forgotten()
        return forgotten

    def erase_forgotten(self) -> None:
        with self._lock:
            empty_wal(self._db, self._busy_timeout_ms)

    def record_chunk(
        self, job_id: str, chunk: ChunkRecord, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        with self._tx() as db:
            self._fence(db, job_id, lease)
            inserted = db.execute(
                f"INSERT INTO chunks (job_id, {CHUNK_COLUMNS}, lease_owner, lease_token)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job_id, idx) DO NOTHING",
                (
                    *chunk_values(job_id, chunk, _timestamp),
                    "" if lease is None else lease.owner,
                    0 if lease is None else lease.token,
                ),
            ).rowcount
            if inserted == 1:
                self._write_progress(db, job_id, progress)
                return
            # A retry after a lost acknowledgement re-records the same bytes; anything
            # else means two different chunks claim one slot in the manifest.
            row = db.execute(
                "SELECT sha256 FROM chunks WHERE job_id = ? AND idx = ?", (job_id, chunk.index)
            ).fetchone()
            if row is None or row[0] != chunk.sha256:
                raise FailedPrecondition(
                    f"export '{job_id}' already has chunk {chunk.index} with another sha256"
                )

    def chunks(self, job_id: str) -> Sequence[ChunkRecord]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE job_id = ? ORDER BY idx", (job_id,)
            ).fetchall()
        return [chunk_from_row(row, _optional_time) for row in rows]

    def save_progress(self, job_id: str, progress: Progress, *, lease: Lease | None = None) -> None:
        with self._tx() as db:
            self._fence(db, job_id, lease)
            db.execute(
                f"{LIVE_PROGRESS_UPDATE_SQL} WHERE id = ?",
                (*live_progress_values(progress, _now()), job_id),
            )

    def save_final_progress(
        self, job_id: str, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        with self._tx() as db:
            self._fence(db, job_id, lease)
            self._write_progress(db, job_id, progress)

    def save_upload(self, job_id: str, key: str, state: str, *, lease: Lease | None = None) -> None:
        with self._tx() as db:
            self._fence(db, job_id, lease)
            db.execute(
                "INSERT INTO uploads (job_id, key, state_json, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job_id, key) DO UPDATE SET state_json = excluded.state_json,"
                " updated_at = excluded.updated_at",
                (job_id, key, state, _timestamp(datetime.now(UTC))),
            )

    def uploads(self, job_id: str) -> Sequence[tuple[str, str]]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                "SELECT key, state_json FROM uploads WHERE job_id = ? ORDER BY key", (job_id,)
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def delete_upload(self, job_id: str, key: str, *, lease: Lease | None = None) -> None:
        with self._tx() as db:
            if lease is not None:
                self._fence(db, job_id, lease)
            db.execute("DELETE FROM uploads WHERE job_id = ? AND key = ?", (job_id, key))

    def save_run_facts(self, job_id: str, facts: str, *, lease: Lease | None = None) -> None:
        # Unsynced (see _tx): the facts are read only once a chunk is journalled
        # (run_facts.pinned_facts), and that chunk's synced commit persists them first.
        with self._tx(durable=False) as db:
            self._fence(db, job_id, lease)
            db.execute(
                "INSERT INTO run_facts (job_id, facts_json, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (job_id) DO UPDATE SET facts_json = excluded.facts_json,"
                " updated_at = excluded.updated_at",
                (job_id, facts, _timestamp(datetime.now(UTC))),
            )

    def run_facts(self, job_id: str) -> str | None:
        with self._read() as db:
            self._require(db, job_id)
            row = db.execute(
                "SELECT facts_json FROM run_facts WHERE job_id = ?", (job_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def newest_succeeded(
        self, created_by: str, dataset: str, limit: int, *, after: Job | None = None
    ) -> Sequence[Job]:
        # The index jobs_by_creator_dataset holds this very expression: the rows read
        # are the creator's exports of the dataset, newest first, not all of theirs.
        values: list[object] = [JobState.SUCCEEDED.value, created_by, dataset]
        position = ""
        if after is not None and after.finished_at is not None:
            position = " AND (finished_at, id) < (?, ?)"
            values += [_timestamp(after.finished_at), after.id]
        with self._read() as db:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ? AND created_by = ?"
                f" AND {SPEC_DATASET} = ?{position}"
                " ORDER BY finished_at DESC, id DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
        return [job_from_row(row, _optional_time) for row in rows]

    def unfinished(self) -> Sequence[Job]:
        with self._read() as db:
            return self._unfinished(db)

    @staticmethod
    def _unfinished(db: sqlite3.Connection) -> Sequence[Job]:
        states = sorted(s.value for s in UNFINISHED_STATES)
        rows = db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs"
            f" WHERE state IN ({', '.join('?' * len(states))})"
            " ORDER BY created_at, id",
            states,
        ).fetchall()
        return [job_from_row(row, _optional_time) for row in rows]

    @staticmethod
    def _unfinished_increments(db: sqlite3.Connection, new: NewJob) -> Sequence[Job]:
        """The unfinished increments that may be of `new`'s chain: same creator and
        dataset (the destination's spellings are compared by refuse_second_increment)."""
        states = sorted(s.value for s in UNFINISHED_STATES)
        rows = db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs"
            f" WHERE state IN ({', '.join('?' * len(states))}) AND created_by = ?"
            " AND json_extract(spec_json, '$.destination.dataset') = ?"
            " AND json_extract(spec_json, '$.incremental.mode') = ?"
            " ORDER BY created_at, id",
            (*states, new.created_by, new.spec.destination.dataset, INCREMENT_MODE),
        ).fetchall()
        return [job_from_row(row, _optional_time) for row in rows]

    def check(self) -> StoreCheck:
        with self._read() as db:
            rows = db.execute(
                "SELECT state, count(*) FROM jobs WHERE state IN (?, ?) GROUP BY state",
                (JobState.RUNNING.value, JobState.QUEUED.value),
            ).fetchall()
            schema = self._status()
        counts = {JobState(state): int(count) for state, count in rows}
        return StoreCheck(
            running=counts.get(JobState.RUNNING, 0),
            queued=counts.get(JobState.QUEUED, 0),
            schema=schema,
        )

    def pin(self, job_id: str, replica: str) -> Job:
        now = datetime.now(UTC)
        with self._tx() as db:
            row = db.execute(
                "SELECT state, lease_owner, lease_expires_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                raise _not_found(job_id)
            expires = row["lease_expires_at"]
            live = expires is not None and _parse_time(expires) > now
            check_pinnable(job_id, row["state"], row["lease_owner"], live, replica)
            db.execute(
                "UPDATE jobs SET runs_on = ?, not_before = NULL WHERE id = ?", (replica, job_id)
            )
            return self._load(db, job_id)

    def unpin_queued(self, replica: str, resume_window: timedelta) -> Sequence[str]:
        after = _timestamp(datetime.now(UTC) + resume_window)
        with self._tx() as db:
            rows = db.execute(
                "UPDATE jobs SET runs_on = '', not_before = ?"
                " WHERE runs_on = ? AND state = ? RETURNING id",
                (after, replica, JobState.QUEUED.value),
            ).fetchall()
            return sorted(str(row["id"]) for row in rows)

    def claim(
        self, owner: str, lease_seconds: float, per_creator: int = 0
    ) -> tuple[Job, Lease] | None:
        now = datetime.now(UTC)
        with self._tx() as db:
            # BEGIN IMMEDIATE serialises claims: SKIP LOCKED's contract in one writer.
            row = db.execute(*claim_query(owner, now, per_creator)).fetchone()
            if row is None:
                return None
            lease = Lease(row["id"], owner, int(row["lease_token"]) + 1)
            db.execute(
                "UPDATE jobs SET state = ?, lease_owner = ?, lease_token = ?,"
                " lease_expires_at = ?, updated_at = ?, started_at = COALESCE(started_at, ?)"
                " WHERE id = ?",
                (
                    JobState.RUNNING.value,
                    owner,
                    lease.token,
                    _timestamp(now + timedelta(seconds=lease_seconds)),
                    _timestamp(now),
                    _timestamp(now),
                    lease.job_id,
                ),
            )
            return self._load(db, lease.job_id), lease

    def renew(self, lease: Lease, lease_seconds: float) -> bool:
        now = datetime.now(UTC)
        # Fenced like every write, but not synced (see _tx): a renewal lost to a power
        # cut only leaves the older expiry, and the run it kept alive is gone with it.
        with self._tx(durable=False) as db:
            self._fence(db, lease.job_id, lease)
            db.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ?",
                (_timestamp(now + timedelta(seconds=lease_seconds)), lease.job_id),
            )
            row = db.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (lease.job_id,)
            ).fetchone()
            return bool(row[0])

    def release(self, lease: Lease, resume_window: timedelta) -> Job:
        now = _now()
        after = _timestamp(datetime.now(UTC) + resume_window)
        with self._tx() as db:
            self._fence(db, lease.job_id, lease)
            db.execute(RELEASE_SQL.format(p="?"), (JobState.QUEUED.value, after, now, lease.job_id))
            db.execute(
                END_SQL.format(p="?"), end_values(lease, AttemptOutcome.HANDED_BACK, None, now)
            )
            return self._load(db, lease.job_id)

    def begin_attempt(self, lease: Lease) -> ExportAttempt:
        now = _now()
        with self._tx() as db:
            self._fence(db, lease.job_id, lease)
            db.execute(CLOSE_STRAY_SQL.format(p="?"), close_stray_values(lease.job_id, now))
            db.execute(BEGIN_SQL.format(p="?"), begin_values(lease, now))
            rows = db.execute(LIST_SQL.format(p="?"), (lease.job_id,)).fetchall()
        return attempt_from_row(rows[-1], _optional_time)

    def end_attempt(
        self, lease: Lease, outcome: AttemptOutcome, error: JobError | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(END_SQL.format(p="?"), end_values(lease, outcome, error, _now()))

    def retry_later(self, lease: Lease, error: JobError, not_before: datetime) -> Job:
        now, retry_at = _now(), _timestamp(not_before)
        with self._tx() as db:
            self._fence(db, lease.job_id, lease)
            if cancel_pending(db.execute(CANCEL_PENDING_SQL.format(p="?"), (lease.job_id,))):
                return self._load(db, lease.job_id)
            db.execute(
                END_SQL.format(p="?"),
                end_values(lease, AttemptOutcome.RETRIED, error, now, retry_at),
            )
            db.execute(REQUEUE_SQL.format(p="?"), requeue_values(lease.job_id, retry_at, now))
            return self._load(db, lease.job_id)

    def attempts(self, job_id: str) -> Sequence[ExportAttempt]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(LIST_SQL.format(p="?"), (job_id,)).fetchall()
        return [attempt_from_row(row, _optional_time) for row in rows]

    def request_cancel(self, job_id: str) -> Job:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?",
                (job_id, JobState.RUNNING.value),
            )
            return self._load(db, job_id)

    def expire_leases(self) -> int:
        with self._tx() as db:
            return db.execute(
                "UPDATE jobs SET lease_expires_at = NULL WHERE state = ?",
                (JobState.RUNNING.value,),
            ).rowcount

    def restore(self, job: Job, chunks: Sequence[ChunkRecord]) -> bool:
        with self._tx() as db:
            inserted = db.execute(
                RESTORE_JOB_SQL, restored_job_values(job, chunks, _timestamp)
            ).rowcount
            if inserted != 1:
                return False
            db.executemany(INSERT_LABEL_SQL, [(job.id, k, v) for k, v in job.labels.items()])
            db.executemany(
                f"INSERT INTO chunks (job_id, {CHUNK_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [chunk_values(job.id, chunk, _timestamp) for chunk in chunks],
            )
            return True

    def notifications(self, job_id: str) -> Sequence[NotificationDelivery]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [notification_from_row(row, _optional_time) for row in rows]

    def due_notifications(self, now: datetime, limit: int) -> Sequence[NotificationDelivery]:
        with self._read() as db:
            return self._due(db, now, limit)

    def claim_notifications(self, hold: timedelta, limit: int) -> Sequence[NotificationDelivery]:
        with self._tx() as db:
            now = datetime.now(UTC)
            due = self._due(db, now, limit)
            db.executemany(
                "UPDATE notifications SET next_attempt_at = ? WHERE delivery_id = ?",
                [(_timestamp(now + hold), d.delivery_id) for d in due],
            )
        return due

    @staticmethod
    def _due(db: sqlite3.Connection, now: datetime, limit: int) -> Sequence[NotificationDelivery]:
        ended = sorted(s.value for s in NOTIFYING_STATES)
        rows = db.execute(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications n"
            " WHERE n.state = ? AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= ?)"
            " AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = n.job_id"
            f" AND j.state IN ({', '.join('?' * len(ended))}))"
            " ORDER BY n.next_attempt_at IS NOT NULL, n.next_attempt_at, n.job_id, n.idx"
            " LIMIT ?",
            (DeliveryState.PENDING.value, _timestamp(now), *ended, limit),
        ).fetchall()
        return [notification_from_row(row, _optional_time) for row in rows]

    def record_notification_attempt(
        self,
        delivery_id: str,
        *,
        state: DeliveryState,
        error: str,
        attempted_at: datetime,
        next_attempt_at: datetime | None,
        late_seconds: float | None = None,
    ) -> bool:
        values = attempt_values(
            delivery_id,
            state=state,
            error=error,
            attempted_at=attempted_at,
            next_attempt_at=next_attempt_at,
            late_seconds=late_seconds,
            write_time=_timestamp,
        )
        with self._tx() as db:
            updated = db.execute(RECORD_ATTEMPT_SQL, values).rowcount
        return bool(updated == 1)

    def rearm_notifications(self, job_id: str) -> None:
        with self._tx() as db:
            self._require(db, job_id)
            db.execute(REARM_SQL.format(param="?"), (job_id,))

    def listen(self, listener: SignalListener) -> None:
        """Nothing to hear: the daemon that holds the state folder is the only writer,
        and its own changes reach its pollers directly."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- ScheduleStore ----------------------------------------------------------------

    def create_schedule(self, schedule: Schedule) -> Schedule:
        with self._tx() as db:
            cursor = db.execute(
                f"INSERT INTO schedules ({SCHEDULE_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO NOTHING",
                schedule_values(schedule, datetime.now(UTC), _timestamp),
            )
            if cursor.rowcount != 1:
                raise AlreadyExists(f"schedule '{schedule.name}' already exists")
            return self._load_schedule(db, schedule.name)

    def get_schedule(self, name: str) -> Schedule:
        with self._read() as db:
            return self._load_schedule(db, name)

    def list_schedules(self) -> Sequence[Schedule]:
        with self._read() as db:
            rows = db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name").fetchall()
        return [schedule_from_row(row, _optional_time) for row in rows]

    def delete_schedule(self, name: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount != 1:
                raise schedule_not_found(name)

    def set_schedule_paused(self, name: str, paused: bool, next_tick: datetime | None) -> Schedule:
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE schedules SET paused = ?, next_tick = ?, updated_at = ? WHERE name = ?",
                (paused, None if next_tick is None else _timestamp(next_tick), _now(), name),
            )
            if cursor.rowcount != 1:
                raise schedule_not_found(name)
            return self._load_schedule(db, name)

    def record_tick(self, name: str, expected_next: datetime, record: TickRecord) -> bool:
        with self._tx() as db:
            values = tick_values(name, expected_next, record, datetime.now(UTC), _timestamp)
            return db.execute(RECORD_TICK_SQL, values).rowcount == 1

    def record_trigger(
        self, name: str, export_id: str, *, replacing: str | None = None
    ) -> Schedule | None:
        sql = RECORD_TRIGGER_SQL
        values: tuple[object, ...] = (export_id, _now(), name)
        if replacing is not None:
            sql += RECORD_TRIGGER_IF_LAST
            values += (replacing,)
        with self._tx() as db:
            updated = db.execute(sql, values).rowcount
            if updated != 1:
                if replacing is not None:
                    self._load_schedule(db, name)  # NotFound for a schedule deleted meanwhile
                    return None
                raise schedule_not_found(name)
            return self._load_schedule(db, name)

    @staticmethod
    def _load_schedule(db: sqlite3.Connection, name: str) -> Schedule:
        row = db.execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise schedule_not_found(name)
        return schedule_from_row(row, _optional_time)

    # -- internals --------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as db:
            # Read again under the write lock: another process may have migrated since.
            status = self._status()
            if status.newer:
                raise newer_store(status)
            version = status.found
            for target, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    db.execute(statement)
                # PRAGMA takes no bound parameters; target is an int we computed.
                db.execute(f"PRAGMA user_version = {target}")

    def _status(self) -> SchemaStatus:
        found = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        return SchemaStatus(self._path, found, SCHEMA_VERSION)

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction. IMMEDIATE takes the write lock up front, so a
        read-then-write (compare-and-set, idempotent create) cannot interleave with
        another process sharing the file.

        `durable=False` commits without syncing the WAL (synchronous=NORMAL for this
        transaction alone): for writes whose loss in a power cut harms nothing (a lease
        renewal) or matters only once a later durable write depends on them (a run's
        facts, read only when a chunk is journalled). Still atomic and in order: the
        next durable commit syncs the WAL with this transaction in it, so a power cut
        loses at most a suffix of such writes, never one before a durable write. Each
        synced commit waited for the disk on an export's critical path (four renewals
        per export: before the pipeline, before each chunk's commit, before the manifest
        and before its signature; the facts before the pipeline), and the WAL's fsync
        took 1-7 ms (medians, busy machine) where the unsynced commit takes 0.01 ms."""
        with self._lock, _translated():
            if not durable:
                self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    # SQLite may already have rolled back (disk full, I/O error).
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # Statements outside BEGIN are each their own consistent snapshot; reads that need
        # several statements to agree take the lock, so no writer of ours interleaves.
        with self._lock, _translated():
            yield self._db

    def _load(self, db: sqlite3.Connection, job_id: str) -> Job:
        row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise _not_found(job_id)
        return self._job(db, row)

    @staticmethod
    def _job(db: sqlite3.Connection, row: Any) -> Job:
        """A job row as a Job. A row journalled before jobs kept their counters
        (counters_json NULL) sums its chunks' instead (as the PostgreSQL store does)."""
        job = job_from_row(row, _optional_time)
        if needs_summed_counters(row):
            chunks = db.execute(SUMMED_COUNTERS_SQL, (row["id"],)).fetchall()
            job = with_summed_counters(job, chunks)
        return job

    @staticmethod
    def _fence(db: sqlite3.Connection, job_id: str, lease: Lease | None) -> Any:
        """The job's lease columns, checked against `lease` (inside the write lock that
        BEGIN IMMEDIATE took, so no claim can slip in before the write commits)."""
        row = db.execute(f"SELECT {LEASE_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise _not_found(job_id)
        check_lease(job_id, row, lease)
        return row

    @staticmethod
    def _require(db: sqlite3.Connection, job_id: str) -> None:
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
            raise _not_found(job_id)

    @staticmethod
    def _write_progress(db: sqlite3.Connection, job_id: str, progress: Progress) -> None:
        db.execute(
            f"{PROGRESS_UPDATE_SQL} WHERE id = ?", (*progress_values(progress, _now()), job_id)
        )


def sqlite_schema_status(path: Path) -> SchemaStatus:
    """The schema version of the store at `path`, read without writing (a missing file
    is version 0); for `sluice migrate --check`."""
    if not path.exists():
        return SchemaStatus(str(path), 0, SCHEMA_VERSION)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = int(db.execute("PRAGMA user_version").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise _unopenable(str(path), exc) from None
    return SchemaStatus(str(path), found, SCHEMA_VERSION)


@contextmanager
def _translated() -> Iterator[None]:
    # A locked or full database may recover; callers retry Unavailable with backoff.
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise Unavailable(f"job store unavailable: {exc}") from exc


def _unopenable(path: str, exc: Exception) -> FailedPrecondition:
    """Why a store cannot be used at start, naming its file (one line, no traceback)."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return FailedPrecondition(
            f"job store {path} is unreadable ({exc}): restore it from a backup, or move it"
            " aside and start with --recover-job-store to rebuild it from the export manifests"
        )
    reason = exc.message if isinstance(exc, SluiceError) else str(exc)
    return FailedPrecondition(f"job store {path} cannot be opened ({reason})")


def _not_found(job_id: str) -> NotFound:
    # The caller's text: a URI pasted as an id is repeated without its user-info.
    return NotFound(f"export '{without_secrets(job_id)}' not found")


def _now() -> str:
    return _timestamp(datetime.now(UTC))


_timestamp = timestamp


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else _parse_time(text)


if TYPE_CHECKING:

    def _conforms(store: SQLiteJobStore) -> JobStore:
        # mypy proves here that the class satisfies the protocol.
        return store
