"""How a manifest names the keyed digests of chunk contents.

A chunk's (and a tombstone file's) `content_digest` is "<algorithm>:<hex>", and its prefix
is authoritative: it names the algorithm that digest was made with. New chunks use keyed
BLAKE3; chunks written before it (and journalled chunks an export resumed across the
upgrade carries on) keep "hmac-sha256". The manifest-level `content_digest.algorithm`
summarises its chunks: their one algorithm, or "mixed" when they differ. Two digests are
comparable only under the same key id and the same algorithm.

The key index's row digests are a different thing with their own, unchanged algorithm
(`KEY_INDEX_DIGEST_ALGORITHM` in stored_objects).
"""

from __future__ import annotations

from collections.abc import Iterable

#: Keyed BLAKE3 of the plaintext, under a key derived from the content-digest key.
BLAKE3 = "blake3"
#: HMAC-SHA256 of the plaintext under the content-digest key: chunks written before BLAKE3.
HMAC_SHA256 = "hmac-sha256"
#: The algorithm of the chunks written now.
CHUNK_DIGEST_ALGORITHM = BLAKE3
#: A manifest's `content_digest.algorithm` when its chunks were digested by more than one
#: algorithm (an export resumed across the upgrade); each chunk's prefix says which.
MIXED = "mixed"


def digest_algorithm(content_digest: str) -> str:
    """The algorithm a recorded "<algorithm>:<hex>" names ("" when none is recorded)."""
    algorithm, separator, _ = content_digest.partition(":")
    return algorithm if separator else ""


def algorithms_of(content_digests: Iterable[str]) -> frozenset[str]:
    """The algorithms of recorded digests ("" stands for a digest not recorded)."""
    return frozenset(digest_algorithm(d) for d in content_digests)


def summary_algorithm(content_digests: Iterable[str]) -> str:
    """A manifest's `content_digest.algorithm` for these chunk digests: their one
    algorithm, MIXED when they differ, and the current one when there are none."""
    algorithms = algorithms_of(d for d in content_digests if d) or {CHUNK_DIGEST_ALGORITHM}
    return next(iter(algorithms)) if len(algorithms) == 1 else MIXED
