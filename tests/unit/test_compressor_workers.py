"""A chunk's compressed bytes do not depend on how many worker threads compressed it, so
the daemon's thread settings (`zstd_threads`) can be tuned per machine while a resumed
export, continued elsewhere, still stores byte-identical chunks."""

from __future__ import annotations

import gzip
import random

import pytest
import zstandard

from sluice.server.pipeline.compressors import COMPRESSORS


def _text(size: int) -> bytes:
    """Compressible JSON-like lines, past zstd's multi-threaded job size at level 3
    (8 MiB: four times its 2 MiB window) and several of the gzip compressor's 1 MiB
    blocks."""
    rng = random.Random(5)
    words = [f"word{n}".encode() for n in range(500)]
    lines: list[bytes] = []
    total = 0
    while total < size:
        line = b'{"id":%d,"message":"%s"}\n' % (total, b" ".join(rng.choices(words, k=12)))
        lines.append(line)
        total += len(line)
    return b"".join(lines)


DATA = _text(10 * 1024 * 1024)


def _compress(name: str, workers: int, pieces: int) -> bytes:
    kind = COMPRESSORS[name]
    compressor = kind.make(kind.default_level, workers, "part-000000.jsonl")
    step = len(DATA) // pieces + 1
    out = [compressor.compress(DATA[i : i + step]) for i in range(0, len(DATA), step)]
    return b"".join(out) + compressor.flush()


@pytest.mark.parametrize("name", ["zstd", "gzip"])
def test_bytes_do_not_depend_on_the_worker_count_or_the_feeding(name: str) -> None:
    one = _compress(name, 1, pieces=3)

    assert _compress(name, 2, pieces=3) == one
    assert _compress(name, 3, pieces=40) == one


def test_zstd_output_reads_back_with_its_checksum() -> None:
    stored = _compress("zstd", 2, pieces=5)

    assert zstandard.ZstdDecompressor().decompress(stored, max_output_size=len(DATA)) == DATA
    assert zstandard.get_frame_parameters(stored).has_checksum


def test_gzip_output_reads_back() -> None:
    assert gzip.decompress(_compress("gzip", 2, pieces=5)) == DATA
