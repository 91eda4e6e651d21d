"""NDJSON segments travel as the pieces Polars' writer made them in (no copy joins
them); the chunk stored from them is the one stored from the joined bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.compressors import COMPRESSORS
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext
from sluice.server.pipeline.open_chunk import OpenChunk
from sluice.server.pipeline.stages import NO_CIPHER
from sluice.sinks.memory import MemorySink

ROWS = 200_000
FRAME = pl.DataFrame(
    {
        "id": range(ROWS),
        "message": [f'row {n} \u00e9t\u00e9 "quoted"\nline' for n in range(ROWS)],
        "at": [datetime(2024, 5, 1, n % 24, tzinfo=UTC) for n in range(ROWS)],
    }
)
CONTEXT = ChunkContext("exp-1", "events", 0)


def test_ndjson_pieces_joined_are_the_encoded_bytes() -> None:
    pieces = ENCODERS["jsonl"].make(CONTEXT).encode_pieces(FRAME)

    # A batch this size comes from Polars' writer in several buffers, kept apart.
    assert len(pieces) > 1
    # Polars' own NDJSON of the batch (temporals as text), written the plain way.
    assert b"".join(pieces) == temporal_as_text(FRAME).write_ndjson().encode()
    assert b"".join(pieces).count(b"\n") == ROWS


def test_other_encoders_hand_over_one_piece() -> None:
    (piece,) = ENCODERS["csv"].make(CONTEXT).encode_pieces(FRAME)

    assert piece == ENCODERS["csv"].make(CONTEXT).encode(FRAME)


def _stored(pieces: list[bytes], compression: str, *, joined: bool) -> tuple[bytes, str, str]:
    sink = MemorySink()
    kind = COMPRESSORS[compression]
    chunk = OpenChunk(
        0,
        sink.create("part-000000.jsonl", overwrite=True),
        kind.make(kind.default_level, 2, "part-000000.jsonl"),
        NO_CIPHER.make(),
        b"k" * 32,
    )
    if joined:
        chunk.write(b"".join(pieces), ROWS)
    else:
        chunk.write_pieces(pieces, ROWS)
    chunk.close()
    chunk.writer.commit()
    with sink.open("part-000000.jsonl") as stored:
        data = stored.read()
    assert chunk.records == ROWS
    return data, chunk.sha256.hexdigest(), chunk.content.hexdigest()


@pytest.mark.parametrize("compression", ["zstd", "gzip", "zip", "none"])
def test_a_chunk_written_in_pieces_is_the_chunk_written_joined(compression: str) -> None:
    pieces = list(ENCODERS["jsonl"].make(CONTEXT).encode_pieces(FRAME))

    assert _stored(pieces, compression, joined=False) == _stored(pieces, compression, joined=True)
