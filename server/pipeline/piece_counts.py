"""The rows of local CSV and NDJSON source files, counted piece by piece so that a stop
ends the count at once.

Polars counts a whole file in one call that nothing interrupts: on a multi-GB file
(a slow disk, a network mount) a cancel, a shutdown or a lost lease would wait minutes
for it. Here each file is read through the source's checked opening in blocks, cut
into pieces of whole records, and Polars counts each piece; the stop is checked before
every block.

A piece ends at a newline outside quotes, found the way Polars' own count finds it:
every quote character toggles quoting (a doubled quote toggles twice), so a newline is
outside quotes when the quotes before it are even in number. Each piece starts outside
quotes, as the file does, so the pieces' counts add up to Polars' count of the whole
file, with its rules kept: a CSV's blank lines count, its header line does not (only
the first piece has it); an NDJSON file's blank lines do not count.
"""

from __future__ import annotations

import gzip
import io
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Protocol

import polars as pl
import zstandard

from sluice.server.errors import Interrupted

#: Bytes read at a time: a stop waits for at most one such read (and its count).
COUNT_BLOCK_BYTES = 8 * 1024 * 1024
#: A memory cap: a piece (whole records) longer than this means an unbalanced quote
#: that runs on to the end of the file, or a record no sensible file holds; the count
#: gives up (0, unknown) rather than hold the rest of the file in memory.
MAX_PIECE_BYTES = 8 * COUNT_BLOCK_BYTES
#: Polars counts lines without parsing them when given a schema; one that infers a
#: schema from a piece could fail on a line the read would skip.
_ANY_COLUMN = pl.Schema({"_": pl.String()})
_BOM = b"\xef\xbb\xbf"
#: What an NDJSON line not ended within a block is counted as (record_pieces).
_LONG_LINE = b"{}"
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
#: zlib's second header byte for each compression level group, as Polars detects it.
_ZLIB_LEVELS = frozenset({b"\x01", b"\x9c", b"\xda"})


def count_file_rows(
    open_file: Callable[[str], IO[bytes]],
    files: Sequence[str],
    csv_separator: str | None,
    stop: threading.Event | None = None,
) -> int:
    """The rows of `files` (opened with `open_file`): CSV with `csv_separator`, or
    NDJSON when it is None. Raises Interrupted once `stop` is set."""
    total = 0
    for path in files:
        with open_file(path) as handle, _decompressed(handle) as plain:
            total += _rows_of(plain, csv_separator, stop)
    return total


class Readable(Protocol):
    """What counting needs of a file: reads of up to a size, b"" at its end."""

    def read(self, size: int = -1, /) -> bytes: ...


@contextmanager
def _decompressed(handle: IO[bytes]) -> Iterator[Readable]:
    """The file's records as bytes: a gzip, zstd or zlib file (which Polars reads by
    its magic bytes, whatever its name) decompressed as a stream, others as they are.
    Cut into pieces, compressed bytes would split frames at any 0x0A byte."""
    magic = handle.read(4)
    handle.seek(0)
    if magic[:2] == _GZIP:
        with gzip.GzipFile(fileobj=handle, mode="rb") as plain:
            yield plain
    elif magic == _ZSTD:
        with zstandard.ZstdDecompressor().stream_reader(handle, closefd=False) as stream:
            yield stream
    elif magic[:1] == b"x" and magic[1:2] in _ZLIB_LEVELS:
        yield _ZlibReader(handle)
    else:
        yield handle


class _ZlibReader(io.RawIOBase):
    """A zlib stream (Polars reads it by its header too) decompressed as it is read,
    at most `size` bytes (else a block) per read whatever the compression ratio: the
    compressed bytes not yet expanded wait for the next read. (Only the first of
    concatenated zlib streams is read, as by Polars.)"""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._zlib = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        limit = size if size > 0 else COUNT_BLOCK_BYTES
        while not self._zlib.eof:
            compressed = self._pending or self._handle.read(limit)
            if not compressed:
                return self._zlib.flush()
            plain = self._zlib.decompress(compressed, limit)
            self._pending = self._zlib.unconsumed_tail
            if plain:
                return plain
        return b""


def _rows_of(handle: Readable, csv_separator: str | None, stop: threading.Event | None) -> int:
    rows = 0
    header = csv_separator is not None
    quoted = csv_separator is not None
    for piece in record_pieces(handle, quoted, stop, COUNT_BLOCK_BYTES):
        if header and not piece.removeprefix(_BOM).strip(b"\r\n"):
            continue  # empty lines before the header, which Polars passes over too
        if csv_separator is None:
            counted = pl.scan_ndjson(piece, schema=_ANY_COLUMN)
        else:
            counted = pl.scan_csv(
                piece, has_header=header, separator=csv_separator, schema=_ANY_COLUMN
            )
        rows += int(counted.select(pl.len()).collect().item())
        header = False
    return rows


def record_pieces(
    handle: Readable, quoted: bool, stop: threading.Event | None, block_bytes: int
) -> Iterator[bytes]:
    """The file's bytes in pieces that each end after a newline outside quotes (only
    the last may end otherwise), read `block_bytes` at a time. Raises Interrupted once
    `stop` is set, ValueError for a piece longer than MAX_PIECE_BYTES.

    Unquoted (NDJSON), a line is counted whatever its bytes, if not blank: a line
    longer than a block is passed on as a stand-in (_LONG_LINE, or nothing while it
    is blank) and its end, so a file without newlines is counted holding a block or
    two (it held MAX_PIECE_BYTES in copies, +159 MiB of the daemon's peak, and gave up)."""
    carry = b""
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("export interrupted while counting the source's rows")
        block = handle.read(block_bytes)
        if not block:
            break
        if carry is _LONG_LINE:
            # The rest of a long line: its stand-in is enough (nor held, nor copied).
            ends = block.find(b"\n")
            block = block[ends:] if ends >= 0 else b""
        data = carry + block if carry else block
        end = _records_end(data, quoted)
        if end == 0:
            if not quoted:
                carry = _LONG_LINE if carry is _LONG_LINE or data.strip() else b""
                continue
            if len(data) > MAX_PIECE_BYTES:
                raise ValueError("no record ends within MAX_PIECE_BYTES (unbalanced quote?)")
            carry = data
            continue
        yield data[:end]
        carry = data[end:]
    if carry:
        yield carry


def _records_end(data: bytes, quoted: bool) -> int:
    """The index just after the last newline in `data` that ends a record (0: none),
    `data` starting outside quotes."""
    end = data.rfind(b"\n") + 1
    if not quoted or end == 0 or b'"' not in data:
        return end
    quotes = data.count(b'"', 0, end)
    # Odd: that newline is inside a quoted value; step back a newline at a time.
    while end and quotes % 2:
        previous = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', previous, end)
        end = previous
    return end
