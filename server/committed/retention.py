"""Retention: which exports of a dataset to keep (like restic's `forget`), and deleting
the others safely.

Safety rules:
- An export that a kept export builds on (its incremental parent chain) is kept too, so
  deleting never leaves a chain that cannot be replayed.
- The newest export of each creator (the one its next increment continues:
  catalog.latest_export) is always kept, whatever the policy: deleting it would start
  the next increment a new chain, which never tombstones rows deleted meanwhile.
- keep_within_days counts back from the newest export of its creator, not from now
  (restic's --keep-within counts from the latest snapshot): after a pause longer than
  the window, the chain as it was before the pause stays.
- Deletion removes the manifest first: from that moment the export is no longer
  committed, so an interrupted deletion never leaves something that looks complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sluice.format.layout import export_folder, manifest_key, signature_key
from sluice.server.committed.catalog import CommittedExport
from sluice.server.errors import InvalidArgument
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink

#: How an old chain is retired, for messages about exports kept or refused as parents.
RETIRE_A_CHAIN = (
    "start a new chain with a full export (`sluice export create ... --mode full`, "
    'Incremental.mode "full"); once the kept exports all belong to it, retention '
    "deletes the old chain"
)

#: Days keep_within_days may reach back: a hundred years.
MAX_KEEP_WITHIN_DAYS = 36_525


@dataclass(frozen=True)
class RetentionPolicy:
    #: Keep the newest N exports.
    keep_last: int = 0
    #: Keep the newest export of each of the last N days / ISO weeks / months that have one.
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    #: Keep everything finished within this many days of its creator's newest export.
    keep_within_days: int = 0

    def __post_init__(self) -> None:
        for name in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_within_days"):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"policy.{name}", "must not be negative")
        if self.keep_within_days > MAX_KEEP_WITHIN_DAYS:
            # Past this the horizon would fall before year 1 (and a century is "forever").
            raise InvalidArgument(
                "policy.keep_within_days", f"must be at most {MAX_KEEP_WITHIN_DAYS}"
            )
        if not any(
            (
                self.keep_last,
                self.keep_daily,
                self.keep_weekly,
                self.keep_monthly,
                self.keep_within_days,
            )
        ):
            # A policy that keeps nothing is far more likely a mistake than an intent.
            raise InvalidArgument("policy", "keeps nothing; give at least one keep rule")


@dataclass(frozen=True)
class RetentionPlan:
    keep: tuple[str, ...]
    delete: tuple[str, ...]
    #: Why each kept export is kept ("last", "daily", ..., "newest", "parent of X").
    reasons: tuple[tuple[str, str], ...]


def plan_retention(exports: Sequence[CommittedExport], policy: RetentionPolicy) -> RetentionPlan:
    """Decide, newest first, which exports the policy keeps; everything else goes."""
    newest_first = sorted(exports, key=lambda e: (e.finished_at, e.export_id), reverse=True)
    reasons: dict[str, str] = {}
    newest = _newest_of_each_creator(newest_first)
    for export in newest_first[: policy.keep_last]:
        reasons.setdefault(export.export_id, "last")
    buckets = (
        ("daily", policy.keep_daily, lambda t: t.strftime("%Y-%m-%d")),
        ("weekly", policy.keep_weekly, lambda t: f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}"),
        ("monthly", policy.keep_monthly, lambda t: t.strftime("%Y-%m")),
    )
    for name, count, period in buckets:
        seen: list[str] = []
        for export in newest_first:
            bucket = period(_time(export))
            if bucket not in seen and len(seen) < count:
                seen.append(bucket)
                reasons.setdefault(export.export_id, name)
    if policy.keep_within_days:
        window = timedelta(days=policy.keep_within_days)
        for export in newest_first:
            if _time(export) >= _time(newest[export.created_by]) - window:
                reasons.setdefault(export.export_id, "within")
    for export in newest.values():
        reasons.setdefault(export.export_id, "newest")
    _keep_parents(newest_first, reasons)
    keep = tuple(e.export_id for e in newest_first if e.export_id in reasons)
    delete = tuple(e.export_id for e in newest_first if e.export_id not in reasons)
    return RetentionPlan(keep, delete, tuple(sorted(reasons.items())))


def delete_export(sink: Sink, dataset: str, export_id: str) -> int:
    """Remove one export: manifest (and signature) first, then every other object (a
    local sink also removes the folder they leave empty). Returns how many objects were
    removed, the manifest and signature included. Safe to run again after an
    interruption."""
    folder = export_folder(dataset, export_id)
    prefix = folder + "/"
    first = [manifest_key(folder), signature_key(manifest_key(folder))]
    with storage_errors():
        stored = [info.key for info in sink.list(prefix)]
        for key in first:
            # Removed even when the listing missed it: the manifest must go first.
            sink.remove(key)
        for key in stored:
            if key not in first:
                sink.remove(key)
    return len(stored)


def _newest_of_each_creator(
    newest_first: Sequence[CommittedExport],
) -> dict[str, CommittedExport]:
    """Each creator's newest export: the parent its next increment would continue."""
    newest: dict[str, CommittedExport] = {}
    for export in newest_first:
        newest.setdefault(export.created_by, export)
    return newest


def _keep_parents(exports: Iterable[CommittedExport], reasons: dict[str, str]) -> None:
    by_id = {e.export_id: e for e in exports}
    for export_id in list(reasons):
        parent = by_id[export_id].parent_export_id
        child = export_id
        while parent and parent in by_id and parent not in reasons:
            reasons[parent] = f"parent of {child}"
            child, parent = parent, by_id[parent].parent_export_id


def _time(export: CommittedExport) -> datetime:
    return datetime.fromisoformat(export.finished_at)
