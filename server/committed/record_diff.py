"""Record-level diff of two keyed exports, from their key indexes alone: both are sorted
by key digest, so they are read side by side one digest range at a time (bounded memory
whatever their size) and joined per range. Keys are named by digest; no value is read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import polars as pl

from sluice.format.manifest import Manifest
from sluice.server.committed.chunk_diff import check_same_dataset
from sluice.server.errors import FailedPrecondition
from sluice.server.keyindex.compare import (
    ADDED,
    CHANGE,
    CHANGED,
    CHANGED_COLUMNS,
    REMOVED,
    UNCHANGED,
    compare_range,
    with_changed_columns,
)
from sluice.server.keyindex.digests import KEY_DIGEST
from sluice.server.keyindex.sorter import RANGES, range_upper
from sluice.server.keyindex.store import open_index
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, join_key

#: Changes per streamed batch.
BATCH_CHANGES = 1_000


@dataclass(frozen=True)
class IndexedExport:
    """Where a committed export and its manifest are."""

    sink: Sink
    folder: str
    manifest: Manifest


@dataclass(frozen=True)
class RecordChange:
    change: str
    key_digest: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordDiffSummary:
    base_export_id: str
    other_export_id: str
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    changed_columns: dict[str, int] = field(default_factory=dict)


def record_level_note(base: Manifest, other: Manifest) -> str:
    """Why two manifests cannot be compared record by record ("" when they can)."""
    base_index, other_index = base.key_index, other.key_index
    missing = [m.export_id for m in (base, other) if m.key_index is None]
    if missing or base_index is None or other_index is None:
        return f"no key index in export(s) {', '.join(missing)} (exported without --key)"
    if base_index.key != other_index.key:
        return "the exports are keyed by different columns"
    if base_index.key_id != other_index.key_id:
        if (base.created_by, base.dataset) == (other.created_by, other.dataset):
            return (
                "the key indexes were made under different index keys (one creator's "
                "chain in one dataset: one chain was begun under older keys, v1 or v2, "
                "which it keeps until its next --mode full export, or the server's index "
                "key changed; run a --mode full to compare)"
            )
        return (
            "the key indexes were made under different index keys (index keys are per "
            "creator and dataset; a chain begun before they were, under the daemon-wide "
            "v1 keys, keeps those until its next --mode full export, and the server's "
            "index key may have changed)"
        )
    return ""


def diff_records(
    base: IndexedExport, other: IndexedExport
) -> Iterator[list[RecordChange] | RecordDiffSummary]:
    """Batches of changes in key-digest order, then the summary."""
    check_same_dataset(base.manifest, other.manifest)
    note = record_level_note(base.manifest, other.manifest)
    if note:
        raise FailedPrecondition(f"no record-level diff: {note}")
    counts: Counter[str] = Counter()
    columns: Counter[str] = Counter()
    with ExitStack() as stack:
        cursors = []
        for export in (base, other):
            assert export.manifest.key_index is not None  # record_level_note said so
            key = join_key(export.folder, export.manifest.key_index.path)
            with storage_errors():
                handle = stack.enter_context(export.sink.open(key))
            cursors.append(open_index(handle))
        for number in range(RANGES):
            upper = range_upper(number)
            joined = compare_range(cursors[0].take_below(upper), cursors[1].take_below(upper))
            counts.update(dict(joined.get_column(CHANGE).value_counts().iter_rows()))
            changes = with_changed_columns(
                joined.filter(pl.col(CHANGE) != UNCHANGED).sort(KEY_DIGEST)
            )
            columns.update(changes.get_column(CHANGED_COLUMNS).explode().drop_nulls().to_list())
            yield from _batches(changes)
    yield RecordDiffSummary(
        base_export_id=base.manifest.export_id,
        other_export_id=other.manifest.export_id,
        added=counts[ADDED],
        removed=counts[REMOVED],
        changed=counts[CHANGED],
        unchanged=counts[UNCHANGED],
        changed_columns=dict(sorted(columns.items())),
    )


def _batches(changes: pl.DataFrame) -> Iterator[list[RecordChange]]:
    rows = changes.select(CHANGE, pl.col(KEY_DIGEST).bin.encode("hex"), CHANGED_COLUMNS).iter_rows()
    batch: list[RecordChange] = []
    for change, digest, changed in rows:
        batch.append(RecordChange(change, digest, tuple(changed)))
        if len(batch) == BATCH_CHANGES:
            yield batch
            batch = []
    if batch:
        yield batch
