"""Record-level diff by merge-join of two stored key indexes (memory sink, real files)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import polars as pl
import pytest

from sluice.format.manifest import Manifest
from sluice.format.stored_objects import KeyIndexEntry
from sluice.server.committed.record_diff import (
    BATCH_CHANGES,
    IndexedExport,
    RecordChange,
    RecordDiffSummary,
    diff_records,
    record_level_note,
)
from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.keyindex.store import IndexWriter
from sluice.sinks import MemorySink


def _digest(value: str, size: int) -> bytes:
    return hashlib.sha256(value.encode()).digest()[:size]


def _index(sink: MemorySink, export_id: str, rows: dict[int, tuple[str, str]]) -> IndexedExport:
    """An index of keys -> (name, amount) values, digested like a real one."""
    frame = pl.DataFrame(
        {
            "key_digest": [_digest(f"k{k}", 16) for k in rows],
            "row_digest": [_digest(f"{a}|{b}", 16) for a, b in rows.values()],
            "column:name": [_digest(a, 8) for a, _ in rows.values()],
            "column:amount": [_digest(b, 8) for _, b in rows.values()],
            "sealed_key": [b"sealed"] * len(rows),
        },
        schema_overrides={"key_digest": pl.Binary},
    ).sort("key_digest")
    writer = IndexWriter(sink, f"ds/{export_id}/index.arrows", frame.schema)
    writer.write(frame)
    stored = writer.commit()
    manifest = Manifest(
        export_id=export_id,
        dataset="ds",
        key_index=KeyIndexEntry(stored.path, key=("id",), key_id="k1"),
    )
    return IndexedExport(sink, f"ds/{export_id}", manifest)


def test_merge_join_streams_every_change_in_digest_order_then_a_summary() -> None:
    sink = MemorySink("record-diff")
    before = {k: ("n", str(k)) for k in range(3_000)}
    after = dict(before)
    for k in range(0, 3_000, 2):  # 1,500 amounts change
        after[k] = ("n", "changed")
    after[1] = ("renamed", "1")
    for k in (3, 5, 7):
        del after[k]
    for k in range(5_000, 5_004):
        after[k] = ("n", "new")
    items = list(diff_records(_index(sink, "a", before), _index(sink, "b", after)))

    *batches, summary = items
    assert isinstance(summary, RecordDiffSummary)
    changes = [c for batch in batches for c in batch]  # type: ignore[union-attr]
    assert all(isinstance(c, RecordChange) for c in changes)
    assert max(len(b) for b in batches) <= BATCH_CHANGES  # type: ignore[arg-type]
    assert [c.key_digest for c in changes] == sorted(c.key_digest for c in changes)
    by_key = {c.key_digest: (c.change, c.columns) for c in changes}
    assert by_key[_digest("k1", 16).hex()] == ("changed", ("name",))
    assert by_key[_digest("k2", 16).hex()] == ("changed", ("amount",))
    assert by_key[_digest("k3", 16).hex()] == ("removed", ())
    assert by_key[_digest("k5000", 16).hex()] == ("added", ())
    assert (summary.added, summary.removed, summary.changed, summary.unchanged) == (
        4, 3, 1_501, 3_000 - 3 - 1_501
    )  # fmt: skip
    assert summary.changed_columns == {"amount": 1_500, "name": 1}


def test_record_diff_preconditions() -> None:
    sink = MemorySink("record-diff-bad")
    keyed = _index(sink, "a", {1: ("n", "1")})
    other = _index(sink, "b", {1: ("n", "1")})
    with pytest.raises(InvalidArgument):
        list(diff_records(keyed, keyed))
    plain = IndexedExport(sink, "ds/c", Manifest(export_id="c", dataset="ds"))
    with pytest.raises(FailedPrecondition, match="no key index in export"):
        list(diff_records(keyed, plain))
    assert other.manifest.key_index is not None
    index = replace(other.manifest.key_index, key_id="k2")
    other = replace(other, manifest=replace(other.manifest, key_index=index, created_by="alice"))
    note = record_level_note(keyed.manifest, other.manifest)
    assert "different index keys" in note
    # Since keys are per chain, a chain begun before the upgrade differs from a new one.
    assert "per creator and dataset" in note and "--mode full" in note
    # One creator's chain in one dataset: under v2 keys, then under v3 ones (a full
    # export after the upgrade), not the v1 daemon-wide case.
    one_chain = replace(other.manifest, created_by=keyed.manifest.created_by)
    same = record_level_note(keyed.manifest, one_chain)
    assert "begun under older keys, v1 or v2" in same and "run a --mode full to compare" in same
    assert "per creator and dataset" not in same
    index = replace(index, key=("other",))
    other = replace(other, manifest=replace(other.manifest, key_index=index))
    assert "different columns" in record_level_note(keyed.manifest, other.manifest)
