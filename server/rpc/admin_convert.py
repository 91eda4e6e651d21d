"""Wire messages of the export-administration RPCs (verify, diff, delete, retention)."""

from __future__ import annotations

import json

from sluice.server.committed.catalog import CommittedExport
from sluice.server.committed.chunk_diff import ChunkDiff, ChunkRef
from sluice.server.committed.record_diff import RecordChange, RecordDiffSummary
from sluice.server.committed.retention import RetentionPlan, RetentionPolicy
from sluice.server.committed.verify import VerifyReport
from sluice.v1 import export_pb2 as pb


def verify_to_proto(report: VerifyReport) -> pb.VerifyExportResponse:
    return pb.VerifyExportResponse(
        export_id=report.export_id,
        ok=report.ok,
        chunks_checked=report.chunks_checked,
        bytes_checked=report.bytes_checked,
        missing=report.missing,
        corrupt=[
            pb.CorruptChunk(path=c.path, mismatch=c.mismatch, expected=c.expected, actual=c.actual)
            for c in report.corrupt
        ],
        extra=report.extra,
        temporaries=report.temporaries,
        unsigned=report.unsigned,
    )


def diff_to_proto(diff: ChunkDiff, record_level_note: str) -> pb.DiffExportsResponse:
    return pb.DiffExportsResponse(
        base_export_id=diff.base_export_id,
        other_export_id=diff.other_export_id,
        matched_by=diff.matched_by,
        added=[_chunk(c) for c in diff.added],
        removed=[_chunk(c) for c in diff.removed],
        unchanged=diff.unchanged,
        added_bytes=diff.added_bytes,
        removed_bytes=diff.removed_bytes,
        record_level=not record_level_note,
        record_level_note=record_level_note,
    )


def record_diff_to_proto(item: list[RecordChange] | RecordDiffSummary) -> pb.RecordDiffEvent:
    if isinstance(item, RecordDiffSummary):
        return pb.RecordDiffEvent(
            summary=pb.RecordDiffSummary(
                base_export_id=item.base_export_id,
                other_export_id=item.other_export_id,
                added=item.added,
                removed=item.removed,
                changed=item.changed,
                unchanged=item.unchanged,
                changed_columns=item.changed_columns,
            )
        )
    changes = [
        pb.RecordChange(change=c.change, key_digest=c.key_digest, columns=c.columns) for c in item
    ]
    return pb.RecordDiffEvent(changes=pb.RecordChanges(changes=changes))


def policy_from_proto(message: pb.RetentionPolicy) -> RetentionPolicy:
    return RetentionPolicy(
        keep_last=message.keep_last,
        keep_daily=message.keep_daily,
        keep_weekly=message.keep_weekly,
        keep_monthly=message.keep_monthly,
        keep_within_days=message.keep_within_days,
    )


def retention_to_proto(plan: RetentionPlan) -> pb.ApplyRetentionResponse:
    return pb.ApplyRetentionResponse(
        kept=plan.keep, deleted=plan.delete, reasons=dict(plan.reasons)
    )


def dataset_exports_to_proto(exports: list[CommittedExport]) -> pb.ListDatasetExportsResponse:
    return pb.ListDatasetExportsResponse(
        exports=[
            pb.DatasetExport(
                export_id=e.export_id,
                parent_export_id=e.parent_export_id or "",
                manifest_key=e.manifest_key,
                created_at=e.created_at,
                finished_at=e.finished_at,
                records=e.records,
                chunks=e.chunks,
                stored_bytes=e.stored_bytes,
                watermark_json=json.dumps(e.watermark.to_json() if e.watermark else None),
            )
            for e in exports
        ]
    )


def _chunk(ref: ChunkRef) -> pb.DiffChunk:
    return pb.DiffChunk(path=ref.path, records=ref.records, stored_bytes=ref.stored_bytes)
