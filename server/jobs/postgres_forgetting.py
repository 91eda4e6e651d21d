"""How the PostgreSQL job store forgets a deleted export's values (JobStore.mark_deleted,
forget_deleted): the rows rewritten in the caller's transaction (rows.FORGET_*). Dead
tuples and WAL are the server's to reclaim (README). The SQLite store's counterpart is
sqlite_forgetting.py.
"""

from __future__ import annotations

from typing import Any

import psycopg

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

Conn = psycopg.Connection[dict[str, Any]]


def forget(db: Conn, job_id: str, spec_json: str) -> None:
    """Forget the values of job `job_id`, whose stored spec is `spec_json`, in `db`'s
    transaction (rows.FORGET_*). The caller holds the job row's lock."""
    request, targets, labels = forgotten_values(job_id, spec_json)
    db.execute(_sql(FORGET_REQUEST_SQL), request)
    db.cursor().executemany(_sql(FORGET_TARGET_SQL), targets)
    db.cursor().executemany(_sql(FORGET_LABEL_SQL), labels)
    errors = forgotten_error_values(job_id)
    db.execute(_sql(FORGET_ATTEMPT_ERRORS_SQL), errors)
    db.execute(_sql(FORGET_DELIVERY_ERRORS_SQL), errors)
    db.execute(_sql(FAIL_DELETED_DELIVERIES_SQL), deleted_delivery_values(job_id))
    db.execute(_sql(FORGET_CHUNK_VALUES_SQL), (job_id,))
    db.execute(_sql(FORGET_RUN_FACTS_SQL), (job_id,))


def forget_unforgotten(db: Conn) -> int:
    """Forget the DELETED jobs with something not forgotten yet (rows.UNFORGOTTEN_SQL), in
    `db`'s transaction; how many. Replicas starting together each take the rows no other
    one holds."""
    rows = db.execute(
        f"{UNFORGOTTEN_SQL.replace('?', '%s')} FOR UPDATE SKIP LOCKED".encode(),
        unforgotten_values(),
    ).fetchall()
    for row in rows:
        forget(db, row["id"], row["spec_json"])
    return len(rows)


def lock_delivery_job(db: Conn, delivery_id: str) -> None:
    """Wait for a delete of the delivery's job in flight, and hold one off until `db`'s
    transaction ends: a notification attempt's UPDATE (rows.RECORD_ATTEMPT_SQL) reads the
    job's state in the snapshot of its statement, so one started while mark_deleted held
    the job and the delivery rows would, once the delete committed, still see the job
    not deleted and write its error in clear. After this share lock the UPDATE's own
    snapshot (READ COMMITTED: one per statement) sees the delete."""
    db.execute(
        "SELECT 1 FROM jobs j JOIN notifications n ON n.job_id = j.id"
        " WHERE n.delivery_id = %s FOR SHARE OF j",
        (delivery_id,),
    )


def _sql(statement: str) -> bytes:
    return statement.replace("?", "%s").encode()
