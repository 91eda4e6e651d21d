"""Deflate (for gzip and zip) on several cores, through zlib-ng, in the way pigz does.

The input is cut into fixed 1 MiB blocks. Each block is deflated on its own, by a pool
of worker threads (zlib-ng releases the GIL), with the 32 KiB before it as its
dictionary so compression barely suffers, and ends on a byte boundary (a sync flush), so
the blocks, concatenated in order, form one deflate stream; the last ends the stream.
Any gzip or unzip tool reads the result. Because blocks have a fixed size and each
depends only on its own bytes and the 32 KiB before them, the output is a function of
the input alone: not of how it was fed, nor of how many workers compressed it, as a
resumed chunk needs. zlib-ng writes the same formats as zlib in about half the CPU.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from zlib_ng import zlib_ng

BLOCK_BYTES: Final = 1024 * 1024
WINDOW_BYTES: Final = 32 * 1024
_RAW_WBITS: Final = -15
#: A gzip member header: deflate, no flags, no mtime (so the bytes depend on the data
#: alone), no extra flags, OS "unknown".
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def compression_workers(configured: int) -> int:
    """Worker threads per compressor: `configured`, or 0 for one per CPU this process
    may use."""
    if configured > 0:
        return configured
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _deflate_block(level: int, block: bytes, dictionary: bytes, last: bool) -> bytes:
    if dictionary:
        stream = zlib_ng.compressobj(level, zlib_ng.DEFLATED, _RAW_WBITS, zdict=dictionary)
    else:
        stream = zlib_ng.compressobj(level, zlib_ng.DEFLATED, _RAW_WBITS)
    return stream.compress(block) + stream.flush(zlib_ng.Z_FINISH if last else zlib_ng.Z_SYNC_FLUSH)


class ParallelDeflater:
    """A raw deflate stream of everything given to `compress`, closed by `flush`."""

    def __init__(self, level: int, workers: int) -> None:
        self._level = level
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="deflate")
        #: Blocks being compressed, in stream order; two per worker, at most 16 (MiB),
        #: and the caller waits when the workers fall behind.
        self._in_flight: deque[Future[bytes]] = deque()
        self._limit = min(2 * max(1, workers), 16)
        self._pending = bytearray()
        self._dictionary = b""
        #: Compressed blocks finished in order but not yet handed out.
        self._done: list[bytes] = []

    def compress(self, data: bytes | memoryview) -> bytes:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % BLOCK_BYTES
        with memoryview(self._pending) as pending:  # one copy per block, not two
            for start in range(0, whole, BLOCK_BYTES):
                self._submit(bytes(pending[start : start + BLOCK_BYTES]), last=False)
        del self._pending[:whole]
        return self._ready(wait=False)

    def flush(self) -> bytes:
        self._submit(bytes(self._pending), last=True)
        self._pending.clear()
        try:
            return self._ready(wait=True)
        finally:
            self._pool.shutdown(wait=False)

    def _submit(self, block: bytes, *, last: bool) -> None:
        future = self._pool.submit(_deflate_block, self._level, block, self._dictionary, last)
        self._in_flight.append(future)
        # Blocks before the last are whole (1 MiB), so their tail is the next window.
        self._dictionary = block[-WINDOW_BYTES:]
        while len(self._in_flight) > self._limit:
            # Let the workers catch up: wait for the oldest block.
            self._done.append(self._in_flight.popleft().result())

    def _ready(self, *, wait: bool) -> bytes:
        while self._in_flight and (wait or self._in_flight[0].done()):
            self._done.append(self._in_flight.popleft().result())
        out = b"".join(self._done)
        self._done.clear()
        return out


class GzipStream:
    """A gzip file (one member) of everything given to `compress`, closed by `flush`."""

    def __init__(self, level: int, workers: int) -> None:
        self._deflate = ParallelDeflater(level, workers)
        self._header = _GZIP_HEADER
        self._crc = 0
        self._size = 0

    def compress(self, data: bytes | memoryview) -> bytes:
        self._crc = zlib_ng.crc32(data, self._crc)
        self._size += len(data)
        head, self._header = self._header, b""
        return head + self._deflate.compress(data)

    def flush(self) -> bytes:
        head, self._header = self._header, b""
        trailer = struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)
        return head + self._deflate.flush() + trailer


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    return zlib_ng.crc32(data, value)
