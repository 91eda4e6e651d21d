"""Compressed files under a plain name (`events.csv` holding gzip): recognised by their
first bytes and refused, never read.

Polars sniffs the magic bytes, so such a file passed planning; counting its rows then
decompressed it whole, and the reader failed it tens of seconds later (a CSV with a
misleading parse error, an NDJSON one as an internal error at 1.5 GB). Sources are read
as they are named: a compressed file must be decompressed first."""

from __future__ import annotations

import re
from typing import IO

#: First bytes of the compressed formats a text source might hold, and their names
#: (none of them can start UTF-8 text).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
)
#: bzip2's "BZh" is plain text ("BZhours,total" is a CSV header): only with a block size
#: digit and its first block's own magic (the digits of pi, "1AY&SY") is it bzip2.
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
#: Bytes that hold every magic above.
MAGIC_BYTES = 10


def compression_of(head: bytes) -> str | None:
    """The compressed format whose magic `head` starts with, else None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if _BZIP2.match(head):
        return "bzip2"
    return None


def sniffed(handle: IO[bytes]) -> str | None:
    """The compressed format of the file open in `handle` (read from its start; the
    handle is left at its start)."""
    handle.seek(0)
    head = handle.read(MAGIC_BYTES)
    handle.seek(0)
    return compression_of(head)


def refusal(file: str, compression: str) -> str:
    """Why such a file is not read, and what to do instead."""
    return (
        f"{file} is {compression}-compressed, which CSV and NDJSON sources are not: "
        "decompress it first (sources are read as their names say)"
    )
