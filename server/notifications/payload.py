"""The JSON body of an export-end webhook: what happened, never data or secrets (no
source URI, query, redaction keys or encryption references)."""

from __future__ import annotations

import json
from datetime import datetime

from sluice.server.jobs.model import Job, NotificationDelivery


def webhook_body(job: Job, delivery: NotificationDelivery) -> bytes:
    """Compact, key-sorted JSON; the same job state gives the same bytes."""
    body = {
        "type": f"export.{job.state.value}",
        "delivery_id": delivery.delivery_id,
        "export_id": job.id,
        "request_id": job.request_id,
        # Who made the export ("" for the server's own: a schedule's, or a daemon
        # without principals): a receiver shared by several principals tells them apart.
        "created_by": job.created_by,
        "dataset": job.spec.destination.dataset,
        "state": job.state.value,
        "labels": dict(job.spec.labels),
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "totals": {
            "records": job.progress.records,
            "chunks": job.progress.chunks,
            "stored_bytes": job.progress.stored_bytes,
        },
        "manifest_uri": job.manifest_uri,
        "error": None
        if job.error is None
        else {"code": job.error.code, "message": job.error.message},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
