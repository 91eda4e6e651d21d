"""Compressors wrap a chunk's encoded bytes in a stream format any tool can read
(`zstd -d`, `gunzip`, `unzip`/7-Zip). One instance per chunk."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, cast

import zstandard

from sluice.server.pipeline.deflate import GzipStream, compression_workers
from sluice.server.pipeline.zip_container import ZipCompressor


class Compressor(Protocol):
    """One stream; `compress` takes any bytes-like piece (a view of a Parquet row group
    among them) and hands back what it can output so far."""

    def compress(self, data: bytes | memoryview) -> bytes | memoryview: ...

    def compress_pieces(self, data: bytes | memoryview) -> Iterable[bytes | memoryview]:
        """`compress`'s output in pieces, whose join it is, for a stream that writes them
        on as they are. Taken as they come, before the next call."""
        ...

    def flush(self) -> bytes:
        """Close the stream and return its final bytes."""
        ...

    def flush_pieces(self) -> Iterable[bytes]:
        """`flush`'s output in pieces, whose join it is (zstd's last output can be tens of
        MB when it compresses little). Taken as they come."""
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


#: The size of the pieces a zstd stream hands its output over in (`compress_pieces`).
#: compressobj's output of a call is one bytes object grown by each 128 KiB zstd makes
#: (realloc, copying below the mmap threshold, fresh pages above it); a chunker's are
#: fixed pieces taken from one buffer. The calling (writer) thread of text-heavy's 525 MB
#: of NDJSON in 11 MB pieces, zstd 3 on 2 workers: compressobj 0.18-0.22 CPU s, 1 MiB
#: pieces 0.15-0.16, 256 KiB pieces 0.12-0.13, the bytes identical.
ZSTD_OUTPUT_PIECE = 256 * 1024

#: (level, workers) of a zstd context.
_ZstdSettings = tuple[int, int]


class _IdleZstdContexts(threading.local):
    """Per thread: its finished zstd contexts, by settings, while the thread reuses them
    (inside `zstd_contexts_reused`); None otherwise."""

    def __init__(self) -> None:
        self.contexts: dict[_ZstdSettings, zstandard.ZstdCompressor] | None = None


_IDLE_ZSTD = _IdleZstdContexts()


@contextmanager
def zstd_contexts_reused() -> Iterator[None]:
    """Inside this block, the zstd streams this thread opens one after another (a writer
    thread's chunks) reuse one context rather than each making its own. A fresh
    multi-threaded context maps new memory for its buffers (page faults, ~30 MB per
    chunk), starts worker threads and frees it all at the chunk's end: reusing it saved
    ~0.15-0.25 CPU s per 1M rows of the ceiling's jsonl+zstd (64 MiB chunks). Each
    stream is a new frame from a reset context, so the bytes are the same. The contexts
    go when the block ends."""
    _IDLE_ZSTD.contexts = {}
    try:
        yield
    finally:
        _IDLE_ZSTD.contexts = None


class _Zstd:
    def __init__(self, level: int, threads: int, _entry: str) -> None:
        # Always zstd's multi-threaded mode, at least one worker: it compresses on its own
        # threads, overlapping with encoding, and its output is the same for any number
        # of workers (unlike single-threaded mode's), so a chunk resumed on a machine
        # with other cores is byte-identical. Content checksums let `zstd -t` and
        # readers detect corruption on their own.
        self._settings = (level, compression_workers(threads))
        #: Where the context goes back once this stream is finished (None: not reused).
        self._idle = _IDLE_ZSTD.contexts
        # A context serves one stream at a time: it is taken out of the idle ones while
        # this stream is open, and one never finished is never handed out again.
        context = self._idle.pop(self._settings, None) if self._idle is not None else None
        if context is None:
            context = zstandard.ZstdCompressor(
                level=level, threads=self._settings[1], write_checksum=True
            )
        self._context = context
        self._stream = context.chunker(chunk_size=ZSTD_OUTPUT_PIECE)

    def compress(self, data: bytes | memoryview) -> bytes:
        return b"".join(self._stream.compress(data))

    def compress_pieces(self, data: bytes | memoryview) -> Iterable[bytes]:
        # zstandard's stubs leave the chunker's results untyped: bytes, chunk by chunk.
        return cast(Iterator[bytes], self._stream.compress(data))

    def flush(self) -> bytes:
        return b"".join(self.flush_pieces())

    def flush_pieces(self) -> Iterator[bytes]:
        finish = cast(Callable[[], Iterator[bytes]], self._stream.finish)
        yield from finish()
        # Only a stream finished to its end gives its context back.
        if self._idle is not None:
            self._idle[self._settings] = self._context


class _Gzip:
    def __init__(self, level: int, threads: int, _entry: str) -> None:
        # Deflated on worker threads, pigz-style (see server/pipeline/deflate.py).
        self._stream = GzipStream(level, compression_workers(threads))

    def compress(self, data: bytes | memoryview) -> bytes:
        return self._stream.compress(data)

    def compress_pieces(self, data: bytes | memoryview) -> Iterable[bytes]:
        return (self._stream.compress(data),)

    def flush(self) -> bytes:
        return self._stream.flush()

    def flush_pieces(self) -> Iterable[bytes]:
        return (self.flush(),)


class _Identity:
    def __init__(self, _level: int, _threads: int, _entry: str) -> None:
        pass

    def compress(self, data: bytes | memoryview) -> bytes | memoryview:
        return data

    def compress_pieces(self, data: bytes | memoryview) -> Iterable[bytes | memoryview]:
        return (data,)

    def flush(self) -> bytes:
        return b""

    def flush_pieces(self) -> Iterable[bytes]:
        return ()


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
