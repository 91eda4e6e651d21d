"""Writing a chunk as a zip archive with one deflated entry, as a stream: the local
header first, the entry data as it is compressed, then a data descriptor (sizes and
CRC are only known at the end) and the central directory. With a password the entry
is WinZip AE-2 (AES-256) encrypted, which 7-Zip and WinZip open.

The local header always carries a Zip64 field: while streaming, nobody knows yet
whether the entry will pass 4 GiB, and the format allows Zip64 for any size. The
central directory uses Zip64 only when a size or offset needs it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from sluice.format.winzip_aes import AesEntryEncryptor
from sluice.format.zip_spec import (
    AES_EXTRA,
    CENTRAL_SIGNATURE,
    DESCRIPTOR_SIGNATURE,
    END_SIGNATURE,
    FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED,
    FLAG_UTF8,
    LIMIT_32,
    LOCAL_HEADER_SIGNATURE,
    METHOD_AES,
    METHOD_DEFLATE,
    ZIP64_END_SIGNATURE,
    ZIP64_EXTRA,
    ZIP64_LOCATOR_SIGNATURE,
)
from sluice.server.pipeline.deflate import ParallelDeflater, compression_workers, crc32

#: 1980-01-01 00:00, the earliest DOS date: a fixed time keeps unencrypted chunks
#: byte-identical when a resumed export writes them again.
DOS_TIME, DOS_DATE = 0, (1 << 5) | 1
_VERSION_ZIP64, _VERSION_AES = 45, 51
_MADE_BY_UNIX = 3 << 8
_FILE_MODE = 0o100644


def aes_extra_field() -> bytes:
    # AE-2 (vendor version 2: CRC not stored), vendor "AE", strength 3 = AES-256.
    return struct.pack("<HHH2sBH", AES_EXTRA, 7, 2, b"AE", 3, METHOD_DEFLATE)


class ZipCompressor:
    """One zip archive holding one deflated (optionally AES-256) entry; a `Compressor`."""

    def __init__(
        self, level: int, threads: int, entry_name: str = "data", *, password: bytes = b""
    ) -> None:
        self._deflate = ParallelDeflater(level, compression_workers(threads))
        self._name = entry_name.encode()
        self._aes = AesEntryEncryptor(password) if password else None
        self._crc = 0
        self._plain_size = 0
        self._stored_size = 0
        self._started = False

    @property
    def _flags(self) -> int:
        return FLAG_DATA_DESCRIPTOR | FLAG_UTF8 | (FLAG_ENCRYPTED if self._aes else 0)

    @property
    def _method(self) -> int:
        return METHOD_AES if self._aes else METHOD_DEFLATE

    @property
    def _version(self) -> int:
        return _VERSION_AES if self._aes else _VERSION_ZIP64

    def compress(self, data: bytes | memoryview) -> bytes:
        self._crc = crc32(data, self._crc)
        self._plain_size += len(data)
        return self._start() + self._store(self._deflate.compress(data))

    def compress_pieces(self, data: bytes | memoryview) -> Iterable[bytes]:
        return (self.compress(data),)

    def flush(self) -> bytes:
        parts = [self._start(), self._store(self._deflate.flush())]
        if self._aes is not None:
            code = self._aes.auth_code()
            self._stored_size += len(code)
            parts.append(code)
        # AE-2 stores no CRC: the HMAC authenticates the data instead.
        crc = 0 if self._aes else self._crc
        parts.append(
            struct.pack("<IIQQ", DESCRIPTOR_SIGNATURE, crc, self._stored_size, self._plain_size)
        )
        descriptor_end = self._local_header_size() + self._stored_size + 24
        parts.append(self._central_directory(crc, descriptor_end))
        return b"".join(parts)

    def flush_pieces(self) -> Iterable[bytes]:
        return (self.flush(),)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        header = self._local_header()
        if self._aes is None:
            return header
        self._stored_size += len(self._aes.prefix)
        return header + self._aes.prefix

    def _store(self, compressed: bytes) -> bytes:
        if self._aes is not None and compressed:
            compressed = self._aes.encrypt(compressed)
        self._stored_size += len(compressed)
        return compressed

    def _local_extra(self) -> bytes:
        extra = struct.pack("<HHQQ", ZIP64_EXTRA, 16, 0, 0)
        return extra + (aes_extra_field() if self._aes else b"")

    def _local_header_size(self) -> int:
        return 30 + len(self._name) + len(self._local_extra())

    def _local_header(self) -> bytes:
        extra = self._local_extra()
        return (
            struct.pack(
                "<IHHHHHIIIHH",
                LOCAL_HEADER_SIGNATURE,
                self._version,
                self._flags,
                self._method,
                DOS_TIME,
                DOS_DATE,
                0,
                LIMIT_32,
                LIMIT_32,
                len(self._name),
                len(extra),
            )
            + self._name
            + extra
        )

    def _central_directory(self, crc: int, directory_offset: int) -> bytes:
        big = [v for v in (self._plain_size, self._stored_size) if v >= LIMIT_32]
        zip64 = struct.pack(f"<HH{len(big)}Q", ZIP64_EXTRA, 8 * len(big), *big) if big else b""
        extra = zip64 + (aes_extra_field() if self._aes else b"")
        entry = (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                CENTRAL_SIGNATURE,
                _MADE_BY_UNIX | 63,
                self._version,
                self._flags,
                self._method,
                DOS_TIME,
                DOS_DATE,
                crc,
                min(self._stored_size, LIMIT_32),
                min(self._plain_size, LIMIT_32),
                len(self._name),
                len(extra),
                0,
                0,
                0,
                _FILE_MODE << 16,
                0,  # the local header is at the start of the archive
            )
            + self._name
            + extra
        )
        return entry + _end_records(len(entry), directory_offset)


def _end_records(directory_size: int, directory_offset: int) -> bytes:
    """End of central directory, preceded by the Zip64 end records when the offset
    does not fit in 32 bits."""
    records = b""
    if directory_offset >= LIMIT_32:
        zip64_end_offset = directory_offset + directory_size
        records += struct.pack(
            "<IQHHIIQQQQ",
            ZIP64_END_SIGNATURE,
            44,
            _MADE_BY_UNIX | 63,
            _VERSION_ZIP64,
            0,
            0,
            1,
            1,
            directory_size,
            directory_offset,
        )
        records += struct.pack("<IIQI", ZIP64_LOCATOR_SIGNATURE, 0, zip64_end_offset, 1)
    return records + struct.pack(
        "<IHHHHIIH",
        END_SIGNATURE,
        0,
        0,
        1,
        1,
        directory_size,
        min(directory_offset, LIMIT_32),
        0,
    )
