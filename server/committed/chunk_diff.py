"""Chunk-level diff of two exports of one dataset, from their manifests alone.

Chunks are matched by content digest (a keyed digest of the plaintext), so identical
content is recognised whatever its chunk index, compression or encryption. When the two
manifests were digested under different keys, or their chunks' digests do not all name
one algorithm (an export from before keyed BLAKE3 beside one after it, or one resumed
across that change), stored sha256 digests are compared instead, which only matches
byte-identical chunks; the result says which was used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sluice.format.content_digests import algorithms_of
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
    """What `other` has that `base` lacks (added) and the reverse (removed).

    Chunks are compared as a multiset: an export may hold several chunks of identical
    content (repeated rows), and one copy fewer is a chunk's records fewer, so each copy
    is matched at most once and the surplus copies count as added or removed."""
    check_same_dataset(base, other)
    by_content = _comparable_content_digests(base, other)
    matched_by = "content_digest" if by_content else "sha256"
    base_counts = Counter(_digest(c, by_content) for c in base.chunks)
    other_counts = Counter(_digest(c, by_content) for c in other.chunks)
    return ChunkDiff(
        base_export_id=base.export_id,
        other_export_id=other.export_id,
        matched_by=matched_by,
        added=_surplus(other.chunks, base_counts, by_content),
        removed=_surplus(base.chunks, other_counts, by_content),
        unchanged=(base_counts & other_counts).total(),
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


def _comparable_content_digests(base: Manifest, other: Manifest) -> bool:
    """Whether the chunks' content digests can be compared: made under one key and, by
    their prefixes (authoritative, whatever the manifest-level algorithm says), all with
    one algorithm. Digests of one content under two algorithms never match, so a mixed
    pair compared by them would report every chunk as changed."""
    same_key = _key_id(base) is not None and _key_id(base) == _key_id(other)
    algorithms = algorithms_of(c.content_digest for c in (*base.chunks, *other.chunks))
    # "" stands for a chunk without a recorded digest: comparable by sha256 only.
    return same_key and len(algorithms) <= 1 and "" not in algorithms


def _key_id(manifest: Manifest) -> str | None:
    return manifest.content_digest.key_id if manifest.content_digest else None


def _digest(chunk: ChunkEntry, by_content: bool) -> str:
    return chunk.content_digest if by_content else chunk.sha256


def _surplus(
    chunks: Sequence[ChunkEntry], matched: Counter[str], by_content: bool
) -> tuple[ChunkRef, ...]:
    """The chunks left once each of `matched`'s copies has paired one chunk of equal
    digest (the first ones, in chunk order)."""
    left = Counter(matched)
    surplus = []
    for chunk in chunks:
        digest = _digest(chunk, by_content)
        if left[digest] > 0:
            left[digest] -= 1
        else:
            surplus.append(_ref(chunk))
    return tuple(surplus)


def _ref(chunk: ChunkEntry) -> ChunkRef:
    return ChunkRef(chunk.path, chunk.records, chunk.stored_bytes)
