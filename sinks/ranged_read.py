"""Reading a stored object in ranges, so a reader never holds more than one block and a
connection reset costs one range: each range is its own request, retried here (the reads
happen after open() returned, outside any retry wrapper around the sink).

The file is seekable, because columnar sources need it: a Parquet reader reads the footer
at the end first, then only the column chunks it wants, each a ranged request.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from sluice.sinks.retry import RetryPolicy, retry_call

#: Bytes per ranged request.
BLOCK_BYTES = 8 * 1024 * 1024


class _RangedRaw(io.RawIOBase):
    """Fetches a block at the read position and serves reads of any size from it, so
    sequential reading makes size / block requests whatever sizes the caller reads in."""

    def __init__(
        self,
        size: int,
        fetch: Callable[[int, int], bytes],
        block: int,
        policy: RetryPolicy,
        name: str,
    ) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._block = block
        self._policy = policy
        #: Shown by readers that name what they read (and used to tell .tsv from .csv).
        self.name = name
        self._position = 0
        self._block_start = 0
        self._data = memoryview(b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        if whence not in bases:
            raise ValueError(f"invalid whence {whence}")
        target = bases[whence] + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        available = self._available()
        count = min(len(buffer), len(available))
        buffer[:count] = available[:count]
        self._position += count
        return count

    def readall(self) -> bytes:
        parts = []
        while available := self._available():
            parts.append(bytes(available))
            self._position += len(available)
        return b"".join(parts)

    def _available(self) -> memoryview:
        """The bytes from the read position to the end of its block, fetching the block
        when the position left the current one; empty at the end of the object."""
        if self._position >= self._size:
            return memoryview(b"")
        offset = self._position - self._block_start
        if not 0 <= offset < len(self._data):
            position, wanted = self._position, min(self._block, self._size - self._position)
            data = retry_call(lambda: self._fetch(position, wanted), self._policy, describe="read")
            if not data:
                raise OSError(f"object ended at byte {position} of {self._size}")
            self._block_start, self._data, offset = position, memoryview(data), 0
        return self._data[offset:]


class RangedObject(io.BufferedReader):
    """A stored object open for ranged reads, with the version open() found it at (S3's
    ETag, Azure's etag; "" when the store did not say): what tells a reader that the
    object it reads is not the one it read before, even at the same size."""

    def __init__(self, raw: _RangedRaw, version: str) -> None:
        super().__init__(raw)
        self.version = version


def ranged_reader(
    size: int,
    fetch: Callable[[int, int], bytes],
    block: int = BLOCK_BYTES,
    policy: RetryPolicy | None = None,
    name: str = "",
    version: str = "",
) -> RangedObject:
    """A buffered, seekable binary file over `fetch(offset, length) -> bytes`; transient
    failures of a range are retried with backoff and jitter."""
    raw = _RangedRaw(size, fetch, block, policy or RetryPolicy(), name)
    return RangedObject(raw, version)
