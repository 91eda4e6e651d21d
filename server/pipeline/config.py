"""What one export's pipeline runs with: the source and its schema, the query and
redaction stages, encoder, compressor (and level) and cipher, chunk sizes and chunk
names. Planning builds it from a checked ExportPlan (`ExportPlan.pipeline`); the
pipeline reads nothing else of the request."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sluice.format import layout
from sluice.server.pipeline.compressors import CompressorKind
from sluice.server.pipeline.encoder_contract import ChunkContext
from sluice.server.pipeline.encoders import EncoderKind
from sluice.server.pipeline.query import CompiledQuery
from sluice.server.pipeline.source import ResolvedSource
from sluice.server.pipeline.stages import CipherKind, Redactor
from sluice.sinks.base import join_key


@dataclass(frozen=True)
class PipelineConfig:
    export_id: str
    #: The export's dataset, as encoders that record it (Parquet metadata) are told.
    dataset: str
    source: ResolvedSource
    #: Schema of the source as validated (the row index first).
    source_schema: pl.Schema
    #: Projection and predicate; its `cursor` is carried along for each chunk's maximum.
    query: CompiledQuery
    redactor: Redactor
    encoder: EncoderKind
    compressor: CompressorKind
    level: int
    cipher: CipherKind
    #: Object-key prefix of the export's files under the destination ("<dataset>/<id>").
    prefix: str
    chunk_target_bytes: int
    chunk_max_rows: int
    #: Said after the chunk number in its file name ("part-000002.orders.jsonl"): the
    #: part of a subject package the chunk belongs to ("" for a plain export).
    part_label: str = ""
    #: CSV cells read as formulas by spreadsheets made text (ChunkContext.neutralise_formulas).
    neutralise_formulas: bool = False

    def chunk_stem(self, index: int) -> str:
        return layout.chunk_stem(index, self.part_label)

    def chunk_name(self, index: int) -> str:
        """File name of chunk `index`, relative to the export folder."""
        return self.data_file_name(self.chunk_stem(index))

    def chunk_key(self, index: int) -> str:
        return join_key(self.prefix, self.chunk_name(index))

    def data_file_name(self, stem: str) -> str:
        """`stem` with the extensions of this export's format, compression and cipher."""
        outer = "" if self.encoder.internal_compression else self.compressor.extension
        return f"{stem}.{self.encoder.extension}{outer}{self.cipher.extension}"

    def chunk_context(self, index: int, workers: int = 0) -> ChunkContext:
        """What the encoder of chunk `index` (or of the tombstone file) is told; `workers`
        is the daemon's compression workers setting (0: one per CPU)."""
        return ChunkContext(
            export_id=self.export_id,
            dataset=self.dataset,
            index=index,
            codec=self.compressor.name,
            level=self.level if self.compressor.name != "none" else None,
            workers=workers,
            neutralise_formulas=self.neutralise_formulas,
        )
