"""Reading a stored object in ranges, so a reader never holds more than one block and a
connection reset costs one range: each range is its own request, retried here (the reads
happen after open() returned, outside any retry wrapper around the sink)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO, cast

from sinks.retry import RetryPolicy, retry_call

#: Bytes per ranged request.
BLOCK_BYTES = 8 * 1024 * 1024


class _RangedRaw(io.RawIOBase):
    """Fetches whole blocks and serves reads of any size from the current one, so the
    number of requests is size / block whatever sizes the caller reads in."""

    def __init__(
        self, size: int, fetch: Callable[[int, int], bytes], block: int, policy: RetryPolicy
    ) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._block = block
        self._policy = policy
        self._position = 0
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and not self._next_block():
            return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def readall(self) -> bytes:
        parts = [bytes(self._pending)]
        self._pending = memoryview(b"")
        while self._next_block():
            parts.append(bytes(self._pending))
            self._pending = memoryview(b"")
        return b"".join(parts)

    def _next_block(self) -> bool:
        if self._position >= self._size:
            return False
        position, wanted = self._position, min(self._block, self._size - self._position)
        data = retry_call(lambda: self._fetch(position, wanted), self._policy, describe="read")
        if not data:
            raise OSError(f"object ended at byte {position} of {self._size}")
        self._pending = memoryview(data)
        self._position += len(data)
        return True


def ranged_reader(
    size: int,
    fetch: Callable[[int, int], bytes],
    block: int = BLOCK_BYTES,
    policy: RetryPolicy | None = None,
) -> BinaryIO:
    """A buffered binary file over `fetch(offset, length) -> bytes`; transient failures of
    a range are retried with backoff and jitter."""
    return cast(BinaryIO, _RangedRaw(size, fetch, block, policy or RetryPolicy()))
