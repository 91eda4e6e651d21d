"""Reading a chunk written by the zip compressor (or any zip with one deflated entry, plain
or WinZip AES): sizes come from the central directory, the data is streamed, and the
entry is checked (CRC-32, or the AES authentication code) when it ends."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sluice.format.winzip_aes import (
    AUTH_CODE_SIZE,
    OVERHEAD,
    SALT_SIZE,
    VERIFIER_SIZE,
    AesEntryDecryptor,
)
from sluice.format.zip_spec import (
    AES_EXTRA,
    CENTRAL_SIGNATURE,
    END_SIGNATURE,
    LIMIT_32,
    LOCAL_HEADER_SIGNATURE,
    METHOD_AES,
    METHOD_DEFLATE,
    ZIP64_EXTRA,
    ZIP64_LOCATOR_SIGNATURE,
)

_READ_SIZE = 1 << 20
_END_SIZE = 22
_STORED = 0


class ZipFormatError(ValueError):
    """Not a readable single-entry zip, a wrong password, or a damaged entry."""


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    encrypted: bool
    crc: int
    stored_size: int
    plain_size: int


def _find_central_directory(stream: BinaryIO) -> tuple[int, int]:
    stream.seek(0, 2)
    size = stream.tell()
    window = min(size, 65536 + _END_SIZE)
    stream.seek(size - window)
    tail = stream.read(window)
    at = tail.rfind(struct.pack("<I", END_SIGNATURE))
    if at < 0 or len(tail) - at < _END_SIZE:
        raise ZipFormatError("not a zip archive (no end of central directory)")
    _sig, _d, _cd, _n, entries, dir_size, dir_offset, _c = struct.unpack_from("<IHHHHIIH", tail, at)
    if entries != 1:
        raise ZipFormatError(f"expected one entry per chunk, found {entries}")
    if dir_offset == LIMIT_32:
        locator = at - 20
        if locator < 0 or struct.unpack_from("<I", tail, locator)[0] != ZIP64_LOCATOR_SIGNATURE:
            raise ZipFormatError("damaged Zip64 end records")
        (end64,) = struct.unpack_from("<Q", tail, locator + 8)
        stream.seek(end64)
        record = stream.read(56)
        if len(record) != 56:
            raise ZipFormatError("damaged Zip64 end records")
        dir_size, dir_offset = struct.unpack_from("<QQ", record, 40)
    return dir_offset, dir_size


def read_entry(stream: BinaryIO) -> ZipEntry:
    offset, size = _find_central_directory(stream)
    stream.seek(offset)
    record = stream.read(size)
    if len(record) < 46 or struct.unpack_from("<I", record)[0] != CENTRAL_SIGNATURE:
        raise ZipFormatError("damaged central directory")
    (flags, method, _t, _d, crc, stored, plain, name_len, extra_len) = struct.unpack_from(
        "<HHHHIIIHH", record, 8
    )
    (local_offset,) = struct.unpack_from("<I", record, 42)
    name = record[46 : 46 + name_len].decode("utf-8", "replace")
    extra = record[46 + name_len : 46 + name_len + extra_len]
    encrypted = bool(flags & 1)
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        body = extra[4 : 4 + length]
        if kind == ZIP64_EXTRA:
            values = list(struct.unpack(f"<{length // 8}Q", body[: length // 8 * 8]))
            if plain == LIMIT_32 and values:
                plain = values.pop(0)
            if stored == LIMIT_32 and values:
                stored = values.pop(0)
        elif kind == AES_EXTRA and method == METHOD_AES:
            if length != 7 or body[4] != 3:
                raise ZipFormatError("only AES-256 zip encryption is supported")
            (method,) = struct.unpack_from("<H", body, 5)
        extra = extra[4 + length :]
    if local_offset != 0:
        raise ZipFormatError("the entry does not start the archive")
    if encrypted and stored < OVERHEAD:
        raise ZipFormatError("truncated encrypted entry")
    return ZipEntry(name, method, encrypted, crc, stored, plain)


def _read_exactly(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while size > 0:
        piece = stream.read(min(size, _READ_SIZE))
        if not piece:
            raise ZipFormatError("truncated zip entry")
        size -= len(piece)
        yield piece


def read_zip(stream: BinaryIO, password: bytes = b"") -> Iterator[bytes]:
    """The entry's plaintext, in pieces. Only when the iterator ends has the entry been
    authenticated (AES) or CRC-checked; a failure raises ZipFormatError."""
    entry = read_entry(stream)
    if entry.encrypted and not password:
        raise ZipFormatError("the chunk is password-protected; give the zip password")
    if entry.method not in {METHOD_DEFLATE, _STORED}:
        raise ZipFormatError(f"unsupported zip compression method {entry.method}")
    stream.seek(0)
    local = stream.read(30)
    if len(local) != 30 or struct.unpack_from("<I", local)[0] != LOCAL_HEADER_SIGNATURE:
        raise ZipFormatError("damaged local header")
    name_len, extra_len = struct.unpack_from("<HH", local, 26)
    stream.seek(30 + name_len + extra_len)
    data_size = entry.stored_size
    decryptor = None
    if entry.encrypted:
        prefix = stream.read(SALT_SIZE + VERIFIER_SIZE)
        try:
            decryptor = AesEntryDecryptor(password, prefix)
        except ValueError:
            raise ZipFormatError("wrong zip password") from None
        data_size -= OVERHEAD
    inflate = zlib.decompressobj(-15) if entry.method == METHOD_DEFLATE else None
    crc = 0
    produced = 0
    for piece in _read_exactly(stream, data_size):
        data = decryptor.decrypt(piece) if decryptor else piece
        try:
            plain = inflate.decompress(data) if inflate else data
        except zlib.error:
            raise ZipFormatError("damaged zip entry (deflate stream)") from None
        crc = zlib.crc32(plain, crc)
        produced += len(plain)
        yield plain
    if decryptor is not None:
        code = b"".join(_read_exactly(stream, AUTH_CODE_SIZE))
        if not decryptor.verify(code):
            raise ZipFormatError("the zip entry failed authentication (tampered)")
    elif crc != entry.crc:
        raise ZipFormatError("the zip entry failed its CRC check (damaged)")
    if inflate is not None and not inflate.eof:
        raise ZipFormatError("truncated deflate stream")
    if produced != entry.plain_size:
        raise ZipFormatError("the zip entry has the wrong size")
