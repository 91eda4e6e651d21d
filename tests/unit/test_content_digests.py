"""The keyed digest of chunk contents: keyed BLAKE3 under a key derived from the
content-digest key, checked against the blake3 library and the documented derivation;
older "hmac-sha256" digests still recompute; how a manifest names its chunks' algorithm."""

from __future__ import annotations

import hashlib
import hmac

import blake3
import pytest

from sluice.format.content_digests import (
    BLAKE3,
    HMAC_SHA256,
    MIXED,
    digest_algorithm,
    summary_algorithm,
)
from sluice.server.pipeline.content_hasher import ContentHasher

KEY = b"content-digest-test-key-32-bytes"
PIECES = (b'{"id":1,"name":"ana"}\n', b'{"id":2,"name":"bo"}\n' * 5_000, b"", b"\n")
CONTENT = b"".join(PIECES)


def _digest(algorithm: str, pieces: tuple[bytes, ...] = PIECES, key: bytes = KEY) -> str:
    hasher = ContentHasher(key, algorithm)
    for piece in pieces:
        hasher.update(piece)
    return hasher.text()


def test_new_chunks_are_digested_with_keyed_blake3_under_the_derived_key() -> None:
    # The derivation the README documents, computed here without Sluice's code.
    derived = hmac.new(KEY, b"sluice chunk content digest blake3 v1", hashlib.sha256).digest()
    expected = blake3.blake3(CONTENT, key=derived).hexdigest()
    assert ContentHasher(KEY).algorithm == BLAKE3
    assert _digest(BLAKE3) == f"blake3:{expected}"


def test_a_known_content_keeps_its_digest() -> None:
    # Pinned: chunks of this content under this key carry this digest; a change to the
    # derivation or the algorithm would make every later export differ from earlier ones.
    assert _digest(BLAKE3, (b'{"id":1,"name":"ana"}\n',)) == (
        "blake3:98b36f7980fd0d36c425265cc380d1c377e5ada8237c2dd87c715a5d40fb6298"
    )


def test_the_raw_key_is_never_the_blake3_key() -> None:
    assert _digest(BLAKE3) != "blake3:" + blake3.blake3(CONTENT, key=KEY).hexdigest()


def test_the_digest_depends_on_the_key_and_the_content_not_on_the_pieces() -> None:
    assert _digest(BLAKE3, (CONTENT,)) == _digest(BLAKE3)
    assert _digest(BLAKE3, key=b"another key") != _digest(BLAKE3)
    assert _digest(BLAKE3, (CONTENT + b" ",)) != _digest(BLAKE3)


def test_older_hmac_sha256_digests_still_recompute() -> None:
    expected = hmac.new(KEY, CONTENT, hashlib.sha256).hexdigest()
    recorded = f"hmac-sha256:{expected}"
    assert _digest(digest_algorithm(recorded)) == recorded
    assert _digest(HMAC_SHA256) != _digest(BLAKE3)


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="sha3"):
        ContentHasher(KEY, "sha3")


def test_the_prefix_names_the_algorithm() -> None:
    assert digest_algorithm("blake3:00ff") == BLAKE3
    assert digest_algorithm("hmac-sha256:00ff") == HMAC_SHA256
    assert digest_algorithm("") == ""


def test_a_manifest_names_its_chunks_algorithm_or_mixed() -> None:
    new, old = _digest(BLAKE3), _digest(HMAC_SHA256)
    assert summary_algorithm([new, new]) == BLAKE3
    assert summary_algorithm([old, old]) == HMAC_SHA256
    assert summary_algorithm([old, new]) == MIXED
    # No chunks (or none recorded): what chunks are digested with now.
    assert summary_algorithm([]) == BLAKE3
    assert summary_algorithm(["", old]) == HMAC_SHA256
