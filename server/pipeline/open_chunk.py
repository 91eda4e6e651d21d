"""One object being written the way chunks are: plaintext -> compressor -> cipher ->
store, hashing the stored bytes (sha256) and, keyed, the plaintext on the way. Chunks use
it from the writer thread; a keyed export's tombstones use it directly."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sluice.server.pipeline.compressors import COMPRESSORS, Compressor
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.pipeline.content_hasher import ContentHasher
from sluice.server.pipeline.stages import Cipher
from sluice.sinks.base import SinkWriter


def make_compressor(config: PipelineConfig, zstd_threads: int, stem: str) -> Compressor:
    """The compressor of the data file `stem` ("part-000003", "tombstones"). A zip names
    its entry after the file, so chunks unzipped into one folder never overwrite each
    other."""
    kind = config.compressor
    if config.encoder.internal_compression:
        kind = COMPRESSORS["none"]
    return kind.make(config.level, zstd_threads, f"{stem}.{config.encoder.extension}")


class OpenChunk:
    """A chunk being written: plaintext -> compressor -> cipher -> store, hashing the
    stored bytes and, keyed, the plaintext on the way."""

    def __init__(
        self,
        index: int,
        writer: SinkWriter,
        compressor: Compressor,
        cipher: Cipher,
        content_key: bytes,
    ) -> None:
        self.index = index
        self.writer = writer
        self.compressor = compressor
        self.cipher = cipher
        self.sha256 = hashlib.sha256()
        self.content = ContentHasher(content_key)
        self.records = 0
        self.stored = 0

    def write(self, plaintext: bytes | memoryview, records: int) -> None:
        self.records += records
        if plaintext:
            self.content.update(plaintext)
            # The compressor's output in its pieces (zstd: 256 KiB ones), each sealed
            # and stored as it comes: digests, ciphers and stores are streams.
            for compressed in self.compressor.compress_pieces(plaintext):
                self._seal(compressed)

    def write_pieces(self, pieces: Sequence[bytes | memoryview], records: int) -> None:
        """`write` of the pieces joined, without joining them: digests and compressors
        are streams, whose output does not depend on how their input is fed."""
        self.records += records
        for piece in pieces:
            self.write(piece, 0)

    def close(self) -> None:
        """Flush the compressor, then finish the cipher (its tag comes last)."""
        for compressed in self.compressor.flush_pieces():
            self._seal(compressed)
        self.write_stored(self.cipher.finish())

    def _seal(self, compressed: bytes | memoryview) -> None:
        # In the cipher's pieces (age: its 64 KiB segments), each stored as it is: one
        # join of them was a copy of the compressor's output into fresh memory.
        if compressed:
            for piece in self.cipher.encrypt_pieces(compressed):
                self.write_stored(piece)

    def write_stored(self, data: bytes | memoryview) -> None:
        if data:
            self.sha256.update(data)
            self.writer.write(data)
            self.stored += len(data)
