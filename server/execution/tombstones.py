"""Tombstones: the deletions a key-only incremental export found, as one data file beside
its chunks, `tombstones.<ext>` with the chunks' format, compression and encryption (it
holds exported key values, so it is protected like the data). Each record is the deleted
row's key columns, as the consumer received them, plus `__sluice_op` = "delete"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from sluice.format.layout import TOMBSTONES_STEM
from sluice.format.stored_objects import TombstonesEntry
from sluice.server.keyindex.digests import key_struct_type
from sluice.server.pipeline.encoder_contract import Encoder
from sluice.server.pipeline.open_chunk import OpenChunk, make_compressor
from sluice.server.planning.plan import ExportPlan
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, join_key

OP_COLUMN = "__sluice_op"
DELETE = "delete"
#: The chunk index encoders see for the tombstone file (formats that record one).
_TOMBSTONE_INDEX = -1


@dataclass(frozen=True)
class StoredTombstones:
    path: str
    records: int
    stored_bytes: int
    sha256: str
    content_digest: str

    def entry(self, key: Sequence[str]) -> TombstonesEntry:
        """The manifest's "tombstones" entry."""
        return TombstonesEntry(
            self.path,
            self.records,
            self.stored_bytes,
            self.sha256,
            self.content_digest,
            tuple(key),
            OP_COLUMN,
            DELETE,
        )


class TombstoneWriter:
    """Collects deleted keys (as the exported-key JSON the index sealed) into the
    tombstone file, opened only when the first deletion arrives."""

    def __init__(self, plan: ExportPlan, sink: Sink, content_key: bytes, zstd_threads: int):
        self._plan = plan
        self._sink = sink
        self._content_key = content_key
        self._zstd_threads = zstd_threads
        key = plan.increment.key
        self._key_type = key_struct_type(key, plan.schema)
        #: Binary key columns, sealed as hex text (key_json).
        self._binary = [k for k in key if plan.schema[k] == pl.Binary]
        self._open: tuple[OpenChunk, Encoder] | None = None

    @property
    def name(self) -> str:
        return self._plan.pipeline.data_file_name(TOMBSTONES_STEM)

    def add(self, keys: list[str]) -> None:
        if not keys:
            return
        frame = (
            pl.Series("key", keys, dtype=pl.String)
            .str.json_decode(self._key_type)
            .struct.unnest()
            .with_columns(
                *(pl.col(k).str.decode("hex") for k in self._binary),
                pl.lit(DELETE).alias(OP_COLUMN),
            )
        )
        chunk, encoder = self._file()
        chunk.write(encoder.encode(frame), frame.height)

    def commit(self) -> StoredTombstones | None:
        if self._open is None:
            return None
        chunk, encoder = self._open
        chunk.write(encoder.finish(), 0)
        chunk.close()
        with storage_errors():
            chunk.writer.commit()
        self._open = None
        return StoredTombstones(
            self.name,
            chunk.records,
            chunk.stored,
            chunk.sha256.hexdigest(),
            chunk.content.text(),
        )

    def abort(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open[0].writer.abort()
            self._open = None

    def _file(self) -> tuple[OpenChunk, Encoder]:
        if self._open is None:
            config = self._plan.pipeline
            with storage_errors():
                writer = self._sink.create(join_key(config.prefix, self.name), overwrite=True)
            context = config.chunk_context(_TOMBSTONE_INDEX, self._zstd_threads)
            encoder = config.encoder.make(context)
            chunk = OpenChunk(
                _TOMBSTONE_INDEX,
                writer,
                make_compressor(config, self._zstd_threads, TOMBSTONES_STEM),
                config.cipher.make(),
                self._content_key,
            )
            self._open = (chunk, encoder)
        return self._open
