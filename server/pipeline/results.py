"""What the pipeline reports while it runs: each chunk once committed to storage, and the
running totals. Plain data owned by the pipeline; the execution layer journals them as
job records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sluice.server.pipeline.cursor_values import CursorValue

#: Per-stage counters ("rule/column" -> values changed, "source/skipped_rows"), sorted by key.
Counters = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class PipelineProgress:
    records: int = 0
    chunks: int = 0
    stored_bytes: int = 0
    source_rows_done: int = 0
    #: 0 when unknown.
    source_rows_total: int = 0
    #: Running per-stage counters, summed over chunks.
    counters: Counters = ()


@dataclass(frozen=True)
class ChunkResult:
    """One chunk, stored and committed (fsync, multipart completion); it counts once the
    observer that is told has journalled it."""

    index: int
    #: Relative to the export folder (where manifest.json lives).
    path: str
    records: int
    stored_bytes: int
    #: Hex sha256 of the stored bytes.
    sha256: str
    #: Keyed digest of the plaintext content, "blake3:<hex>" (sluice.format.content_digests).
    content_digest: str
    #: Source row positions [source_start, source_end) the chunk covers.
    source_start: int
    source_end: int
    committed_at: datetime
    #: Per-stage counters of this chunk (and of the unparseable source rows before its end).
    counters: Counters = ()
    #: Largest incremental cursor value among the chunk's records (JSON-safe), if any.
    cursor_max: CursorValue = None
    #: Database sources: the order columns' values of the chunk's last row (JSON-safe),
    #: where a resumed read continues after; None: resume by row position.
    source_last_key: tuple[CursorValue, ...] | None = None
    #: Seconds the store took to make the chunk durable (fsync, multipart completion);
    #: for metrics only, so never journalled nor compared (0 when read back).
    commit_seconds: float = field(default=0.0, compare=False)


def add_counters(left: Counters, right: Counters) -> Counters:
    """Sum two counter sets, key by key, sorted by key."""
    totals = dict(left)
    for key, value in right:
        totals[key] = totals.get(key, 0) + value
    return tuple(sorted(totals.items()))
