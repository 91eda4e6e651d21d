"""A chunk's compressed bytes do not depend on how many worker threads compressed it, so
the daemon's thread settings (`zstd_threads`) can be tuned per machine while a resumed
export, continued elsewhere, still stores byte-identical chunks."""

from __future__ import annotations

import gzip

import pytest
import zstandard

from sluice.server.pipeline import compressors
from sluice.server.pipeline.compressors import COMPRESSORS
from tests.unit.json_lines import json_lines

# Past zstd's multi-threaded job size at level 3 (8 MiB: four times its 2 MiB window)
# and several of the gzip compressor's 1 MiB blocks.
DATA = json_lines(
    10 * 1024 * 1024,
    seed=5,
    words=[f"word{n}".encode() for n in range(500)],
    per_line=12,
    field=b"message",
)


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


def _counting_contexts(monkeypatch: pytest.MonkeyPatch) -> list[zstandard.ZstdCompressor]:
    made: list[zstandard.ZstdCompressor] = []
    real = zstandard.ZstdCompressor

    def counted(**settings: object) -> zstandard.ZstdCompressor:
        made.append(real(**settings))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(compressors.zstandard, "ZstdCompressor", counted)
    return made


def test_zstd_streams_one_after_another_share_a_context_and_store_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = _compress("zstd", 2, pieces=3)
    made = _counting_contexts(monkeypatch)

    with compressors.zstd_contexts_reused():
        in_a_row = [_compress("zstd", 2, pieces=3), _compress("zstd", 2, pieces=7)]
        other_level = COMPRESSORS["zstd"].make(9, 2, "part-000002.jsonl")
        other_level.compress(DATA)
        other_level.flush()

    assert in_a_row == [fresh, fresh]
    assert len(made) == 2  # one for level 3, reused; one for level 9
    assert _compress("zstd", 2, pieces=3) == fresh  # outside the block: a fresh context
    assert len(made) == 3


def test_a_zstd_context_serves_one_open_stream_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _compress("zstd", 2, pieces=1)
    made = _counting_contexts(monkeypatch)

    with compressors.zstd_contexts_reused():
        kind = COMPRESSORS["zstd"]
        # The first stream's context is reused by the second once finished; the third
        # opens while the second is open (an abandoned chunk), so it gets its own.
        first = kind.make(3, 2, "a")
        first_out = first.compress(DATA) + first.flush()
        second = kind.make(3, 2, "b")
        second_out = [second.compress(DATA[:1000])]
        third = kind.make(3, 2, "c")
        third_out = third.compress(DATA) + third.flush()
        second_out.append(second.compress(DATA[1000:]) + second.flush())

    assert [first_out, b"".join(second_out), third_out] == [fresh, fresh, fresh]
    assert len(made) == 2
