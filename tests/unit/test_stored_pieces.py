"""zstd and age hand their output on in pieces (zstd's chunker, age's sealed segments)
instead of one joined buffer per call; the stored bytes are still exactly an independent
compressobj stream sealed by age."""

from __future__ import annotations

import hashlib
import io
import os
import random

import pytest
import zstandard

from sluice.format.age import SEGMENT_SIZE
from sluice.format.age_reader import X25519Identity, decrypt_stream
from sluice.server.pipeline.ciphers.age import AgeEncryption
from sluice.server.pipeline.compressors import (
    COMPRESSORS,
    ZSTD_OUTPUT_PIECE,
    zstd_contexts_reused,
)
from sluice.server.pipeline.content_hasher import ContentHasher
from sluice.server.pipeline.open_chunk import OpenChunk
from sluice.sinks.memory import MemorySink
from tests.unit.json_lines import json_lines

#: ChaCha20-Poly1305's tag, after each sealed segment.
TAG = 16


# JSON-like lines, compressible but not trivially: several of zstd's 8 MiB jobs, so its
# workers' buffers fill and output comes out before the flush.
_DRAW = random.Random(11)
_WORDS = [f"w{n}-{_DRAW.random():.6f}".encode() for n in range(4000)]
DATA = json_lines(32 * 1024 * 1024, seed=11, words=_WORDS, per_line=9, field=b"text")


def _reference_zstd(data: bytes) -> bytes:
    """The stream as main wrote it: a compressobj of zstd 3, multi-threaded, with checksum."""
    stream = zstandard.ZstdCompressor(level=3, threads=2, write_checksum=True).compressobj()
    return stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


REFERENCE = _reference_zstd(DATA)


def _feed(step: int) -> list[bytes]:
    return [DATA[i : i + step] for i in range(0, len(DATA), step)]


@pytest.mark.parametrize("step", [len(DATA), 3 * 1024 * 1024 + 17, 100_003])
def test_zstd_pieces_are_the_compressobj_stream(step: int) -> None:
    kind = COMPRESSORS["zstd"]
    with zstd_contexts_reused():  # the second stream reuses the first one's context
        for _ in range(2):
            compressor = kind.make(3, 2, "part-000000.jsonl")
            pieces = [p for data in _feed(step) for p in compressor.compress_pieces(data)]

            assert len(pieces) > 2
            assert all(len(piece) == ZSTD_OUTPUT_PIECE for piece in pieces)
            assert b"".join(pieces) + compressor.flush() == REFERENCE


def test_zstd_flush_hands_its_output_over_in_pieces() -> None:
    # All of it fed in one call, 2 workers: most of the stream comes out at the flush.
    with zstd_contexts_reused():
        for _ in range(2):  # the second stream takes the first one's context back
            compressor = COMPRESSORS["zstd"].make(3, 2, "x")
            head = b"".join(compressor.compress_pieces(DATA))
            tail = list(compressor.flush_pieces())

            assert len(tail) > 1
            assert all(len(piece) <= ZSTD_OUTPUT_PIECE for piece in tail)
            assert head + b"".join(tail) == REFERENCE


def test_zstd_compress_joins_its_pieces() -> None:
    kind = COMPRESSORS["zstd"]
    compressor = kind.make(3, 2, "x")
    out = b"".join(compressor.compress(data) for data in _feed(1_000_003))

    assert out + compressor.flush() == REFERENCE


@pytest.fixture
def identity() -> X25519Identity:
    return X25519Identity(os.urandom(32))


def _decrypt(sealed: bytes, identity: X25519Identity) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(sealed), [identity]))


@pytest.mark.parametrize(
    "sizes",
    [
        [SEGMENT_SIZE],
        [SEGMENT_SIZE, SEGMENT_SIZE, 1],
        [10, SEGMENT_SIZE - 10, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE],
        [ZSTD_OUTPUT_PIECE] * 5 + [123],
        [1, 0, 5 * SEGMENT_SIZE + 3, 0],
    ],
)
def test_age_pieces_are_whole_segments_that_decrypt(
    sizes: list[int], identity: X25519Identity
) -> None:
    data = os.urandom(sum(sizes))
    encryptor = AgeEncryption(recipient_keys=(identity.recipient_key,)).make()
    pieces: list[bytes] = []
    at = 0
    for size in sizes:
        pieces.extend(encryptor.encrypt_pieces(data[at : at + size]))
        at += size
        assert len(encryptor._segment) <= SEGMENT_SIZE
    header, *segments = pieces

    # The header (with the payload nonce) first, then only full segments until finish.
    assert header.startswith(b"age-encryption.org/v1\n")
    assert all(len(segment) == SEGMENT_SIZE + TAG for segment in segments)
    assert _decrypt(b"".join(pieces) + encryptor.finish(), identity) == data


def test_a_zstd_age_chunk_is_an_independent_compress_then_encrypt(
    identity: X25519Identity,
) -> None:
    sink = MemorySink()
    key = b"k" * 32
    chunk = OpenChunk(
        0,
        sink.create("part-000000.jsonl.zst.age", overwrite=True),
        COMPRESSORS["zstd"].make(3, 2, "part-000000.jsonl"),
        AgeEncryption(recipient_keys=(identity.recipient_key,)).make(),
        key,
    )
    chunk.write_pieces(_feed(3 * 1024 * 1024 + 1), 7)
    chunk.close()
    chunk.writer.commit()
    with sink.open("part-000000.jsonl.zst.age") as stored_file:
        stored = stored_file.read()

    assert _decrypt(stored, identity) == REFERENCE
    assert chunk.sha256.hexdigest() == hashlib.sha256(stored).hexdigest()
    assert chunk.stored == len(stored)
    plain = ContentHasher(key)
    plain.update(DATA)
    assert chunk.content.text() == plain.text()
    assert chunk.records == 7
