"""CSV and NDJSON files read as they were when the export journalled them.

A log is appended to while it is exported. Reading to its end as it goes would export
a different set of rows on every attempt (some of the rows appended meanwhile, cut
wherever each read happened to stop, a half-written last line included), and a resume
could never match what the first run read. So a run reads each text file only up to
the size its run facts journalled (server/execution/run_facts.py) — a consistent
snapshot; the rows appended since are the next export's. When the file has grown past
that size, the bytes after the last newline within it are the start of a line still
being written: they are left out too, for that line ends after the snapshot.

Parquet and Arrow files are not bounded: their footer is at the end, so one that changed
is a different file (refused on resume, or unreadable), never a longer one.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import IO

#: Formats read line by line, where a longer file is the same file with rows appended.
APPENDABLE_FORMATS = frozenset({"csv", "ndjson"})
#: Compressed files are cut at the snapshot's size only (a newline byte means nothing).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
#: Bytes looked back at a time for the last newline before the snapshot's end.
_LOOK_BACK = 64 * 1024


class SnapshotFile(io.RawIOBase):
    """The first `size` bytes of an open file: reads, seeks and the size stop there.
    The read that reaches the end settles it: when the file has grown past `size` by
    then, a text file's bytes after its last newline within `size` are left out (they
    begin a line still being written). Nothing more is read than the reader asks for,
    but for that look back."""

    def __init__(self, handle: IO[bytes], path: str, size: int) -> None:
        super().__init__()
        self._handle = handle
        self._size = size
        self._end: int | None = None
        self._position = 0
        # Readers name a file by its path (CSV: a .tsv file has tabs).
        self.path = self.name = path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            base = self._settled_end()
        else:
            base = self._position if whence == os.SEEK_CUR else 0
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        # The underlying file's own bytes, not copied through readinto.
        end = self._size if self._end is None else self._end
        if self._end is None and (size < 0 or self._position + size >= end):
            end = self._settled_end()
        wanted = end - self._position if size < 0 else min(size, end - self._position)
        if wanted <= 0:
            return b""
        self._handle.seek(self._position)
        data = self._handle.read(wanted)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()

    def _settled_end(self) -> int:
        if self._end is None:
            self._end = self._size
            if self._handle.seek(0, os.SEEK_END) > self._size:
                self._handle.seek(0)
                head = self._handle.read(4)
                if not any(head.startswith(magic) for magic in _COMPRESSED_MAGIC):
                    self._end = _after_last_newline(self._handle, self._size)
        return self._end


def snapshot(handle: IO[bytes], path: str, size: int) -> IO[bytes]:
    """`handle` (of the file at `path`) read as the file was at `size` bytes (see the
    module's note)."""
    bounded: IO[bytes] = SnapshotFile(handle, path, size)  # type: ignore[assignment]
    return bounded


def snapshot_opener(
    open_file: Callable[[str], IO[bytes]], sizes: dict[str, int]
) -> Callable[[str], IO[bytes]]:
    """`open_file`, with each file of `sizes` read as it was at that size."""

    def open_snapshot(path: str) -> IO[bytes]:
        handle = open_file(path)
        size = sizes.get(path)
        return handle if size is None else snapshot(handle, path, size)

    return open_snapshot


def _after_last_newline(handle: IO[bytes], size: int) -> int:
    """The offset after the last b"\\n" in the first `size` bytes (0: none)."""
    end = size
    while end > 0:
        start = max(0, end - _LOOK_BACK)
        handle.seek(start)
        block = handle.read(end - start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
