"""The contract of a chunk encoder: what the pipeline may ask of every format.

Apart from the registry (encoders.py) so that the formats written in modules of their
own (XML, YAML, Markdown) can declare the contract without importing the registry that
imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import polars as pl


@dataclass(frozen=True)
class ChunkContext:
    export_id: str
    dataset: str
    index: int
    #: Parquet's internal codec ("zstd", "gzip", "none") and level; other formats ignore it.
    codec: str = "none"
    level: int | None = None
    #: Worker threads of encoders that use several (Parquet); 0: one per CPU this process
    #: may use (see parquet_workers). The bytes written do not depend on it.
    workers: int = 0
    #: Text cells a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, a tab or a
    #: carriage return first) start with `'`, which makes them text (OWASP's CSV
    #: injection advice): CSV files meant for spreadsheets (a GDPR package's). Other
    #: formats ignore it; a plain CSV export writes its values as they are.
    neutralise_formulas: bool = False


@dataclass(frozen=True)
class SizeEstimate:
    """What an encoder that holds records back knows of its chunk's size (see
    Encoder.size_estimate)."""

    #: Records given to `encode` whose bytes it has not returned yet.
    rows_held: int
    #: Encoded bytes per record, from the chunk's records whose bytes are made.
    bytes_per_row: float
    #: The bytes of the records held, when they are all made (a settled estimate).
    bytes_held: int | None = None


class Encoder(Protocol):
    """Turns record batches into the bytes of one chunk file.

    Every encoder declares the contract by subclassing it: `encode_pieces`,
    `finish_in_pieces`, `sample` and `size_estimate` are capabilities an encoder may do
    better than their defaults here, and the pipeline only calls them, never asks which
    encoder it holds.
    """

    def encode(self, batch: pl.DataFrame) -> bytes:
        """Bytes for these records (including any file header on the first call)."""
        ...

    def encode_pieces(self, batch: pl.DataFrame) -> tuple[bytes | memoryview, ...]:
        """`encode(batch)`, in the pieces the encoder made it in; joined, they are the
        same bytes. An encoder whose writer hands its output over in several buffers
        (NDJSON), or whose bytes are part of a larger buffer (Parquet's row group, a view
        of the file Arrow wrote), returns them as they are, so that no copy joins or cuts
        them: digests, compressors, ciphers and sinks take them one by one. The pieces
        must stay valid and unchanged after the call: the pipeline queues them while
        the encoder goes on, so an encoder may not reuse a buffer it handed over. By
        default, the one piece."""
        return (self.encode(batch),)

    def sample(self, rows: pl.DataFrame) -> None:
        """The chunk's first whole batch (`batch_rows` rows, fewer at the chunk's or the
        source's end), given before the first `encode` by a pipeline that cuts that batch
        smaller (EncoderKind.first_batch_rows): choices made once per chunk (Parquet's
        dictionaries) are made from it, as they were from the uncut batch. The rows are
        the ones the next calls encode, so the choice depends only on the chunk's rows.
        By default ignored."""

    def size_estimate(self, *, settled: bool = False) -> SizeEstimate | None:
        """For chunk sizes, when the encoder returns records' bytes only some calls later
        (Parquet's row groups, made on workers): how many records it holds and what a
        record costs so far, waiting for the first held records' bytes if none are made
        yet. `settled`: waits for every held record's bytes, which it gives exactly
        (bytes_held), and the bytes per row of the chunk's later records (the first ones
        can cost more: Parquet's small first row group). It depends only on the records
        given since the chunk's start, never on how fast workers were, so chunk
        boundaries stay a function of the rows. By default
        None: every call returned its records' bytes, which the chunk counts as they
        come."""
        return None

    def finish(self) -> bytes:
        """The file's closing bytes (a footer, a closing bracket), possibly empty."""
        ...

    def finish_in_pieces(self) -> Iterator[bytes | memoryview]:
        """`finish`'s bytes as pieces to be taken in order, on any thread, each once it is
        made: the pipeline's writer takes a Parquet chunk's held-back row groups one by one
        while the later ones are still being encoded, where a future of the whole tail
        kept it waiting for the last row group before it could digest and store the
        others. The encoder is spent at once, before the first piece is taken, so the
        caller may go on with the next chunk. By default, the one piece of `finish`, made
        at once."""
        return iter((self.finish(),))

    def close(self) -> None:
        """Let go of what the encoder holds (worker threads) without finishing the file.
        Safe to call after finish or finish_in_pieces, and more than once."""
        ...
