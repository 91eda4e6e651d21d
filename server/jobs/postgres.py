"""The PostgreSQL job store: the JobStore contract on a shared database (psycopg 3, with a
connection pool).

Same semantics as the SQLite store. Every write is one transaction on a pooled
connection (autocommit off only inside `transaction()`), with row locks where a
read-then-write must not interleave: `transition` and `record_chunk` lock the job row
(SELECT ... FOR UPDATE); `create` takes a transaction-level advisory lock so creation
times follow commit order (a keyset page boundary is never overtaken by a slower writer),
and `ON CONFLICT (request_id) DO NOTHING` makes two concurrent creates with one request
id one job.

Several daemons (replicas) share one store: each claims queued jobs, and running jobs
whose lease expired, with `SELECT ... FOR UPDATE SKIP LOCKED`, so two replicas never
wait on, or take, the same row. Every journal write of a running export checks its
lease token under the job row's lock (`_fence`), in the transaction of the write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from sluice.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    LeaseLost,
    NotFound,
    RequestIdInUse,
    SluiceError,
    Unavailable,
)
from sluice.server.jobs import postgres_forgetting
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
from sluice.server.jobs.migrations import SchemaStatus
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
from sluice.server.jobs.postgres_listener import SignalReceiver
from sluice.server.jobs.postgres_schema import SPEC_DATASET, migrate, schema_status
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
from sluice.server.jobs.signals import CHANNEL, SignalKind, SignalListener, encode
from sluice.server.postgres_liveness import dead_peer_params_for
from sluice.server.secrets import resolve_secret
from sluice.server.settings import Settings
from sluice.sinks.locations import without_secrets

if TYPE_CHECKING:
    from sluice.server.jobs.store import JobStore

#: pg_advisory_xact_lock key serialising creates, so created_at follows commit order.
_CREATE_LOCK: Final = 0x736C_6372_6561
#: pg_advisory_xact_lock key serialising claims under max_running_per_principal.
_CLAIM_LOCK: Final = 0x736C_636C_6169
#: How long a claim waits for _CLAIM_LOCK (PostgreSQL lock_timeout) before it claims
#: nothing this poll.
_CLAIM_LOCK_WAIT: Final = "5s"

_CHUNK_VALUES: Final = ", ".join(["%s"] * 13)
#: CHUNK_COLUMNS' placeholders (chunk_values without the job id).
_CHUNK_FIELDS: Final = ", ".join(["%s"] * 12)

#: The lease condition of a fenced write, after `WHERE id = %s AND`: no lease (a NULL
#: token: writes outside any run) or the lease still held. Values: _fence_values. As a
#: condition of the write itself, a claim that commits first makes the write match no
#: row (READ COMMITTED re-checks a row updated meanwhile), so writes need no separate
#: locking read: one statement, one round trip, on the journal's hot path.
_HELD: Final = "(%s::bigint IS NULL OR (state = %s AND lease_token = %s))"
#: The job row, locked for the statement's transaction when the lease is held.
_FENCE: Final = f"SELECT id FROM jobs WHERE id = %s AND {_HELD} FOR UPDATE"
_SCHEDULE_VALUES: Final = ", ".join(["%s"] * 16)
#: Longest a read waits for a pooled connection while the store is known to be failing
#: (a connection broke or could not be made, and none has worked since). Reads answer
#: RPCs: while the database is down no connection comes, and a caller (deadline often
#: 5-10 s) should hear "job store unavailable" rather than DEADLINE_EXCEEDED, with the
#: gRPC worker freed soon. A healthy store's reads (every connection busy with slow
#: queries) and all writes keep the pool's (connect) timeout: busy is not down, and a
#: journal write outlasts a short blip.
_READ_WAIT_SECONDS: Final = 3.0
#: How long one chain of reconnection attempts lasts. psycopg_pool doubles the delay
#: between attempts (1, 2, 4 ... s) until this: with its 300 s default the pool kept
#: failing calls for 25-45 s after the database came back. Given up early, the next
#: waiting call starts a fresh chain, whose first attempt is immediate.
_RECONNECT_GIVE_UP_SECONDS: Final = 3.0
#: Bounds of a store check (check()), on its own connection: connecting (libpq's
#: connect_timeout, whole seconds) and each statement (server side). A server that stops
#: answering mid-statement is left to the dead-peer settings and the watch's grace.
_CHECK_CONNECT_SECONDS: Final = 3
_CHECK_STATEMENT_MS: Final = 3000
#: Longest close() waits for the pool's threads.
_CLOSE_WAIT_SECONDS: Final = 1.0

_log = logging.getLogger("sluice.jobs.postgres")
#: psycopg_pool logs a WARNING per failed connection attempt: during an outage, with
#: chains restarted by every waiting call, dozens a minute per replica (27 in 15 s).
_POOL_LOG: Final = logging.getLogger("psycopg.pool")
#: At most one of its WARNINGs per this many seconds (ERRORs and above always pass).
_POOL_WARNING_INTERVAL_SECONDS: Final = 30.0


class _PoolWarningsRateLimit(logging.Filter):
    """Passes one psycopg.pool WARNING per interval, with how many were held back."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._lock = threading.Lock()
        self._next = 0.0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                self._held += 1
                return False
            self._next = now + self._interval
            held, self._held = self._held, 0
        if held:
            record.msg = f"{record.msg} ({held} similar warnings in the last interval not shown)"
        return True


_POOL_LOG.addFilter(_PoolWarningsRateLimit(_POOL_WARNING_INTERVAL_SECONDS))

Row = dict[str, Any]
Conn = psycopg.Connection[Row]


def connection_options(
    *, password: str = "", sslmode: str = "", sslrootcert: str = ""
) -> dict[str, str]:
    """libpq keywords added to the URL's: only those given, so libpq's own defaults and
    environment (PGPASSWORD, PGSSLMODE, ~/.pgpass) apply otherwise."""
    options = {"password": password, "sslmode": sslmode, "sslrootcert": sslrootcert}
    return {key: value for key, value in options.items() if value}


def options_from_settings(settings: Settings) -> dict[str, str]:
    """The libpq keywords the job_store_* settings ask for (the password resolved from
    its reference: FailedPrecondition when it cannot be read)."""
    password = ""
    if settings.job_store_password_ref:
        try:
            password = resolve_secret(settings.job_store_password_ref).decode().strip()
        except FailedPrecondition as exc:
            # Name the setting: the operator knows the reference, not where it was set.
            raise FailedPrecondition(f"job_store_password_ref: {exc.message}") from None
    return connection_options(
        password=password,
        sslmode=settings.job_store_sslmode,
        sslrootcert=str(settings.job_store_sslrootcert or ""),
    )


def read_schema_status(settings: Settings) -> SchemaStatus:
    """The configured store's schema version, read without writing."""
    name = redacted(settings.job_store)
    try:
        options: dict[str, Any] = dict(options_from_settings(settings))
        options.update(dead_peer_params_for(settings.job_store))
        with psycopg.connect(settings.job_store, **options) as conn:
            return schema_status(conn, name)
    except psycopg.Error as exc:
        raise FailedPrecondition(f"job store {name} cannot be opened ({_reason(exc)})") from None


def redacted(url: str) -> str:
    """The URL as messages may show it: no user info beyond the user name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PostgresJobStore:
    """JobStore on PostgreSQL at `url` (postgresql://USER@HOST:PORT/DB). Migrates the
    schema on open."""

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, str] | None = None,
        pool_size: int = 8,
        connect_timeout: float = 15.0,
    ) -> None:
        self.name = redacted(url)
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
        kwargs.update(dead_peer_params_for(url))
        kwargs.update(options or {})
        self._url = url
        self._kwargs = kwargs
        self._signals = SignalReceiver(self._connect)
        #: check()'s own connection (opened at the first check) and its turn.
        self._check_conn: Conn | None = None
        self._checking_conn = threading.Lock()
        try:
            with self._connect() as conn:
                migrate(conn, self.name)
        except psycopg.Error as exc:
            raise FailedPrecondition(
                f"job store {self.name} cannot be opened ({_reason(exc)})"
            ) from None
        self._pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs=kwargs,
            connection_class=psycopg.Connection[Row],
            timeout=connect_timeout,
            reconnect_timeout=_RECONNECT_GIVE_UP_SECONDS,
            reconnect_failed=lambda _pool: self._failing.set(),
            open=False,
            configure=_configure,
        )
        self._read_wait = min(_READ_WAIT_SECONDS, connect_timeout)
        #: Set while the store is known to be failing (reads then wait _read_wait):
        #: a broken connection, a failed reconnection chain or a connection wait timed
        #: out; cleared by a call that completes on a connection.
        self._failing = threading.Event()
        self._checking = threading.Lock()
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg_pool.PoolTimeout:
            self.close()
            raise FailedPrecondition(f"job store {self.name} cannot be opened (timeout)") from None

    # -- JobStore ---------------------------------------------------------------------

    def create(self, new: NewJob) -> tuple[Job, bool]:
        fingerprint = new.request_fingerprint or new.spec.fingerprint()
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
            now = _now()
            try:
                inserted = db.execute(
                    "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json,"
                    " created_at, updated_at, created_by, runs_on)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
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
                ).rowcount
            except psycopg.errors.UniqueViolation as exc:
                # Only the primary key can still conflict: ids are minted by the server,
                # so this is a bug, not a caller's mistake.
                raise SluiceError(f"export id '{new.id}' already exists") from exc
            if inserted == 1:
                # Under the create lock: two increments of one chain created at once
                # (two replicas) make one export. Only an increment looks, and only at
                # the unfinished increments of its creator and dataset.
                if is_increment(new.spec):
                    refuse_second_increment(new, self._unfinished_increments(db, new))
                db.cursor().executemany(
                    INSERT_LABEL_SQL.replace("?", "%s").encode(),
                    [(new.id, k, v) for k, v in dict(new.spec.labels).items()],
                )
                db.cursor().executemany(
                    "INSERT INTO notifications (job_id, idx, target, delivery_id)"
                    " VALUES (%s, %s, %s, %s)",
                    new_notifications(new.id, new.spec),
                )
                _signal(db, SignalKind.QUEUED, new.id)
                return self._load(db, new.id), True
            row = db.execute(
                "SELECT id, request_fingerprint FROM jobs WHERE request_id = %s",
                (stored_request_id(new.created_by, new.request_id),),
            ).fetchone()
            assert row is not None  # the conflicting row is committed and never deleted
            # Empty: a deleted job's forgotten request (mark_deleted), answered as it is.
            if row["request_fingerprint"] and row["request_fingerprint"] != fingerprint:
                raise RequestIdInUse(row["id"])
            return self._load(db, row["id"]), False

    def find_by_request_id(self, request_id: str, created_by: str) -> Job | None:
        if not request_id:
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE request_id = %s",
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
            clauses.append("state = ANY(%s)")
            params.append(sorted(s.value for s in where.states))
        if where.created_by is not None:
            clauses.append("created_by = %s")
            params.append(where.created_by)
        for key, value in where.labels:
            clauses.append(
                "EXISTS (SELECT 1 FROM job_labels l"
                " WHERE l.job_id = jobs.id AND l.key = %s AND l.value = %s)"
            )
            params.extend((key, value))
        if page_token:
            created_text, last_id = decode_token(page_token)
            created_at = datetime.fromisoformat(created_text)
            clauses.append("(created_at, id) < (%s, %s)")
            params.extend((created_at, last_id))
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        params.append(page_size + 1)
        with self._read() as db:
            rows = db.execute(sql.encode(), params).fetchall()
        jobs = tuple(job_from_row(row, _utc) for row in rows[:page_size])
        next_token = ""
        if len(rows) > page_size:
            last = rows[page_size - 1]
            next_token = encode_token(timestamp(last["created_at"]), last["id"])
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
            lease_row = self._fence(db, job_id, lease)
            current = JobState(lease_row["state"])
            values = transition_values(
                job_id,
                current,
                allowed_from,
                to,
                now=now,
                error=error,
                manifest_uri=manifest_uri,
            )
            row = db.execute(
                f"{TRANSITION_SQL.replace('?', '%s')} RETURNING {JOB_COLUMNS}".encode(), values
            ).fetchone()
            assert row is not None  # the row is locked and jobs are never deleted
            if ended is not None:
                db.execute(END_SQL.format(p="%s"), ended)
            if rearms(current, to):
                db.execute(REARM_SQL.format(param="%s"), (job_id,))
            _signal(db, SignalKind.QUEUED if to is JobState.QUEUED else SignalKind.CHANGED, job_id)
            return self._job(db, row)

    def mark_deleted(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        *,
        error: JobError | None = None,
        batch: bool = False,
    ) -> Job:
        del batch  # nothing to erase beyond the rows: the server's WAL is its own
        now = _now()
        with self._tx() as db:
            lease_row = self._fence(db, job_id, None)
            values = transition_values(
                job_id,
                JobState(lease_row["state"]),
                allowed_from,
                JobState.DELETED,
                now=now,
                error=error,
                manifest_uri=None,
            )
            db.execute(TRANSITION_SQL.replace("?", "%s").encode(), values)
            spec = db.execute("SELECT spec_json FROM jobs WHERE id = %s", (job_id,)).fetchone()
            assert spec is not None  # the row is locked and jobs are never deleted
            postgres_forgetting.forget(db, job_id, spec["spec_json"])
            _signal(db, SignalKind.CHANGED, job_id)
            return self._load(db, job_id)

    def forget_deleted(self) -> int:
        with self._tx() as db:
            return postgres_forgetting.forget_unforgotten(db)

    def erase_forgotten(self) -> None:
        """Nothing: dead tuples and WAL are the server's to reclaim (README)."""

    def record_chunk(
        self, job_id: str, chunk: ChunkRecord, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        # One statement, so one round trip: fence (locking the job row), insert the
        # chunk, and write the progress only when the chunk was new.
        with self._conn() as db:
            row = db.execute(
                f"WITH fence AS ({_FENCE}),"
                f" inserted AS (INSERT INTO chunks (job_id, {CHUNK_COLUMNS}, lease_owner,"
                f" lease_token) SELECT fence.id, {_CHUNK_FIELDS}, %s, %s FROM fence"
                " ON CONFLICT (job_id, idx) DO NOTHING RETURNING job_id),"
                f" progress AS ({_PROGRESS_UPDATE} FROM inserted WHERE jobs.id = inserted.job_id),"
                " notified AS (SELECT pg_notify(%s, %s) FROM inserted)"
                " SELECT (SELECT count(*) FROM fence) AS fenced,"
                " (SELECT count(*) FROM inserted) AS inserted,"
                " (SELECT count(*) FROM notified) AS notified".encode(),
                (
                    *_fence_values(job_id, lease),
                    *chunk_values(job_id, chunk, _stored_time)[1:],
                    "" if lease is None else lease.owner,
                    0 if lease is None else lease.token,
                    *_progress_values(progress),
                    CHANNEL,
                    encode(SignalKind.CHANGED, job_id),
                ),
            ).fetchone()
            assert row is not None
            if not row["fenced"]:
                raise _refusal(db, job_id, lease)
            if row["inserted"]:
                return
            # A retry after a lost acknowledgement re-records the same bytes; anything
            # else means two different chunks claim one slot in the manifest.
            existing = db.execute(
                "SELECT sha256 FROM chunks WHERE job_id = %s AND idx = %s", (job_id, chunk.index)
            ).fetchone()
            if existing is None or existing["sha256"] != chunk.sha256:
                raise FailedPrecondition(
                    f"export '{job_id}' already has chunk {chunk.index} with another sha256"
                )

    def chunks(self, job_id: str) -> Sequence[ChunkRecord]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE job_id = %s ORDER BY idx".encode(),
                (job_id,),
            ).fetchall()
        return [chunk_from_row(row, _utc) for row in rows]

    def save_progress(self, job_id: str, progress: Progress, *, lease: Lease | None = None) -> None:
        self._update_progress(
            job_id, _LIVE_PROGRESS_UPDATE, live_progress_values(progress, _now()), lease
        )

    def save_final_progress(
        self, job_id: str, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        self._update_progress(job_id, _PROGRESS_UPDATE, _progress_values(progress), lease)

    def _update_progress(
        self, job_id: str, update: str, values: tuple[object, ...], lease: Lease | None
    ) -> None:
        with self._conn() as db:
            updated = db.execute(
                f"{update} WHERE id = %s AND {_HELD} RETURNING pg_notify(%s, %s)".encode(),
                (
                    *values,
                    *_fence_values(job_id, lease),
                    CHANNEL,
                    encode(SignalKind.CHANGED, job_id),
                ),
            ).rowcount
            if updated != 1:
                raise _refusal(db, job_id, lease)

    def save_upload(self, job_id: str, key: str, state: str, *, lease: Lease | None = None) -> None:
        with self._conn() as db:
            row = db.execute(
                f"WITH fence AS ({_FENCE}),"
                " saved AS (INSERT INTO uploads (job_id, key, state_json, updated_at)"
                " SELECT fence.id, %s, %s, %s FROM fence"
                " ON CONFLICT (job_id, key) DO UPDATE SET state_json = excluded.state_json,"
                " updated_at = excluded.updated_at RETURNING 1)"
                " SELECT (SELECT count(*) FROM fence) AS fenced".encode(),
                (*_fence_values(job_id, lease), key, state, _now()),
            ).fetchone()
            if row is None or not row["fenced"]:
                raise _refusal(db, job_id, lease)

    def save_run_facts(self, job_id: str, facts: str, *, lease: Lease | None = None) -> None:
        with self._conn() as db:
            row = db.execute(
                f"WITH fence AS ({_FENCE}),"
                " saved AS (INSERT INTO run_facts (job_id, facts_json, updated_at)"
                " SELECT fence.id, %s, %s FROM fence"
                " ON CONFLICT (job_id) DO UPDATE SET facts_json = excluded.facts_json,"
                " updated_at = excluded.updated_at RETURNING 1)"
                " SELECT (SELECT count(*) FROM fence) AS fenced".encode(),
                (*_fence_values(job_id, lease), facts, _now()),
            ).fetchone()
            if row is None or not row["fenced"]:
                raise _refusal(db, job_id, lease)

    def run_facts(self, job_id: str) -> str | None:
        with self._read() as db:
            self._require(db, job_id)
            row = db.execute(
                "SELECT facts_json FROM run_facts WHERE job_id = %s", (job_id,)
            ).fetchone()
        return None if row is None else str(row["facts_json"])

    def uploads(self, job_id: str) -> Sequence[tuple[str, str]]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                "SELECT key, state_json FROM uploads WHERE job_id = %s ORDER BY key", (job_id,)
            ).fetchall()
        return [(row["key"], row["state_json"]) for row in rows]

    def delete_upload(self, job_id: str, key: str, *, lease: Lease | None = None) -> None:
        with self._conn() as db:
            if lease is None:
                db.execute("DELETE FROM uploads WHERE job_id = %s AND key = %s", (job_id, key))
                return
            row = db.execute(
                f"WITH fence AS ({_FENCE}),"
                " deleted AS (DELETE FROM uploads USING fence"
                " WHERE uploads.job_id = fence.id AND uploads.key = %s RETURNING 1)"
                " SELECT (SELECT count(*) FROM fence) AS fenced".encode(),
                (*_fence_values(job_id, lease), key),
            ).fetchone()
            if row is None or not row["fenced"]:
                raise _refusal(db, job_id, lease)

    def newest_succeeded(
        self, created_by: str, dataset: str, limit: int, *, after: Job | None = None
    ) -> Sequence[Job]:
        # The index jobs_by_creator_dataset holds this very expression: the rows read
        # are the creator's exports of the dataset, newest first, not all of theirs.
        values: list[object] = [JobState.SUCCEEDED.value, created_by, dataset]
        position = ""
        if after is not None and after.finished_at is not None:
            position = " AND (finished_at, id) < (%s, %s)"
            values += [after.finished_at, after.id]
        with self._conn() as db:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = %s AND created_by = %s"
                f" AND {SPEC_DATASET} = %s{position}"
                " ORDER BY finished_at DESC, id DESC LIMIT %s".encode(),
                (*values, limit),
            ).fetchall()
        return [job_from_row(row, _utc) for row in rows]

    def unfinished(self) -> Sequence[Job]:
        with self._conn() as db:
            return self._unfinished(db)

    @staticmethod
    def _unfinished(db: Conn) -> Sequence[Job]:
        rows = db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY(%s)"
            " ORDER BY created_at, id".encode(),
            (sorted(s.value for s in UNFINISHED_STATES),),
        ).fetchall()
        return [job_from_row(row, _utc) for row in rows]

    @staticmethod
    def _unfinished_increments(db: Conn, new: NewJob) -> Sequence[Job]:
        """The unfinished increments that may be of `new`'s chain: same creator and
        dataset (the destination's spellings are compared by refuse_second_increment)."""
        rows = db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY(%s) AND created_by = %s"
            " AND spec_json::jsonb #>> '{destination,dataset}' = %s"
            " AND spec_json::jsonb #>> '{incremental,mode}' = %s"
            " ORDER BY created_at, id".encode(),
            (
                sorted(s.value for s in UNFINISHED_STATES),
                new.created_by,
                new.spec.destination.dataset,
                INCREMENT_MODE,
            ),
        ).fetchall()
        return [job_from_row(row, _utc) for row in rows]

    def claim(
        self, owner: str, lease_seconds: float, per_creator: int = 0
    ) -> tuple[Job, Lease] | None:
        # One statement: pick and take the oldest claimable row. SKIP LOCKED: a row
        # another replica is claiming (or journalling into) is passed over, never waited
        # for. The database's clock judges expiry, so replicas' clocks need not agree:
        # the statement's, not the transaction's (now()), which began before the wait
        # for the claim lock below and would date the lease back by that wait.
        claimable = CLAIMABLE_SQL.format(param="%s", now="statement_timestamp()")
        limit: tuple[object, ...] = ()
        if per_creator:
            claimable += PER_CREATOR_SQL.format(param="%s", now="statement_timestamp()")
            limit = (JobState.RUNNING.value, per_creator)
        with self._tx() if per_creator else self._conn() as db:
            if per_creator and not _claim_turn(db):
                return None
            row = db.execute(
                "UPDATE jobs SET state = %s, lease_owner = %s,"
                " lease_token = lease_token + 1,"
                " lease_expires_at = statement_timestamp() + %s,"
                " updated_at = statement_timestamp(),"
                " started_at = COALESCE(started_at, statement_timestamp())"
                f" WHERE id = (SELECT id FROM jobs WHERE {claimable}"
                " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {JOB_COLUMNS}, lease_token,"
                " pg_notify(%s, %s || ' ' || id) AS notified".encode(),
                (
                    JobState.RUNNING.value,
                    owner,
                    timedelta(seconds=lease_seconds),
                    owner,
                    JobState.QUEUED.value,
                    JobState.RUNNING.value,
                    *limit,
                    CHANNEL,
                    SignalKind.CHANGED.value,
                ),
            ).fetchone()
            if row is None:
                return None
            return self._job(db, row), Lease(row["id"], owner, int(row["lease_token"]))

    def pin(self, job_id: str, replica: str) -> Job:
        with self._tx() as db:
            row = db.execute(
                "SELECT state, lease_owner,"
                " (lease_expires_at IS NOT NULL AND lease_expires_at > now()) AS live"
                " FROM jobs WHERE id = %s FOR UPDATE",
                (job_id,),
            ).fetchone()
            if row is None:
                raise _not_found(job_id)
            check_pinnable(job_id, row["state"], row["lease_owner"], bool(row["live"]), replica)
            db.execute(
                "UPDATE jobs SET runs_on = %s, not_before = NULL WHERE id = %s", (replica, job_id)
            )
            if row["state"] == JobState.QUEUED.value:
                # Claims pass over locked rows (SKIP LOCKED): one that ran while this
                # transaction held the row found nothing, so the job is signalled again
                # (at commit) rather than left for the next poll.
                _signal(db, SignalKind.QUEUED, job_id)
            return self._load(db, job_id)

    def unpin_queued(self, replica: str, resume_window: timedelta) -> Sequence[str]:
        with self._tx() as db:
            # The database's clock, as claims judge not_before by its now().
            rows = db.execute(
                "UPDATE jobs SET runs_on = '', not_before = now() + %s"
                " WHERE runs_on = %s AND state = %s RETURNING id",
                (resume_window, replica, JobState.QUEUED.value),
            ).fetchall()
            ids = sorted(str(row["id"]) for row in rows)
            for job_id in ids:  # the other replicas hear of it now, not at their next poll
                _signal(db, SignalKind.QUEUED, job_id)
            return ids

    def renew(self, lease: Lease, lease_seconds: float) -> bool:
        # The lease check is the UPDATE's own condition: one round trip.
        with self._conn() as db:
            row = db.execute(
                f"UPDATE jobs SET lease_expires_at = now() + %s WHERE id = %s AND {_HELD}"
                " RETURNING cancel_requested".encode(),
                (timedelta(seconds=lease_seconds), *_fence_values(lease.job_id, lease)),
            ).fetchone()
            if row is None:
                raise _refusal(db, lease.job_id, lease)
            return bool(row["cancel_requested"])

    def release(self, lease: Lease, resume_window: timedelta) -> Job:
        now = _now()
        with self._tx() as db:
            self._fence(db, lease.job_id, lease)
            # Claims judge not_before by the database's now(), not this replica's clock.
            after = _stored_time(_database_time(db, now + resume_window))
            db.execute(
                RELEASE_SQL.format(p="%s"), (JobState.QUEUED.value, after, now, lease.job_id)
            )
            db.execute(
                END_SQL.format(p="%s"), end_values(lease, AttemptOutcome.HANDED_BACK, None, now)
            )
            _signal(db, SignalKind.QUEUED, lease.job_id)
            return self._load(db, lease.job_id)

    def begin_attempt(self, lease: Lease) -> ExportAttempt:
        now = _now()
        with self._tx() as db:
            self._fence(db, lease.job_id, lease)
            db.execute(CLOSE_STRAY_SQL.format(p="%s"), close_stray_values(lease.job_id, now))
            db.execute(BEGIN_SQL.format(p="%s"), begin_values(lease, now))
            rows = db.execute(LIST_SQL.format(p="%s"), (lease.job_id,)).fetchall()
        return attempt_from_row(rows[-1], _utc)

    def end_attempt(
        self, lease: Lease, outcome: AttemptOutcome, error: JobError | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(END_SQL.format(p="%s"), end_values(lease, outcome, error, _now()))

    def retry_later(self, lease: Lease, error: JobError, not_before: datetime) -> Job:
        now = _now()
        with self._tx() as db:
            # Claims compare not_before with the database's now(): a replica's clock
            # ahead or behind would shift the backoff by the skew.
            not_before = _database_time(db, not_before)
            self._fence(db, lease.job_id, lease)
            if cancel_pending(db.execute(CANCEL_PENDING_SQL.format(p="%s"), (lease.job_id,))):
                return self._load(db, lease.job_id)
            db.execute(
                END_SQL.format(p="%s"),
                end_values(lease, AttemptOutcome.RETRIED, error, now, _stored_time(not_before)),
            )
            db.execute(
                REQUEUE_SQL.format(p="%s"),
                requeue_values(lease.job_id, _stored_time(not_before), now),
            )
            return self._load(db, lease.job_id)

    def attempts(self, job_id: str) -> Sequence[ExportAttempt]:
        with self._tx() as db:
            self._require(db, job_id)
            rows = db.execute(LIST_SQL.format(p="%s"), (job_id,)).fetchall()
        return [attempt_from_row(row, _utc) for row in rows]

    def request_cancel(self, job_id: str) -> Job:
        with self._tx() as db:
            requested = db.execute(
                "UPDATE jobs SET cancel_requested = true WHERE id = %s AND state = %s",
                (job_id, JobState.RUNNING.value),
            ).rowcount
            if requested:
                # The replica running it hears this at once, not at its next heartbeat.
                _signal(db, SignalKind.CANCEL, job_id)
            return self._load(db, job_id)

    def expire_leases(self) -> int:
        with self._tx() as db:
            return db.execute(
                "UPDATE jobs SET lease_expires_at = NULL WHERE state = %s",
                (JobState.RUNNING.value,),
            ).rowcount

    def restore(self, job: Job, chunks: Sequence[ChunkRecord]) -> bool:
        with self._tx() as db:
            inserted = db.execute(
                RESTORE_JOB_SQL.replace("?", "%s").encode(),
                restored_job_values(job, chunks, _stored_time),
            ).rowcount
            if inserted != 1:
                return False
            cursor = db.cursor()
            cursor.executemany(
                INSERT_LABEL_SQL.replace("?", "%s").encode(),
                [(job.id, k, v) for k, v in job.labels.items()],
            )
            cursor.executemany(
                f"INSERT INTO chunks (job_id, {CHUNK_COLUMNS}) VALUES ({_CHUNK_VALUES})".encode(),
                [chunk_values(job.id, chunk, _stored_time) for chunk in chunks],
            )
            return True

    def notifications(self, job_id: str) -> Sequence[NotificationDelivery]:
        with self._read() as db:
            self._require(db, job_id)
            rows = db.execute(
                f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE job_id = %s ORDER BY idx",
                (job_id,),
            ).fetchall()
        return [notification_from_row(row, _utc) for row in rows]

    def due_notifications(self, now: datetime, limit: int) -> Sequence[NotificationDelivery]:
        with self._read() as db:
            return _due(db, now, limit, claim=False)

    def claim_notifications(self, hold: timedelta, limit: int) -> Sequence[NotificationDelivery]:
        with self._tx() as db:
            # The database's clock, as leases: replicas' clocks need not agree. SKIP
            # LOCKED: replicas claiming at once take different rows, none waits.
            due = _due(db, None, limit, claim=True)
            db.cursor().executemany(
                "UPDATE notifications SET next_attempt_at = now() + %s WHERE delivery_id = %s",
                [(hold, d.delivery_id) for d in due],
            )
        return due

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
        with self._tx() as db:
            # Claims compare the retry time with the database's now(): a replica's clock
            # ahead or behind would shift the backoff by the skew (as retry_later).
            if next_attempt_at is not None:
                next_attempt_at = _database_time(db, next_attempt_at)
            values = attempt_values(
                delivery_id,
                state=state,
                error=error,
                attempted_at=attempted_at,
                next_attempt_at=next_attempt_at,
                late_seconds=late_seconds,
                write_time=_stored_time,
            )
            postgres_forgetting.lock_delivery_job(db, delivery_id)
            updated = db.execute(RECORD_ATTEMPT_SQL.replace("?", "%s").encode(), values).rowcount
        return bool(updated == 1)

    def rearm_notifications(self, job_id: str) -> None:
        with self._tx() as db:
            self._require(db, job_id)
            db.execute(REARM_SQL.format(param="%s"), (job_id,))

    def listen(self, listener: SignalListener) -> None:
        self._signals.add(listener)

    def check(self) -> StoreCheck:
        with self._checking_conn:
            try:
                conn = self._check_conn or self._open_check_conn()
                self._check_conn = conn
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE state = %s) AS running,"
                    " count(*) FILTER (WHERE state = %s) AS queued"
                    " FROM jobs WHERE state = ANY(%s)",
                    (
                        JobState.RUNNING.value,
                        JobState.QUEUED.value,
                        [JobState.RUNNING.value, JobState.QUEUED.value],
                    ),
                ).fetchone()
                schema = schema_status(conn, self.name)
            except psycopg.Error as exc:
                self._close_check_conn()
                raise Unavailable(f"job store unavailable: {_reason(exc)}") from None
        assert row is not None
        return StoreCheck(running=int(row["running"]), queued=int(row["queued"]), schema=schema)

    def _open_check_conn(self) -> Conn:
        kwargs = dict(self._kwargs)
        kwargs["connect_timeout"] = str(_CHECK_CONNECT_SECONDS)
        conn: Conn = psycopg.Connection.connect(self._url, **kwargs)
        try:
            conn.execute(f"SET statement_timeout = {_CHECK_STATEMENT_MS}".encode())
        except BaseException:
            conn.close()
            raise
        return conn

    def _close_check_conn(self) -> None:
        conn, self._check_conn = self._check_conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        signals = getattr(self, "_signals", None)
        if signals is not None:
            signals.close()
        # Not while a check waits on it (a daemon stopping during an outage): the
        # process ends soon anyway.
        checking = getattr(self, "_checking_conn", None)
        if checking is not None and checking.acquire(blocking=False):
            try:
                self._close_check_conn()
            finally:
                checking.release()
        pool = getattr(self, "_pool", None)
        if pool is not None:
            # Bounded: close() waits for the pool's own threads before failing the calls
            # still waiting for a connection, and a daemon stopping while the database is
            # down must not overrun its shutdown grace by psycopg_pool's default 5 s.
            pool.close(timeout=_CLOSE_WAIT_SECONDS)

    # -- ScheduleStore ----------------------------------------------------------------

    def create_schedule(self, schedule: Schedule) -> Schedule:
        with self._tx() as db:
            inserted = db.execute(
                f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ({_SCHEDULE_VALUES})"
                " ON CONFLICT (name) DO NOTHING".encode(),
                schedule_values(schedule, _now(), _stored_time),
            ).rowcount
            if inserted != 1:
                raise AlreadyExists(f"schedule '{schedule.name}' already exists")
            return self._load_schedule(db, schedule.name)

    def get_schedule(self, name: str) -> Schedule:
        with self._read() as db:
            return self._load_schedule(db, name)

    def list_schedules(self) -> Sequence[Schedule]:
        with self._read() as db:
            rows = db.execute(
                f"SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name".encode()
            ).fetchall()
        return [schedule_from_row(row, _utc) for row in rows]

    def delete_schedule(self, name: str) -> None:
        with self._conn() as db:
            if db.execute("DELETE FROM schedules WHERE name = %s", (name,)).rowcount != 1:
                raise schedule_not_found(name)

    def set_schedule_paused(self, name: str, paused: bool, next_tick: datetime | None) -> Schedule:
        with self._tx() as db:
            updated = db.execute(
                "UPDATE schedules SET paused = %s, next_tick = %s, updated_at = %s WHERE name = %s",
                (paused, next_tick, _now(), name),
            ).rowcount
            if updated != 1:
                raise schedule_not_found(name)
            return self._load_schedule(db, name)

    def record_tick(self, name: str, expected_next: datetime, record: TickRecord) -> bool:
        values = tick_values(name, expected_next, record, _now(), _stored_time)
        with self._tx() as db:
            sql = RECORD_TICK_SQL.replace("?", "%s").encode()
            return db.execute(sql, values).rowcount == 1

    def record_trigger(
        self, name: str, export_id: str, *, replacing: str | None = None
    ) -> Schedule | None:
        sql = RECORD_TRIGGER_SQL
        values: tuple[object, ...] = (export_id, _now(), name)
        if replacing is not None:
            sql += RECORD_TRIGGER_IF_LAST
            values += (replacing,)
        with self._tx() as db:
            updated = db.execute(sql.replace("?", "%s").encode(), values).rowcount
            if updated != 1:
                if replacing is not None:
                    self._load_schedule(db, name)  # NotFound for a schedule deleted meanwhile
                    return None
                raise schedule_not_found(name)
            return self._load_schedule(db, name)

    @staticmethod
    def _load_schedule(db: Conn, name: str) -> Schedule:
        row = db.execute(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = %s".encode(), (name,)
        ).fetchone()
        if row is None:
            raise schedule_not_found(name)
        return schedule_from_row(row, _utc)

    # -- internals --------------------------------------------------------------------

    def schema(self) -> SchemaStatus:
        with self._conn() as db:
            return schema_status(db, self.name)

    def _connect(self) -> Conn:
        conn: Conn = psycopg.Connection.connect(self._url, **self._kwargs)
        try:
            _configure(conn)
        except BaseException:
            conn.close()  # a listener reconnecting every few seconds must not leak these
            raise
        return conn

    @contextmanager
    def _conn(self, timeout: float | None = None) -> Iterator[Conn]:
        """A pooled connection, waiting at most `timeout` (default: the pool's) for one."""
        try:
            with self._pool.connection(timeout) as conn:
                yield conn
            self._failing.clear()
        except psycopg_pool.PoolTimeout as exc:
            self._failing.set()
            raise Unavailable(f"job store unavailable: {exc}") from exc
        except psycopg_pool.PoolClosed as exc:
            # The daemon is stopping (close() fails waiting calls): no retry helps.
            raise Unavailable("job store closed: the daemon is stopping") from exc
        except psycopg.OperationalError as exc:
            self._failing.set()
            self._check_pool()
            raise Unavailable(f"job store unavailable: {_reason(exc)}") from exc

    def _read(self) -> AbstractContextManager[Conn]:
        return self._conn(self._read_wait if self._failing.is_set() else None)

    def _check_pool(self) -> None:
        """One connection broke (the server restarted, the network dropped): test the
        idle ones in the background, so the next calls do not each draw a dead one."""
        if not self._checking.acquire(blocking=False):
            return  # a check is under way

        def check() -> None:
            try:
                self._pool.check()
            except Exception:  # noqa: BLE001 - best effort; calls still see the outage
                _log.debug("job store pool check failed", exc_info=True)
            finally:
                self._checking.release()

        threading.Thread(target=check, name="job-store-pool-check", daemon=True).start()

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        with self._conn() as conn, conn.transaction():
            yield conn

    def _load(self, db: Conn, job_id: str) -> Job:
        row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            raise _not_found(job_id)
        return self._job(db, row)

    @staticmethod
    def _job(db: Conn, row: Row) -> Job:
        """A job row as a Job. A row journalled before jobs kept their counters
        (counters_json NULL) sums its chunks' instead, as the SQLite store does: every
        path answering with one job (RETURNING ones too) goes through here."""
        job = job_from_row(row, _utc)
        if needs_summed_counters(row):
            chunks = db.execute(
                SUMMED_COUNTERS_SQL.replace("?", "%s").encode(), (row["id"],)
            ).fetchall()
            job = with_summed_counters(job, chunks)
        return job

    @staticmethod
    def _require(db: Conn, job_id: str) -> None:
        if db.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,)).fetchone() is None:
            raise _not_found(job_id)

    @staticmethod
    def _fence(db: Conn, job_id: str, lease: Lease | None) -> Row:
        """Lock the job row for this transaction (writers of one job take turns, and a
        claim cannot change the token before this write commits) and check `lease`."""
        row = db.execute(
            f"SELECT {LEASE_COLUMNS} FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
        ).fetchone()
        if row is None:
            raise _not_found(job_id)
        check_lease(job_id, row, lease)
        return row


def _due(db: Conn, now: datetime | None, limit: int, *, claim: bool) -> list[NotificationDelivery]:
    """Deliveries due at `now`; None: at the database's now()."""
    ended = sorted(s.value for s in NOTIFYING_STATES)
    at = "now()" if now is None else "%s"
    values: tuple[object, ...] = () if now is None else (_stored_time(now),)
    rows = db.execute(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications n"
        f" WHERE n.state = %s AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= {at})"
        " AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = n.job_id AND j.state = ANY(%s))"
        " ORDER BY n.next_attempt_at NULLS FIRST, n.job_id, n.idx LIMIT %s"
        + (" FOR UPDATE OF n SKIP LOCKED" if claim else ""),
        (DeliveryState.PENDING.value, *values, ended, limit),
    ).fetchall()
    return [notification_from_row(row, _utc) for row in rows]


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Times come back in UTC whatever the server's default zone.
    conn.execute("SET TIME ZONE 'UTC'")


#: Progress columns of the job row; values from _progress_values.
_PROGRESS_UPDATE: Final = PROGRESS_UPDATE_SQL.replace("?", "%s")
#: The same without the counters (save_progress); values from live_progress_values.
_LIVE_PROGRESS_UPDATE: Final = LIVE_PROGRESS_UPDATE_SQL.replace("?", "%s")


def _progress_values(progress: Progress) -> tuple[object, ...]:
    return progress_values(progress, _now())


def _signal(db: Conn, kind: SignalKind, job_id: str) -> None:
    """NOTIFY the other replicas, delivered when (and if) this transaction commits."""
    db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(kind, job_id)))


def _fence_values(job_id: str, lease: Lease | None) -> tuple[object, ...]:
    """The values of _HELD after the job id (and so of _FENCE)."""
    token = None if lease is None else lease.token
    return (job_id, token, JobState.RUNNING.value, token)


def _refusal(db: Conn, job_id: str, lease: Lease | None) -> SluiceError:
    """Why a fenced write matched no row: NotFound, or LeaseLost naming the holder."""
    row = db.execute(f"SELECT {LEASE_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
    if row is None:
        return _not_found(job_id)
    try:
        check_lease(job_id, row, lease)
    except LeaseLost as exc:
        return exc
    # Held again by the time we looked (cannot be: tokens only grow); refuse anyway.
    return LeaseLost(f"export '{job_id}': the lease changed during the write")


def _reason(exc: psycopg.Error) -> str:
    # The first line only: libpq adds hints and context lines; no URL or password appears.
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _not_found(job_id: str) -> NotFound:
    # The caller's text: a URI pasted as an id is repeated without its user-info.
    return NotFound(f"export '{without_secrets(job_id)}' not found")


def _claim_turn(db: Conn) -> bool:
    """Take the claim lock for this transaction. Claims take turns (until commit), and
    the claim's statement, read committed, counts every claim made before it: two
    replicas claiming one principal's jobs at once cannot both pass its limit. A turn
    held past _CLAIM_LOCK_WAIT (a stuck replica) costs this poll alone: False."""
    db.execute(f"SET LOCAL lock_timeout = '{_CLAIM_LOCK_WAIT}'".encode())
    try:
        with db.transaction():  # a savepoint: the timeout leaves the transaction usable
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_LOCK,))
    except psycopg.errors.LockNotAvailable:
        _log.warning("no claim this poll: the claim lock was held over %s", _CLAIM_LOCK_WAIT)
        return False
    return True


def _now() -> datetime:
    return datetime.now(UTC)


def _database_time(db: Conn, local: datetime) -> datetime:
    """`local` (an instant by this replica's clock) moved to the database's clock: as far
    from the database's now() as it is from this replica's."""
    row = db.execute("SELECT clock_timestamp() AS now").fetchone()
    assert row is not None
    database_now: datetime = row["now"]
    return database_now + (local - _now())


def _stored_time(value: datetime) -> datetime:
    return value  # timestamptz keeps an aware datetime as it is


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


if TYPE_CHECKING:

    def _conforms(store: PostgresJobStore) -> JobStore:
        return store
