"""Compressors wrap a chunk's encoded bytes in a stream format any tool can read
(`zstd -d`, `gunzip`, `unzip`/7-Zip). One instance per chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import zstandard

from sluice.server.pipeline.deflate import GzipStream, compression_workers
from sluice.server.pipeline.zip_container import ZipCompressor


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes:
        """Close the stream and return its final bytes."""
        ...


@dataclass(frozen=True)
class CompressorKind:
    name: str
    #: Appended to the chunk name, with its dot ("" for none).
    extension: str
    #: Valid levels, inclusive.
    levels: tuple[int, int]
    default_level: int
    #: (level, zstd worker threads, name of the data inside the container) -> compressor.
    #: Only zip stores the name (`part-000003.jsonl`); stream formats ignore it.
    make: Callable[[int, int, str], Compressor]


class _Zstd:
    def __init__(self, level: int, threads: int, _entry: str) -> None:
        # Always zstd's multi-threaded mode, at least one worker: it compresses on its own
        # threads, overlapping with encoding, and its output is the same for any number
        # of workers (unlike single-threaded mode's), so a chunk resumed on a machine
        # with other cores is byte-identical. Content checksums let `zstd -t` and
        # readers detect corruption on their own.
        compressor = zstandard.ZstdCompressor(
            level=level, threads=compression_workers(threads), write_checksum=True
        )
        self._stream = compressor.compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._stream.compress(data)

    def flush(self) -> bytes:
        return self._stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class _Gzip:
    def __init__(self, level: int, threads: int, _entry: str) -> None:
        # Deflated on worker threads, pigz-style (see server/pipeline/deflate.py).
        self._stream = GzipStream(level, compression_workers(threads))

    def compress(self, data: bytes) -> bytes:
        return self._stream.compress(data)

    def flush(self) -> bytes:
        return self._stream.flush()


class _Identity:
    def __init__(self, _level: int, _threads: int, _entry: str) -> None:
        pass

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


COMPRESSORS: dict[str, CompressorKind] = {
    kind.name: kind
    for kind in (
        CompressorKind("zstd", ".zst", (1, 22), 3, _Zstd),
        CompressorKind("gzip", ".gz", (1, 9), 6, _Gzip),
        # A container for people: one deflated entry named after the chunk, optionally
        # AES-256 (planning binds the password: planning.encryption.bind_zip_password).
        CompressorKind("zip", ".zip", (1, 9), 6, ZipCompressor),
        CompressorKind("none", "", (0, 0), 0, _Identity),
    )
}
