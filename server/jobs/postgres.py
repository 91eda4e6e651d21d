"""The PostgreSQL job store: the JobStore contract on a shared database (psycopg 3, with a
connection pool).

Same semantics as the SQLite store. Every write is one transaction on a pooled
connection (autocommit off only inside `transaction()`), with row locks where a
read-then-write must not interleave: `transition` and `record_chunk` lock the job row
(SELECT ... FOR UPDATE); `create` takes a transaction-level advisory lock so creation
times follow commit order (a keyset page boundary is never overtaken by a slower writer),
and `ON CONFLICT (request_id) DO NOTHING` makes two concurrent creates with one request
id one job.

Several daemons on one store are not supported yet (claiming work under leases is a
later step): a daemon holds `REPLICA_LOCK`, a session advisory lock on a connection of
its own, for its lifetime, and a second daemon is refused at start. PostgreSQL drops the
lock when that connection ends, however the daemon ends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SluiceError,
    Unavailable,
)
from sluice.server.jobs.migrations import SchemaStatus
from sluice.server.jobs.model import (
    UNFINISHED_STATES,
    ChunkRecord,
    Job,
    JobError,
    JobFilter,
    JobPage,
    JobState,
    NewJob,
    Progress,
)
from sluice.server.jobs.paging import decode_token, encode_token, timestamp
from sluice.server.jobs.postgres_schema import migrate, schema_status
from sluice.server.jobs.rows import (
    CHUNK_COLUMNS,
    JOB_COLUMNS,
    TRANSITION_SQL,
    chunk_from_row,
    chunk_values,
    job_from_row,
    transition_values,
)
from sluice.server.secrets import resolve_secret
from sluice.server.settings import Settings

if TYPE_CHECKING:
    from sluice.server.jobs.store import JobStore

#: pg_advisory_lock key a daemon holds while it uses the store ("sluice-daemon").
REPLICA_LOCK: Final = 0x736C_6461_656D
#: pg_advisory_xact_lock key serialising creates, so created_at follows commit order.
_CREATE_LOCK: Final = 0x736C_6372_6561

_CHUNK_VALUES: Final = ", ".join(["%s"] * 13)

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
        password = resolve_secret(settings.job_store_password_ref).decode().strip()
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
    schema on open. `exclusive` holds REPLICA_LOCK (the daemon sets it; tests open
    several stores on one database)."""

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, str] | None = None,
        pool_size: int = 8,
        exclusive: bool = False,
        connect_timeout: float = 15.0,
    ) -> None:
        self.name = redacted(url)
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
        kwargs.update(options or {})
        self._url = url
        self._kwargs = kwargs
        self._replica: Conn | None = None
        try:
            with self._connect() as conn:
                migrate(conn, self.name)
            if exclusive:
                self._replica = self._hold_replica_lock()
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
            open=False,
            configure=_configure,
        )
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
                    " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (request_id) DO NOTHING",
                    (
                        new.id,
                        new.request_id or None,
                        fingerprint,
                        JobState.QUEUED.value,
                        new.spec.to_json(),
                        now,
                        now,
                    ),
                ).rowcount
            except psycopg.errors.UniqueViolation as exc:
                # Only the primary key can still conflict: ids are minted by the server,
                # so this is a bug, not a caller's mistake.
                raise SluiceError(f"export id '{new.id}' already exists") from exc
            if inserted == 1:
                db.cursor().executemany(
                    "INSERT INTO job_labels (job_id, key, value) VALUES (%s, %s, %s)",
                    [(new.id, k, v) for k, v in dict(new.spec.labels).items()],
                )
                return self._load(db, new.id), True
            row = db.execute(
                "SELECT id, request_fingerprint FROM jobs WHERE request_id = %s",
                (new.request_id,),
            ).fetchone()
            assert row is not None  # the conflicting row is committed and never deleted
            if row["request_fingerprint"] != fingerprint:
                raise InvalidArgument(
                    "request_id",
                    f"already used for a different export request (export {row['id']})",
                )
            return self._load(db, row["id"]), False

    def find_by_request_id(self, request_id: str) -> Job | None:
        if not request_id:
            return None
        with self._conn() as db:
            row = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE request_id = %s", (request_id,)
            ).fetchone()
        return None if row is None else job_from_row(row, _utc)

    def get(self, job_id: str) -> Job:
        with self._conn() as db:
            return self._load(db, job_id)

    def list(self, where: JobFilter, *, page_size: int, page_token: str = "") -> JobPage:
        if page_size < 1:
            raise InvalidArgument("page_size", "must be at least 1")
        clauses: list[str] = []
        params: list[Any] = []
        if where.states:
            clauses.append("state = ANY(%s)")
            params.append(sorted(s.value for s in where.states))
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
        with self._conn() as db:
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
    ) -> Job:
        with self._tx() as db:
            row = db.execute(
                "SELECT state FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
            ).fetchone()
            if row is None:
                raise _not_found(job_id)
            values = transition_values(
                job_id,
                JobState(row["state"]),
                allowed_from,
                to,
                now=_now(),
                error=error,
                manifest_uri=manifest_uri,
            )
            db.execute(TRANSITION_SQL.replace("?", "%s").encode(), values)
            return self._load(db, job_id)

    def record_chunk(self, job_id: str, chunk: ChunkRecord, progress: Progress) -> None:
        with self._tx() as db:
            self._lock_job(db, job_id)
            row = db.execute(
                "SELECT sha256 FROM chunks WHERE job_id = %s AND idx = %s", (job_id, chunk.index)
            ).fetchone()
            if row is not None:
                if row["sha256"] == chunk.sha256:
                    return
                raise FailedPrecondition(
                    f"export '{job_id}' already has chunk {chunk.index} with another sha256"
                )
            db.execute(
                f"INSERT INTO chunks (job_id, {CHUNK_COLUMNS}) VALUES ({_CHUNK_VALUES})".encode(),
                chunk_values(job_id, chunk, _stored_time),
            )
            _write_progress(db, job_id, progress)

    def chunks(self, job_id: str) -> Sequence[ChunkRecord]:
        with self._conn() as db:
            self._require(db, job_id)
            rows = db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE job_id = %s ORDER BY idx".encode(),
                (job_id,),
            ).fetchall()
        return [chunk_from_row(row, _utc) for row in rows]

    def save_progress(self, job_id: str, progress: Progress) -> None:
        with self._tx() as db:
            self._lock_job(db, job_id)
            _write_progress(db, job_id, progress)

    def save_upload(self, job_id: str, key: str, state: str) -> None:
        with self._tx() as db:
            self._lock_job(db, job_id)
            db.execute(
                "INSERT INTO uploads (job_id, key, state_json, updated_at)"
                " VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (job_id, key) DO UPDATE SET state_json = excluded.state_json,"
                " updated_at = excluded.updated_at",
                (job_id, key, state, _now()),
            )

    def uploads(self, job_id: str) -> Sequence[tuple[str, str]]:
        with self._conn() as db:
            self._require(db, job_id)
            rows = db.execute(
                "SELECT key, state_json FROM uploads WHERE job_id = %s ORDER BY key", (job_id,)
            ).fetchall()
        return [(row["key"], row["state_json"]) for row in rows]

    def delete_upload(self, job_id: str, key: str) -> None:
        with self._conn() as db:
            db.execute("DELETE FROM uploads WHERE job_id = %s AND key = %s", (job_id, key))

    def unfinished(self) -> Sequence[Job]:
        with self._conn() as db:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY(%s)"
                " ORDER BY created_at, id".encode(),
                (sorted(s.value for s in UNFINISHED_STATES),),
            ).fetchall()
        return [job_from_row(row, _utc) for row in rows]

    def restore(self, job: Job, chunks: Sequence[ChunkRecord]) -> bool:
        with self._tx() as db:
            inserted = db.execute(
                "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json,"
                " created_at, updated_at, started_at, finished_at, manifest_uri,"
                " records, chunks, stored_bytes, source_rows_done, source_rows_total)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (
                    job.id,
                    job.request_id or None,
                    job.spec.fingerprint(),
                    job.state.value,
                    job.spec.to_json(),
                    job.created_at,
                    job.updated_at,
                    job.started_at,
                    job.finished_at,
                    job.manifest_uri,
                    job.progress.records,
                    job.progress.chunks,
                    job.progress.stored_bytes,
                    job.progress.source_rows_done,
                    job.progress.source_rows_total,
                ),
            ).rowcount
            if inserted != 1:
                return False
            cursor = db.cursor()
            cursor.executemany(
                "INSERT INTO job_labels (job_id, key, value) VALUES (%s, %s, %s)",
                [(job.id, k, v) for k, v in job.labels.items()],
            )
            cursor.executemany(
                f"INSERT INTO chunks (job_id, {CHUNK_COLUMNS}) VALUES ({_CHUNK_VALUES})".encode(),
                [chunk_values(job.id, chunk, _stored_time) for chunk in chunks],
            )
            return True

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
        if self._replica is not None:
            self._replica.close()
            self._replica = None

    # -- internals --------------------------------------------------------------------

    def schema(self) -> SchemaStatus:
        with self._conn() as db:
            return schema_status(db, self.name)

    def _connect(self) -> Conn:
        conn: Conn = psycopg.Connection.connect(self._url, **self._kwargs)
        _configure(conn)
        return conn

    def _hold_replica_lock(self) -> Conn:
        conn = self._connect()
        row = conn.execute("SELECT pg_try_advisory_lock(%s) AS held", (REPLICA_LOCK,)).fetchone()
        if row is None or not row["held"]:
            conn.close()
            raise FailedPrecondition(
                f"job store {self.name} is in use by another Sluice daemon; several"
                " daemons on one PostgreSQL job store are not supported yet"
            )
        return conn

    @contextmanager
    def _conn(self) -> Iterator[Conn]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as exc:
            raise Unavailable(f"job store unavailable: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise Unavailable(f"job store unavailable: {_reason(exc)}") from exc

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        with self._conn() as conn, conn.transaction():
            yield conn

    def _load(self, db: Conn, job_id: str) -> Job:
        row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            raise _not_found(job_id)
        return job_from_row(row, _utc)

    @staticmethod
    def _require(db: Conn, job_id: str) -> None:
        if db.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,)).fetchone() is None:
            raise _not_found(job_id)

    @staticmethod
    def _lock_job(db: Conn, job_id: str) -> None:
        """Lock the job row for this transaction (writers of one job take turns)."""
        if db.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,)).fetchone() is None:
            raise _not_found(job_id)


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Times come back in UTC whatever the server's default zone.
    conn.execute("SET TIME ZONE 'UTC'")


def _write_progress(db: Conn, job_id: str, progress: Progress) -> None:
    db.execute(
        "UPDATE jobs SET records = %s, chunks = %s, stored_bytes = %s, source_rows_done = %s,"
        " source_rows_total = %s, updated_at = %s WHERE id = %s",
        (
            progress.records,
            progress.chunks,
            progress.stored_bytes,
            progress.source_rows_done,
            progress.source_rows_total,
            _now(),
            job_id,
        ),
    )


def _reason(exc: psycopg.Error) -> str:
    # The first line only: libpq adds hints and context lines; no URL or password appears.
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"export '{job_id}' not found")


def _now() -> datetime:
    return datetime.now(UTC)


def _stored_time(value: datetime) -> datetime:
    return value  # timestamptz keeps an aware datetime as it is


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


if TYPE_CHECKING:

    def _conforms(store: PostgresJobStore) -> JobStore:
        return store
