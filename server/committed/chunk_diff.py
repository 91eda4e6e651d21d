"""Chunk-level diff of two exports of one dataset, from their manifests alone.

Chunks are matched by content digest (a keyed digest of the plaintext), so identical
content is recognised whatever its chunk index, compression or encryption. When the two
manifests were digested under different keys, stored sha256 digests are compared
instead, which only matches byte-identical chunks; the result says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def diff_chunks(base: dict[str, Any], other: dict[str, Any]) -> ChunkDiff:
    """What `other` has that `base` lacks (added) and the reverse (removed)."""
    check_same_dataset(base, other)
    same_key = _key_id(base) is not None and _key_id(base) == _key_id(other)
    field = "content_digest" if same_key else "sha256"
    base_chunks = {c[field]: c for c in base["chunks"]}
    other_chunks = {c[field]: c for c in other["chunks"]}
    return ChunkDiff(
        base_export_id=str(base.get("export_id")),
        other_export_id=str(other.get("export_id")),
        matched_by=field,
        added=tuple(_ref(c) for d, c in other_chunks.items() if d not in base_chunks),
        removed=tuple(_ref(c) for d, c in base_chunks.items() if d not in other_chunks),
        unchanged=len(base_chunks.keys() & other_chunks.keys()),
    )


def check_same_dataset(base: dict[str, Any], other: dict[str, Any]) -> None:
    """Two different exports of one dataset, or the error saying why not."""
    if base.get("export_id") == other.get("export_id"):
        raise InvalidArgument("other", "an export cannot be diffed with itself")
    if base.get("dataset") != other.get("dataset"):
        raise FailedPrecondition(
            f"exports belong to different datasets ({base.get('dataset')!r} and "
            f"{other.get('dataset')!r}); diff compares exports of one dataset"
        )


def _key_id(manifest: dict[str, Any]) -> str | None:
    digest = manifest.get("content_digest")
    return digest.get("key_id") if isinstance(digest, dict) else None


def _ref(chunk: dict[str, Any]) -> ChunkRef:
    return ChunkRef(str(chunk["path"]), int(chunk["records"]), int(chunk["stored_bytes"]))
