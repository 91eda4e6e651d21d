"""The export manifest (format v1): plain JSON, written last, never overwritten.
Its presence is what commits an export; see ARCHITECTURE.md for the contract."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sluice.server.errors import DataLoss
from sluice.server.execution.key_changes import KeyedChanges, index_entry
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.pipeline.cursor_values import CursorValue, later
from sluice.server.pipeline.encoders import arrow_schema
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.watermarks import Watermark
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink
from sluice.sinks.errors import ObjectExists

FORMAT_VERSION = 1


def build_manifest(
    plan: ExportPlan,
    chunks: Sequence[ChunkRecord],
    *,
    created_at: datetime,
    finished_at: datetime,
    digest_key_id: str,
    keyed: KeyedChanges | None = None,
    skipped_rows: int | None = None,
) -> dict[str, Any]:
    """The manifest of an export of `chunks`. `skipped_rows` counts the source rows left
    out as unparseable (None: those the chunks counted)."""
    spec = plan.spec
    if skipped_rows is None:
        skipped_rows = sum(dict(c.counters).get(SKIPPED_ROWS, 0) for c in chunks)
    query = spec.query
    increment = plan.increment
    return {
        "format_version": FORMAT_VERSION,
        "export_id": plan.export_id,
        "dataset": spec.destination.dataset,
        "parent_export_id": increment.parent_export_id,
        "created_at": created_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "source": {
            **plan.source.describe(),
            "on_bad_rows": plan.source.on_bad_rows,
            "skipped_rows": skipped_rows,
            **({"schema": dict(plan.source.column_types)} if plan.source.column_types else {}),
        },
        "query": {
            "columns": list(plan.query.columns),
            "where": query.where or None,
            "time_range": None
            if query.time_range is None
            else {
                "column": query.time_range.column,
                "since": _iso(query.time_range.since),
                "until": _iso(query.time_range.until),
            },
            "ids": {"column": query.id_column, "count": len(query.ids)} if query.ids else None,
        },
        "output": {
            "format": plan.encoder.name,
            "compression": plan.compressor.name,
            "level": plan.level if plan.compressor.name != "none" else None,
            "compression_applied": "internal" if plan.encoder.internal_compression else "stream",
            "encryption": plan.cipher.description,
        },
        "schema": _schema_fields(plan),
        "totals": {
            "records": sum(c.records for c in chunks),
            "chunks": len(chunks),
            "stored_bytes": sum(c.stored_bytes for c in chunks),
        },
        "watermark": next_watermark(plan, chunks),
        "incremental": {
            "mode": increment.mode,
            "cursor": increment.cursor or None,
            "since": increment.since.to_json() if increment.since else None,
            "lookback_seconds": spec.incremental.lookback_seconds,
            "key": list(increment.key) or None,
            "changes": keyed.counts.to_json() if keyed else None,
        },
        "redaction": {**plan.redactor.describe(), "counts": _redaction_counts(chunks)},
        "content_digest": {"algorithm": "hmac-sha256", "key_id": digest_key_id},
        "labels": dict(spec.labels),
        "key_index": index_entry(keyed, plan) if keyed else None,
        "tombstones": keyed.tombstones.to_json(increment.key)
        if keyed and keyed.tombstones
        else None,
        "chunks": [
            {
                "index": c.index,
                "path": c.path,
                "records": c.records,
                "stored_bytes": c.stored_bytes,
                "sha256": c.sha256,
                "content_digest": c.content_digest,
                "source_range": {"start_row": c.source_start, "end_row": c.source_end},
            }
            for c in chunks
        ],
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The exact bytes stored as manifest.json (and covered by manifest.json.sig)."""
    return json.dumps(manifest, indent=2, sort_keys=False).encode() + b"\n"


def write_manifest(sink: Sink, key: str, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically and only once. Finding one already there is fine
    when it commits the same chunks (a retry after a crash); otherwise it is data loss."""
    body = encode_manifest(manifest)
    with storage_errors():
        writer = sink.create(key, overwrite=False)
        try:
            writer.write(body)
            writer.commit()
            return
        except ObjectExists:
            writer.abort()
        with sink.open(key) as handle:
            existing = json.load(handle)
    if _chunk_digests(existing) != _chunk_digests(manifest):
        raise DataLoss(f"a different manifest already commits {key}")


def _chunk_digests(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["path"], c["sha256"]) for c in manifest.get("chunks", [])]


def _schema_fields(plan: ExportPlan) -> list[dict[str, Any]]:
    schema = arrow_schema(plan.schema)
    return [
        {"name": field.name, "type": str(field.type), "nullable": field.nullable}
        for field in schema
    ]


def next_watermark(plan: ExportPlan, chunks: Sequence[ChunkRecord]) -> dict[str, Any] | None:
    """The largest cursor among the exported rows; with no new rows, the parent's."""
    if not plan.cursor:
        return None
    dtype = plan.source_schema[plan.cursor]
    value: CursorValue = None
    for chunk in chunks:
        value = later(value, chunk.cursor_max, dtype)
    since = plan.increment.since
    if value is None and since is not None:
        value = later(value, since.value, dtype)
    return Watermark(plan.cursor, value, str(dtype)).to_json()


def _redaction_counts(chunks: Sequence[ChunkRecord]) -> dict[str, dict[str, int]]:
    """Counters "rule/column" summed over chunks, as {rule: {column: count}}."""
    counts: dict[str, dict[str, int]] = {}
    for chunk in chunks:
        for key, value in chunk.counters:
            if key == SKIPPED_ROWS:
                continue  # the source's, in source.skipped_rows
            rule, _, column = key.partition("/")
            per_rule = counts.setdefault(rule, {})
            per_rule[column] = per_rule.get(column, 0) + value
    return counts


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
