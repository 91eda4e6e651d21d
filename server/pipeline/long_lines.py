"""A text line longer than a read, measured before it is held.

A file without newlines (concatenated JSON objects, one huge line) was carried read by
read until max_record_bytes refused it: a 300 MB one-line NDJSON file took the daemon
from 202 MB to 458 MB resident while being planned, and to 748 MB when it was a glob's
second file, and the heap kept most of it after the refusal. Here a line longer than a
read is scanned for its end first, a small read at a time, nothing kept: past the limit
it is refused having held one read; within it, it is read once more, whole (a line that
long is read twice, its bytes held once).
"""

from __future__ import annotations

from typing import IO, Final

#: Bytes read at a time while looking for a long line's end.
SCAN_READ_BYTES: Final = 1024 * 1024


def line_end(handle: IO[bytes], start: int, limit: int) -> int | None:
    """The offset of the newline ending the line that starts at byte `start` (the
    file's size for a last line without one), if it is at most `limit`; else None. The
    handle is left anywhere."""
    handle.seek(start)
    offset = start
    while offset <= limit:
        data = handle.read(min(SCAN_READ_BYTES, limit + 1 - offset))
        if not data:
            return offset
        cut = data.find(b"\n")
        if cut >= 0:
            return offset + cut
        offset += len(data)
    return None


def read_line(handle: IO[bytes], start: int, end: int) -> bytes:
    """The bytes [start, end) (a line found with line_end), the handle left after the
    newline at `end` (or at the file's end)."""
    handle.seek(start)
    return handle.read(end + 1 - start)[: end - start]
