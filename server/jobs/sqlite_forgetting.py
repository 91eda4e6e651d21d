"""How the SQLite job store forgets a deleted export's values (JobStore.mark_deleted,
forget_deleted, erase_forgotten): the rows rewritten in the caller's transaction, then the
copies SQLite keeps beside them erased. Freed bytes are zeroed as they are freed
(`PRAGMA secure_delete`, set when the store opens); earlier versions of rewritten pages
stay in the WAL until it is emptied (empty_wal).
"""

from __future__ import annotations

import logging
import sqlite3

from sluice.server.jobs.rows import (
    FAIL_DELETED_DELIVERIES_SQL,
    FORGET_ATTEMPT_ERRORS_SQL,
    FORGET_CHUNK_VALUES_SQL,
    FORGET_DELIVERY_ERRORS_SQL,
    FORGET_LABEL_SQL,
    FORGET_REQUEST_SQL,
    FORGET_RUN_FACTS_SQL,
    FORGET_TARGET_SQL,
    UNFORGOTTEN_SQL,
    deleted_delivery_values,
    forgotten_error_values,
    forgotten_values,
    unforgotten_values,
)

_log = logging.getLogger(__name__)


def forget(db: sqlite3.Connection, job_id: str, spec_json: str) -> None:
    """Forget the values of job `job_id`, whose stored spec is `spec_json`, in `db`'s
    transaction (rows.FORGET_*)."""
    request, targets, labels = forgotten_values(job_id, spec_json)
    db.execute(FORGET_REQUEST_SQL, request)
    db.executemany(FORGET_TARGET_SQL, targets)
    db.executemany(FORGET_LABEL_SQL, labels)
    db.execute(FORGET_ATTEMPT_ERRORS_SQL, forgotten_error_values(job_id))
    db.execute(FORGET_DELIVERY_ERRORS_SQL, forgotten_error_values(job_id))
    db.execute(FAIL_DELETED_DELIVERIES_SQL, deleted_delivery_values(job_id))
    db.execute(FORGET_CHUNK_VALUES_SQL, (job_id,))
    db.execute(FORGET_RUN_FACTS_SQL, (job_id,))


def forget_unforgotten(db: sqlite3.Connection) -> int:
    """Forget the DELETED jobs with something not forgotten yet (rows.UNFORGOTTEN_SQL), in
    `db`'s transaction; how many."""
    rows = db.execute(UNFORGOTTEN_SQL, unforgotten_values()).fetchall()
    for job_id, spec_json in rows:
        forget(db, job_id, spec_json)
    return len(rows)


def empty_wal(db: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Copy the WAL into the database and empty it: its frames hold earlier versions of
    rewritten pages (a job's spec before forget masked it), and a WAL is reused from its
    start, not emptied, after an ordinary checkpoint. The caller holds the store's lock
    (`db` is its connection, outside any transaction).

    Best effort, after the write committed (so never its failure), and never waiting: a
    reader of the file in another process (a backup tool, an operator's sqlite3 shell)
    keeps the WAL from being emptied, and waiting busy_timeout for it would stall every
    caller of the store. The frames then stay until a later emptying (the next delete)
    or until SQLite reuses the WAL."""
    try:
        db.execute("PRAGMA busy_timeout = 0")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as exc:
        busy, reason = 1, str(exc)
    else:
        reason = "another process reads the file"
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if busy:
        _log.warning(
            "job store: the WAL could not be emptied now (%s); a deleted export's earlier"
            " values may stay in it until the next delete empties it",
            reason,
        )
