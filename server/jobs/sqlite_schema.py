"""The SQLite job store's schema (server/jobs/sqlite.py): ordered migrations, recorded in
`PRAGMA user_version`. The tables hold the same data as the PostgreSQL store's
(server/jobs/postgres_schema.py).
"""

from __future__ import annotations

from typing import Final

#: The dataset of a job's destination, as indexed (jobs_by_creator_dataset) and as the
#: store's queries must spell it for SQLite to use that index.
SPEC_DATASET: Final = "json_extract(spec_json, '$.destination.dataset')"

# Each entry migrates the schema from version i to i + 1; PRAGMA user_version records how
# far a database has come. Append only: a released migration is never edited.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE jobs (
            id                  TEXT PRIMARY KEY,
            request_id          TEXT UNIQUE,
            request_fingerprint TEXT NOT NULL,
            state               TEXT NOT NULL,
            spec_json           TEXT NOT NULL,
            created_at          TEXT NOT NULL,
            updated_at          TEXT NOT NULL,
            started_at          TEXT,
            finished_at         TEXT,
            manifest_uri        TEXT NOT NULL DEFAULT '',
            error_code          TEXT,
            error_message       TEXT,
            error_transient     INTEGER,
            records             INTEGER NOT NULL DEFAULT 0,
            chunks              INTEGER NOT NULL DEFAULT 0,
            stored_bytes        INTEGER NOT NULL DEFAULT 0,
            source_rows_done    INTEGER NOT NULL DEFAULT 0,
            source_rows_total   INTEGER NOT NULL DEFAULT 0
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
            job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            idx            INTEGER NOT NULL,
            path           TEXT NOT NULL,
            records        INTEGER NOT NULL,
            stored_bytes   INTEGER NOT NULL,
            sha256         TEXT NOT NULL,
            content_digest TEXT NOT NULL,
            source_start   INTEGER NOT NULL,
            source_end     INTEGER NOT NULL,
            committed_at   TEXT NOT NULL,
            PRIMARY KEY (job_id, idx)
        )
        """,
    ),
    (
        # v2: per-chunk stage counters (redaction), and resumable uploads in flight.
        "ALTER TABLE chunks ADD COLUMN counters_json TEXT NOT NULL DEFAULT '[]'",
        """
        CREATE TABLE uploads (
            job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            key        TEXT NOT NULL,
            state_json TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (job_id, key)
        )
        """,
    ),
    (
        # v3: the largest incremental cursor per chunk, so a resumed export's watermark
        # covers the chunks written before the interruption.
        "ALTER TABLE chunks ADD COLUMN cursor_max_json TEXT NOT NULL DEFAULT 'null'",
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
            paused            INTEGER NOT NULL,
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            next_tick         TEXT,
            last_tick         TEXT,
            last_export_id    TEXT NOT NULL DEFAULT '',
            skipped_ticks     INTEGER NOT NULL DEFAULT 0,
            last_skipped_tick TEXT,
            last_error        TEXT NOT NULL DEFAULT ''
        )
        """,
    ),
    (
        # Export-end notifications: one row per notify target, made with the job, and
        # updated after every delivery attempt (so a restart continues pending ones).
        """
        CREATE TABLE notifications (
            job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            idx             INTEGER NOT NULL,
            target          TEXT NOT NULL,
            delivery_id     TEXT NOT NULL UNIQUE,
            state           TEXT NOT NULL DEFAULT 'pending',
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT NOT NULL DEFAULT '',
            last_attempt_at TEXT,
            next_attempt_at TEXT,
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
        # Leases. A running job is held by one replica (lease_owner) until
        # lease_expires_at; lease_token grows with every claim and fences every journal
        # write. Chunks record the lease they were journalled under. A cancel of a job
        # running elsewhere is a request its runner honours.
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT",
        "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE chunks ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE chunks ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0",
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
        "ALTER TABLE jobs ADD COLUMN not_before TEXT",
        """
        CREATE TABLE attempts (
            job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            number          INTEGER NOT NULL,
            replica         TEXT NOT NULL,
            lease_token     INTEGER NOT NULL,
            started_at      TEXT NOT NULL,
            ended_at        TEXT,
            outcome         TEXT NOT NULL,
            error_code      TEXT,
            error_message   TEXT,
            error_transient INTEGER,
            retry_at        TEXT,
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
        # The job row's revision: raised by one in the transaction of every write of a
        # column a Job shows (lease renewals write none), so two reads of a job are
        # ordered by what the row says, not by when each read began (WatchExport sends
        # only what is newer than what a watcher was sent). Rows from before start at 0.
        "ALTER TABLE jobs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TRIGGER jobs_revision AFTER UPDATE OF
            request_id, state, spec_json, created_at, updated_at, started_at, finished_at,
            manifest_uri, error_code, error_message, error_transient, records, chunks,
            stored_bytes, source_rows_done, source_rows_total, created_by, lease_owner,
            cancel_requested, counters_json
        ON jobs FOR EACH ROW
        BEGIN
            UPDATE jobs SET revision = OLD.revision + 1 WHERE id = NEW.id;
        END
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
            updated_at  TEXT NOT NULL
        )
        """,
    ),
    (
        # Request ids are per creator (server/jobs/request_keys.py): the unique column
        # holds `<created_by>\x1f<request_id>`, so one principal's id never finds or
        # blocks another's. What a Job shows does not change: the revision trigger is
        # set aside meanwhile (put back as it was).
        "DROP TRIGGER jobs_revision",
        "UPDATE jobs SET request_id = created_by || char(31) || request_id"
        " WHERE request_id IS NOT NULL",
        """
        CREATE TRIGGER jobs_revision AFTER UPDATE OF
            request_id, state, spec_json, created_at, updated_at, started_at, finished_at,
            manifest_uri, error_code, error_message, error_transient, records, chunks,
            stored_bytes, source_rows_done, source_rows_total, created_by, lease_owner,
            cancel_requested, counters_json
        ON jobs FOR EACH ROW
        BEGIN
            UPDATE jobs SET revision = OLD.revision + 1 WHERE id = NEW.id;
        END
        """,
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
        "ALTER TABLE notifications ADD COLUMN late_seconds REAL NOT NULL DEFAULT 0",
    ),
)

SCHEMA_VERSION: Final = len(MIGRATIONS)
