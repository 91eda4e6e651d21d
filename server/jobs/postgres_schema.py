"""The PostgreSQL job store's schema: ordered migration steps, applied under an advisory
lock so daemons starting together migrate once, recorded in `sluice_schema_migrations`.

Append only: a released step is never edited. The tables hold the same data as the
SQLite store's (server/jobs/sqlite_schema.py), with native types (timestamptz, bigint).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row

from sluice.server.jobs.migrations import SchemaStatus, newer_store

#: pg_advisory_lock key serialising migrations ("sluice-migrate" as a number).
MIGRATION_LOCK: Final = 0x736C_6D69_6772
MIGRATIONS_TABLE: Final = "sluice_schema_migrations"

#: The dataset of a job's destination, as indexed (jobs_by_creator_dataset) and as the
#: store's queries must spell it for PostgreSQL to use that index.
SPEC_DATASET: Final = "(spec_json::jsonb #>> '{destination,dataset}')"

_STEPS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE jobs (
            id                  TEXT PRIMARY KEY,
            request_id          TEXT UNIQUE,
            request_fingerprint TEXT NOT NULL,
            state               TEXT NOT NULL,
            spec_json           TEXT NOT NULL,
            created_at          TIMESTAMPTZ NOT NULL,
            updated_at          TIMESTAMPTZ NOT NULL,
            started_at          TIMESTAMPTZ,
            finished_at         TIMESTAMPTZ,
            manifest_uri        TEXT NOT NULL DEFAULT '',
            error_code          TEXT,
            error_message       TEXT,
            error_transient     BOOLEAN,
            records             BIGINT NOT NULL DEFAULT 0,
            chunks              BIGINT NOT NULL DEFAULT 0,
            stored_bytes        BIGINT NOT NULL DEFAULT 0,
            source_rows_done    BIGINT NOT NULL DEFAULT 0,
            source_rows_total   BIGINT NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC)",
        "CREATE INDEX jobs_by_state ON jobs (state, created_at)",
        """
        CREATE TABLE job_labels (
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            key    TEXT NOT NULL,
            value  TEXT NOT NULL,
            PRIMARY KEY (job_id, key)
        )
        """,
        "CREATE INDEX job_labels_by_pair ON job_labels (key, value)",
        """
        CREATE TABLE chunks (
            job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            idx             BIGINT NOT NULL,
            path            TEXT NOT NULL,
            records         BIGINT NOT NULL,
            stored_bytes    BIGINT NOT NULL,
            sha256          TEXT NOT NULL,
            content_digest  TEXT NOT NULL,
            source_start    BIGINT NOT NULL,
            source_end      BIGINT NOT NULL,
            committed_at    TIMESTAMPTZ NOT NULL,
            counters_json   TEXT NOT NULL DEFAULT '[]',
            cursor_max_json TEXT NOT NULL DEFAULT 'null',
            PRIMARY KEY (job_id, idx)
        )
        """,
        """
        CREATE TABLE uploads (
            job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            key        TEXT NOT NULL,
            state_json TEXT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (job_id, key)
        )
        """,
    ),
    (
        # schedules: named export specs run on a cron in a time zone
        # (server/jobs/schedules.py).
        """
        CREATE TABLE schedules (
            name              TEXT PRIMARY KEY,
            uid               TEXT NOT NULL,
            spec_json         TEXT NOT NULL,
            cron              TEXT NOT NULL,
            timezone          TEXT NOT NULL,
            concurrency       TEXT NOT NULL,
            catch_up          TEXT NOT NULL,
            paused            BOOLEAN NOT NULL,
            created_at        TIMESTAMPTZ NOT NULL,
            updated_at        TIMESTAMPTZ NOT NULL,
            next_tick         TIMESTAMPTZ,
            last_tick         TIMESTAMPTZ,
            last_export_id    TEXT NOT NULL DEFAULT '',
            skipped_ticks     BIGINT NOT NULL DEFAULT 0,
            last_skipped_tick TIMESTAMPTZ,
            last_error        TEXT NOT NULL DEFAULT ''
        )
        """,
    ),
    (
        # Export-end notifications: one row per notify target, made with the job.
        """
        CREATE TABLE notifications (
            job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            idx             INTEGER NOT NULL,
            target          TEXT NOT NULL,
            delivery_id     TEXT NOT NULL UNIQUE,
            state           TEXT NOT NULL DEFAULT 'pending',
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT NOT NULL DEFAULT '',
            last_attempt_at TIMESTAMPTZ,
            next_attempt_at TIMESTAMPTZ,
            rounds          INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, idx)
        )
        """,
        "CREATE INDEX notifications_by_state ON notifications (state, next_attempt_at)",
    ),
    (
        # The principal that created each export (exports belong to their creator);
        # exports made before principals belong to "" (the anonymous caller).
        "ALTER TABLE jobs ADD COLUMN created_by TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX jobs_by_creator ON jobs (created_by, created_at)",
    ),
    (
        # Leases: a running job is held by one replica
        # (lease_owner) until lease_expires_at; lease_token grows with every claim and
        # fences every journal write; chunks record the lease they were journalled under;
        # a cancel of a job running elsewhere is a request its runner honours.
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN lease_expires_at TIMESTAMPTZ",
        "ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false",
        "ALTER TABLE chunks ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE chunks ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0",
    ),
    (
        # Each chunk's last row's order key (database sources): a resumed export reads
        # after it (WHERE key > last key) instead of by row position.
        "ALTER TABLE chunks ADD COLUMN source_last_key_json TEXT NOT NULL DEFAULT 'null'",
    ),
    (
        # The replica a job may only run on ('' any): a DoPut export runs where its
        # Flight stream arrives.
        "ALTER TABLE jobs ADD COLUMN runs_on TEXT NOT NULL DEFAULT ''",
    ),
    (
        # Automatic retries: one row per run (attempt) of an export, and the time before
        # which a transiently failed job, back in the queue, is not claimed.
        "ALTER TABLE jobs ADD COLUMN not_before TIMESTAMPTZ",
        """
        CREATE TABLE attempts (
            job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            number          INTEGER NOT NULL,
            replica         TEXT NOT NULL,
            lease_token     BIGINT NOT NULL,
            started_at      TIMESTAMPTZ NOT NULL,
            ended_at        TIMESTAMPTZ,
            outcome         TEXT NOT NULL,
            error_code      TEXT,
            error_message   TEXT,
            error_transient BOOLEAN,
            retry_at        TIMESTAMPTZ,
            PRIMARY KEY (job_id, number)
        )
        """,
    ),
    (
        # The per-stage counters summed over the job's chunks, kept with its progress, so
        # reading a job does not read its chunks (NULL: a job journalled before this).
        "ALTER TABLE jobs ADD COLUMN counters_json TEXT",
    ),
    (
        # The job row's revision: raised by one with every write of a column a Job shows
        # (lease renewals write none), under the row's lock, so it grows in commit order;
        # two reads of a job are ordered by what the row says, not by when each began
        # (WatchExport sends only what is newer than what a watcher was sent). Rows from
        # before start at 0.
        "ALTER TABLE jobs ADD COLUMN revision BIGINT NOT NULL DEFAULT 0",
        """
        CREATE FUNCTION sluice_jobs_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.revision := OLD.revision + 1;
            RETURN NEW;
        END
        $$
        """,
        """
        CREATE TRIGGER jobs_revision BEFORE UPDATE OF
            request_id, state, spec_json, created_at, updated_at, started_at, finished_at,
            manifest_uri, error_code, error_message, error_transient, records, chunks,
            stored_bytes, source_rows_done, source_rows_total, created_by, lease_owner,
            cancel_requested, counters_json
        ON jobs FOR EACH ROW EXECUTE FUNCTION sluice_jobs_revision()
        """,
    ),
    (
        # What a job's first run found of its source and chain (opaque JSON: source
        # files' identity, the pinned parent, the key pass's fingerprint), so a resumed
        # run can tell whether it continues the same export (server/execution/run_facts.py).
        """
        CREATE TABLE run_facts (
            job_id      TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
            facts_json  TEXT NOT NULL,
            updated_at  TIMESTAMPTZ NOT NULL
        )
        """,
    ),
    (
        # Request ids are per creator (server/jobs/request_keys.py): the unique column
        # holds `<created_by>\x1f<request_id>`, so one principal's id never finds or
        # blocks another's. What a Job shows does not change: no revision is raised.
        "ALTER TABLE jobs DISABLE TRIGGER jobs_revision",
        "UPDATE jobs SET request_id = created_by || chr(31) || request_id"
        " WHERE request_id IS NOT NULL",
        "ALTER TABLE jobs ENABLE TRIGGER jobs_revision",
    ),
    (
        # Where a chain's newest export is (newest_succeeded, before each increment):
        # the creator's exports of one dataset, newest first, found without reading
        # (and parsing the spec of) every export the creator ever made.
        f"CREATE INDEX jobs_by_creator_dataset ON jobs (created_by, {SPEC_DATASET},"
        " finished_at DESC, id DESC)",
    ),
    (
        # The time a delivery's attempts waited past their due times (for a free
        # notifier worker, or a notifier that was not running), summed over its attempts:
        # its retry window is longer by that much (server/notifications/notifier.py).
        "ALTER TABLE notifications ADD COLUMN late_seconds DOUBLE PRECISION NOT NULL DEFAULT 0",
    ),
)

SCHEMA_VERSION: Final = len(_STEPS)


def schema_status(conn: psycopg.Connection[Any], store: str) -> SchemaStatus:
    """The store's version, read without writing (no migrations table: version 0)."""
    # Plain tuples whatever row factory the connection was opened with.
    cursor = conn.cursor(row_factory=tuple_row)
    row = cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)).fetchone()
    found = 0
    if row is not None and row[0]:
        latest = cursor.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone()
        found = int(latest[0] or 0) if latest is not None else 0
    conn.rollback()
    return SchemaStatus(store, found, SCHEMA_VERSION)


def migrate(
    conn: psycopg.Connection[Any], store: str, *, upto: int = SCHEMA_VERSION
) -> SchemaStatus:
    """Bring the schema to version `upto` (tests stop early to make older stores), under
    the migration advisory lock; each step commits with its version row. Raises
    FailedPrecondition, writing nothing, for a store newer than this binary."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    conn.commit()
    try:
        # Read under the lock: a replica that started first may have migrated already.
        status = schema_status(conn, store)
        if status.newer:
            raise newer_store(status)
        if status.found >= upto:
            return status
        with conn.transaction():
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        for version in range(status.found + 1, upto + 1):
            with conn.transaction():
                for statement in _STEPS[version - 1]:
                    conn.execute(statement.encode())
                conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (%s)", (version,))
        return SchemaStatus(store, upto, SCHEMA_VERSION)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        conn.commit()
