"""Chunk-level diff of two exports of one dataset, from their manifests alone.

Chunks are matched by content digest (a keyed digest of the plaintext), so identical
content is recognised whatever its chunk index, compression or encryption. When the two
manifests were digested under different keys, stored sha256 digests are compared
instead, which only matches byte-identical chunks; the result says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.format.manifest import Manifest
from sluice.format.stored_objects import ChunkEntry
from sluice.server.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class ChunkRef:
    path: str
    records: int
    stored_bytes: int


@dataclass(frozen=True)
class ChunkDiff:
    base_export_id: str
    other_export_id: str
    #: "content_digest" or "sha256".
    matched_by: str
    added: tuple[ChunkRef, ...]
    removed: tuple[ChunkRef, ...]
    unchanged: int

    @property
    def added_bytes(self) -> int:
        return sum(c.stored_bytes for c in self.added)

    @property
    def removed_bytes(self) -> int:
        return sum(c.stored_bytes for c in self.removed)


def diff_chunks(base: Manifest, other: Manifest) -> ChunkDiff:
    """What `other` has that `base` lacks (added) and the reverse (removed)."""
    check_same_dataset(base, other)
    same_key = _key_id(base) is not None and _key_id(base) == _key_id(other)
    matched_by = "content_digest" if same_key else "sha256"
    base_chunks = {_digest(c, same_key): c for c in base.chunks}
    other_chunks = {_digest(c, same_key): c for c in other.chunks}
    return ChunkDiff(
        base_export_id=base.export_id,
        other_export_id=other.export_id,
        matched_by=matched_by,
        added=tuple(_ref(c) for d, c in other_chunks.items() if d not in base_chunks),
        removed=tuple(_ref(c) for d, c in base_chunks.items() if d not in other_chunks),
        unchanged=len(base_chunks.keys() & other_chunks.keys()),
    )


def check_same_dataset(base: Manifest, other: Manifest) -> None:
    """Two different exports of one dataset, or the error saying why not."""
    if base.export_id == other.export_id:
        raise InvalidArgument("other", "an export cannot be diffed with itself")
    if base.dataset != other.dataset:
        raise FailedPrecondition(
            f"exports belong to different datasets ({base.dataset!r} and "
            f"{other.dataset!r}); diff compares exports of one dataset"
        )


def _key_id(manifest: Manifest) -> str | None:
    return manifest.content_digest.key_id if manifest.content_digest else None


def _digest(chunk: ChunkEntry, by_content: bool) -> str:
    return chunk.content_digest if by_content else chunk.sha256


def _ref(chunk: ChunkEntry) -> ChunkRef:
    return ChunkRef(chunk.path, chunk.records, chunk.stored_bytes)
