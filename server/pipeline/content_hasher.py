"""The keyed digest of a chunk's plaintext, fed while the chunk is written.

New chunks use keyed BLAKE3: on the text-heavy benchmark HMAC-SHA256 of the NDJSON was
the largest cost Sluice added over Polars' own writer (0.24 CPU s per 1M rows, keyed
BLAKE3 0.06 on one core: benchmarks/content_digest_cpu.py). BLAKE3 runs single-threaded:
the cores are busy with encoding and compression, and more threads would only contend.

The BLAKE3 key is derived from the configured content-digest key, never the key itself:
HMAC-SHA256(content key, BLAKE3_KEY_CONTEXT). The raw key thus feeds HMAC-SHA256 only,
as it does for the key id, subject digests and the key index's sub-keys under their own
labels, and for older chunks' "hmac-sha256" digests, which took the plaintext itself
without a label (still recomputable: `algorithm`). A chunk whose plaintext were exactly
BLAKE3_KEY_CONTEXT would have given that HMAC the derived key; no encoder writes those
bytes (every format adds a newline, a bracket or magic bytes). A new derivation should
use BLAKE3's own derive_key mode or HKDF.
"""

from __future__ import annotations

import hashlib
import hmac

import blake3

from sluice.format.content_digests import BLAKE3, CHUNK_DIGEST_ALGORITHM, HMAC_SHA256

#: What the BLAKE3 key derivation's HMAC covers; apart from every other use of the key.
BLAKE3_KEY_CONTEXT = b"sluice chunk content digest blake3 v1"


def blake3_key(content_key: bytes) -> bytes:
    """The 32-byte key keyed BLAKE3 takes, derived from the content-digest key."""
    return hmac.new(content_key, BLAKE3_KEY_CONTEXT, hashlib.sha256).digest()


class ContentHasher:
    """A chunk's plaintext digest under the content-digest key, fed piece by piece;
    `text()` is what manifests record, "<algorithm>:<hex>"."""

    def __init__(self, content_key: bytes, algorithm: str = CHUNK_DIGEST_ALGORITHM) -> None:
        self.algorithm = algorithm
        self._hash: blake3.blake3 | hmac.HMAC
        if algorithm == BLAKE3:
            self._hash = blake3.blake3(key=blake3_key(content_key), max_threads=1)
        elif algorithm == HMAC_SHA256:
            self._hash = hmac.new(content_key, digestmod=hashlib.sha256)
        else:
            raise ValueError(f"unknown content digest algorithm {algorithm!r}")

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def text(self) -> str:
        return f"{self.algorithm}:{self.hexdigest()}"
