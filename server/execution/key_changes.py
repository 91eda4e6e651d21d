"""The first pass of a keyed export: digest every selected row, sort the digests by key
(bounded memory), compare them range by range with the parent's key index, and store the
new index and, for key-only increments, the tombstones of deleted rows. What it returns
selects the rows the export pass sends: inserted and changed ones.

Runs before the export pass and again on a resume: it is deterministic for an unchanged
source, and its fingerprint (the digests and positions of every row it saw) is journalled
at the first attempt (server/execution/run_facts.py), so a resume over a changed source
fails instead of sending rows chosen, and indexed, from two different sources.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import polars as pl
import pyarrow as pa

from sluice.format.layout import INDEX_NAME
from sluice.format.manifest import ChangeCounts
from sluice.format.stored_objects import KEY_INDEX_DIGEST_ALGORITHM, KeyIndexEntry
from sluice.server.errors import FailedPrecondition, Interrupted
from sluice.server.execution.run_facts import RunFacts
from sluice.server.execution.tombstones import StoredTombstones, TombstoneWriter
from sluice.server.keyindex.compare import ADDED, BASE, CHANGE, CHANGED, REMOVED, compare_range
from sluice.server.keyindex.digests import (
    KEY_DIGEST,
    KEY_JSON,
    KEY_REDACTED,
    ROW_DIGEST,
    SEALED_KEY,
    IndexKeys,
    RowDigester,
    key_struct_type,
)
from sluice.server.keyindex.seal import KeySealer
from sluice.server.keyindex.sorter import RangeSorter, range_upper
from sluice.server.keyindex.store import (
    INDEX_FORMAT,
    CheckedIndexRead,
    IndexWriter,
    StoredIndex,
    open_index,
)
from sluice.server.keyindex.tombstone_guard import TombstoneGuard
from sluice.server.pipeline.export import query_batches
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.row_selection import RowSelection
from sluice.server.pipeline.rows_without_cursor import RowsWithoutCursorTally
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.server.planning.key_types import (
    deletions_need_guard,
    key_type_text,
    recorded_key_types,
)
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.redaction_plan import resolve_hash_key
from sluice.server.settings import Settings
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, join_key

#: Digest batches held before they are spilled to the range files, in pipeline batches.
_SPILL_BATCHES = 4


@dataclass(frozen=True)
class KeyedChanges:
    index: StoredIndex
    key_id: str
    counts: ChangeCounts
    #: Rows the export pass sends; None sends every selected row (no parent index).
    selection: RowSelection | None
    tombstones: StoredTombstones | None
    #: Rows the query selects whose cursor no increment can send (rows_without_cursor):
    #: counted here, as the export pass reads only the selection's rows.
    rows_without_cursor: int = 0
    #: Digest of the key and row digests and positions of every row the pass saw, in
    #: index order: equal on a resume exactly when the pass saw the same rows at the same
    #: positions.
    fingerprint: str = ""
    #: Deletions no tombstone was written for, their key being one the export sends
    #: (TombstoneGuard): 0 unless a key changed its type under an unchecked chain.
    tombstones_left_out: int = 0


def index_base_key(settings: Settings, content_key: bytes) -> bytes:
    """The server's key for key indexes: a named hash key, or the content digest key."""
    name = settings.key_index_key
    if not name:
        return content_key
    return resolve_hash_key(settings.hash_keys, name, "key_index_key").secret


def chain_index_keys(
    plan: ExportPlan, base_key: bytes, created_by: str, *, pinned: RunFacts | None = None
) -> IndexKeys:
    """The keys of the index an export of `created_by` writes: its chain's own, of the
    current version (v3). A chain whose parent index was made under the keys of an
    earlier version (v2: the chain's own, joining key values unescaped; v1: the
    daemon-wide keys) continues under them, as its digests compare only under the keys
    and the digest form they were made with (new ones would make every row "changed"
    and every parent key a tombstone); a new full export starts a chain under the
    current keys, unless it resumes a first run that took its key pass under an
    earlier version's (`pinned`, its run facts: the resumed pass's fingerprint must be
    taken under the same keys, or the resume would be refused as a changed source).
    Any other key id is refused: the server's index key changed since the parent."""
    dataset = plan.spec.destination.dataset
    keys = IndexKeys.for_chain(base_key, created_by, dataset)
    earlier = [IndexKeys.for_chain(base_key, created_by, dataset, "v2"), IndexKeys.derive(base_key)]
    parent_index = plan.increment.parent_index
    if parent_index is None:
        version = pinned.key_pass_version if pinned is not None else ""
        return next((k for k in earlier if k.version == version), keys)
    for candidate in (keys, *earlier):
        if parent_index.key_id == candidate.key_id:
            return candidate
    raise FailedPrecondition(
        f"the parent export {plan.increment.parent_export_id}'s key index was made under "
        f"key id {parent_index.key_id or None}, not under this server's index key; "
        "configure the same key_index_key (or content_digest_key), or start a new chain "
        "with a full export"
    )


def detect_changes(
    plan: ExportPlan,
    sink: Sink,
    keys: IndexKeys,
    *,
    content_key: bytes,
    workers: int,
    batch_rows: int,
    spill_root: Path,
    stop: threading.Event,
    before_commit: Callable[[], object] = lambda: None,
    check_fingerprint: Callable[[str], object] = lambda _: None,
) -> KeyedChanges:
    """The keyed first pass: the new key index, tombstones (in the chunks' format, keyed
    by `content_key`, compressed on `workers`), and the rows the export pass sends.
    `before_commit` is called before the index and the tombstones are stored (they
    replace what is under their names): it raises when the run may no longer write (a
    lost lease), as a chunk's commit does; `check_fingerprint` is given the pass's
    fingerprint before either is stored: it raises when the run does not continue the
    export its first run began (run_facts), so a refused resume replaces nothing.
    `keys` are the chain's (chain_index_keys)."""
    key = plan.increment.key
    digester = RowDigester(keys, key, plan.schema.names())
    spill_root.mkdir(parents=True, exist_ok=True)
    for stale in spill_root.glob(f"{plan.export_id}-*"):  # left by a crash of this export
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{plan.export_id}-", dir=spill_root) as folder:
        query = replace(plan.query, key=key, resume_key=())
        empty = plan.redactor.apply(query.apply(pl.LazyFrame(schema=plan.source_schema)))
        sorter = RangeSorter(
            Path(folder), batch_rows * _SPILL_BATCHES, digester.digests(empty.collect()).schema
        )
        # Read as the export pass reads: on its own thread, its statement cancelled once
        # stopped (a statement that has not returned a row yet would hold the stop).
        cancels = StatementCancels()
        without_cursor = RowsWithoutCursorTally()
        batches = query_batches(
            plan.pipeline,
            0,
            batch_rows,
            query=query,
            without_cursor=without_cursor,
            cancels=cancels,
        )
        with prefetched(
            batches, 2, f"keys-{plan.export_id}", stop=stop, interrupt=cancels.cancel_all
        ) as frames:
            for frame in frames:
                if stop.is_set():
                    raise Interrupted("export interrupted while indexing keys")
                sorter.add(digester.digests(frame))
        tombstones = TombstoneWriter(plan, sink, content_key, workers)
        parent_index = plan.increment.parent_index
        guard = TombstoneGuard(
            Path(folder) / "guard",
            batch_rows * _SPILL_BATCHES,
            key_struct_type(key, plan.schema),
            parent=plan.increment.parent_export_id or "",
            parent_types=dict(parent_index.key_types) if parent_index is not None else {},
            types={c: key_type_text(plan.schema[c]) for c in key},
            needed=deletions_need_guard(
                plan.increment, plan.source_schema, plan.schema, plan.redactor
            ),
            parent_rows=parent_index.rows if parent_index is not None else -1,
        )
        changes = _Comparison(
            plan, sink, keys, _Deletions(guard, tombstones), before_commit, check_fingerprint
        ).run(sorter)
        return replace(changes, rows_without_cursor=without_cursor.take_rest())


@dataclass(frozen=True)
class _Deletions:
    """Where a key-only increment's deletions go: through the guard, which leaves out
    any whose key the export sends, into the tombstone file."""

    guard: TombstoneGuard
    tombstones: TombstoneWriter

    def write(self, held: Iterable[pl.Series]) -> int:
        """Write the deletions the guard keeps (`held`: the export's key JSON, read
        only when there are deletions); how many it left out."""
        for keys in self.guard.kept(held):
            self.tombstones.add(keys)
        return self.guard.left_out


class _Comparison:
    """Walks the digest ranges of this export and its parent's index side by side,
    writing the new index and the tombstones: both are committed, or both discarded."""

    def __init__(
        self,
        plan: ExportPlan,
        sink: Sink,
        keys: IndexKeys,
        deletions: _Deletions,
        before_commit: Callable[[], object],
        check_fingerprint: Callable[[str], object],
    ) -> None:
        self._before_commit = before_commit
        self._check_fingerprint = check_fingerprint
        self._plan = plan
        self._sink = sink
        self._keys = keys
        self._sealer = KeySealer(keys.seal)
        self._deletions = deletions
        self._tombstones = deletions.tombstones
        self._positions: list[pl.Series] = []
        self._counts = ChangeCounts()

    def run(self, sorter: RangeSorter) -> KeyedChanges:
        parent = self._plan.increment.parent_index
        with storage_errors():
            handle = (
                self._sink.open(join_key(self._plan.increment.parent_folder, parent.path))
                if parent is not None
                else None
            )
        checked = CheckedIndexRead(handle) if handle is not None else None
        seen = hashlib.sha256()
        try:
            index = IndexWriter(
                self._sink, join_key(self._plan.prefix, INDEX_NAME), _index_schema(sorter.schema)
            )
            try:
                cursor = open_index(checked) if checked is not None else None
                # Deletions are checked against the export's keys once all are known,
                # read back from the spill files then (only when there are some).
                for number, current in sorter.ranges(keep=self._plan.increment.by_key):
                    self._check_unique(current)
                    _fingerprint(seen, current)
                    earlier = cursor.take_below(range_upper(number)) if cursor else None
                    index.write(self._range(current, earlier))
                if checked is not None and parent is not None:
                    # Before anything made from the parent's index is committed.
                    checked.check(
                        parent, f"the parent export {self._plan.increment.parent_export_id}"
                    )
                left_out = self._deletions.write(sorter.reread(KEY_JSON))
                self._count(deleted=-left_out)
                self._check_fingerprint(seen.hexdigest())
                self._before_commit()
                stored = index.commit()
                self._before_commit()
                tombstones = self._tombstones.commit()
            except BaseException:
                index.abort()
                self._tombstones.abort()
                raise
        finally:
            if handle is not None:
                handle.close()
        selection = None
        if parent is not None:
            selection = RowSelection(
                pl.concat(self._positions) if self._positions else pl.Series([], dtype=pl.Int64)
            )
        return KeyedChanges(
            stored,
            self._keys.key_id,
            self._counts,
            selection,
            tombstones,
            fingerprint=seen.hexdigest(),
            tombstones_left_out=left_out,
        )

    def _range(self, current: pl.DataFrame, earlier: pl.DataFrame | None) -> pl.DataFrame:
        """The index rows of one digest range, counting and routing its changes."""
        if earlier is None or earlier.is_empty():
            self._count(inserted=current.height)
            if self._plan.increment.parent_index is not None:  # else every row is sent
                self._positions.append(current.get_column(ROW_INDEX).cast(pl.Int64))
            sealed = pl.Series(self._sealer.seal(current[KEY_JSON]), dtype=pl.Binary)
            return _stored_rows(current, sealed)
        joined = compare_range(earlier, current)
        changes = joined.get_column(CHANGE)
        inserted = int((changes == ADDED).sum())
        updated = int((changes == CHANGED).sum())
        removed = int((changes == REMOVED).sum())
        # With a cursor, parent rows outside this window are not deletions.
        deleted = removed if self._plan.increment.by_key else 0
        self._count(inserted, updated, deleted, joined.height - inserted - updated - removed)
        sent = joined.filter(pl.col(CHANGE).is_in([ADDED, CHANGED]))
        self._positions.append(sent.get_column(ROW_INDEX).cast(pl.Int64))
        if self._plan.increment.by_key and deleted:
            gone = joined.filter(pl.col(CHANGE) == REMOVED)
            self._deletions.guard.deleted(
                self._sealer.open(gone.get_column(SEALED_KEY + BASE)), gone.get_column(KEY_DIGEST)
            )
        # The index is stored in digest order; a join does not promise to keep it.
        present = joined.filter(pl.col(CHANGE) != REMOVED).sort(KEY_DIGEST)
        fresh = present.get_column(CHANGE).is_in([ADDED, CHANGED])
        resealed = self._sealer.seal(present.filter(fresh).get_column(KEY_JSON))
        sealed = present.get_column(SEALED_KEY + BASE).scatter(
            fresh.arg_true(), pl.Series(resealed, dtype=pl.Binary)
        )
        return _stored_rows(present.select(current.columns), sealed)

    def _count(self, inserted: int = 0, updated: int = 0, deleted: int = 0, same: int = 0) -> None:
        c = self._counts
        self._counts = ChangeCounts(
            c.inserted + inserted, c.updated + updated, c.deleted + deleted, c.unchanged + same
        )

    def _check_unique(self, current: pl.DataFrame) -> None:
        repeated = current.filter(pl.col(KEY_DIGEST).is_duplicated())
        if repeated.is_empty():
            return
        first = repeated.row(0, named=True)
        times = repeated.filter(pl.col(KEY_DIGEST) == first[KEY_DIGEST]).height
        # The key's value is shown only where redaction left it as it is in the source.
        shown = (
            f"key digest {first[KEY_DIGEST].hex()}"
            if first[KEY_REDACTED]
            else f"key {first[KEY_JSON]}"
        )
        raise FailedPrecondition(
            f"the key ({', '.join(self._plan.increment.key)}) is not unique in the source: "
            f"{shown} appears in {times} rows; a keyed export needs one row per key"
        )


class _Digest(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def _fingerprint(seen: _Digest, rows: pl.DataFrame) -> None:
    """Add one digest range (sorted by key digest) to the pass's fingerprint: the key and
    row digests and each row's position (ROW_INDEX). Positions are needed: a file
    rewritten with the same rows in another order (same size, an S3 object's identity)
    has the same digests, yet a resume continues by position (the chunks written hold
    the rows at the earlier positions). A database source's positions are those of its
    order key's order, the same in every run over the same rows."""
    for name in (KEY_DIGEST, ROW_DIGEST):
        seen.update(_binary_bytes(rows.get_column(name)))
    seen.update(_int64_bytes(rows.get_column(ROW_INDEX)))


def _binary_bytes(column: pl.Series) -> memoryview:
    """The concatenated values of a binary column of fixed-width digests."""
    values = column.to_arrow().cast(pa.large_binary())
    if not len(values):
        return memoryview(b"")
    offsets = memoryview(values.buffers()[1]).cast("q")
    start, end = offsets[values.offset], offsets[values.offset + len(values)]
    return memoryview(values.buffers()[2])[start:end]


def _int64_bytes(column: pl.Series) -> memoryview:
    """The values of an integer column without nulls as native 64-bit integers (numpy is
    not a dependency of the daemon: read the Arrow buffer itself)."""
    values = column.cast(pl.Int64).to_arrow()
    if values.null_count:
        raise ValueError(f"{column.name} has {values.null_count} null values")
    width = pa.int64().bit_width // 8
    return memoryview(values.buffers()[1])[
        values.offset * width : (values.offset + len(values)) * width
    ]


def _stored_rows(rows: pl.DataFrame, sealed: pl.Series) -> pl.DataFrame:
    """What the index stores of a row: digests and the sealed key, never values."""
    kept = [c for c in rows.columns if c not in (ROW_INDEX, KEY_JSON, KEY_REDACTED)]
    return rows.select(kept).with_columns(sealed.alias(SEALED_KEY).cast(pl.Binary))


def _index_schema(digests: pl.Schema) -> pl.Schema:
    """The stored index's columns, from those of the digested rows."""
    return _stored_rows(pl.DataFrame(schema=digests), pl.Series([], dtype=pl.Binary)).schema


def index_entry(changes: KeyedChanges, plan: ExportPlan) -> KeyIndexEntry:
    """The manifest's "key_index" entry."""
    return KeyIndexEntry(
        path=changes.index.path,
        format=INDEX_FORMAT,
        sorted_by=KEY_DIGEST,
        rows=changes.index.rows,
        stored_bytes=changes.index.stored_bytes,
        sha256=changes.index.sha256,
        key=plan.increment.key,
        columns=tuple(plan.schema.names()),
        algorithm=KEY_INDEX_DIGEST_ALGORITHM,
        key_id=changes.key_id,
        key_types=recorded_key_types(plan.increment.key, plan.source_schema),
    )
