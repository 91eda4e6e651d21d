"""Every registered encoder keeps the Encoder contract, which is all the pipeline asks of
it: its pieces joined are the bytes its `encode` returns, and its finish in pieces gives
the bytes of its `finish`. Each format is run twice side by side, one encoder through
the pipeline's calls, a twin through the plain ones, over the same batches."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from sluice.server.pipeline.encoder_contract import Encoder
from sluice.server.pipeline.encoders import ENCODERS, PARQUET_ROW_GROUPS_BEHIND, ChunkContext

ROWS = 3_000
SAMPLE = pl.DataFrame(
    {
        "id": pl.Series(range(ROWS), dtype=pl.Int64),
        "text": [
            None if n % 7 == 0 else f'row {n} \u00e9t\u00e9 "q" <a>&|\nline 🙂' for n in range(ROWS)
        ],
        "amount": [n / 3 if n % 5 else None for n in range(ROWS)],
        "ok": [n % 2 == 0 for n in range(ROWS)],
        "at": [datetime(2024, 5, 1, n % 24, n % 60, tzinfo=UTC) for n in range(ROWS)],
        "day": [date(2024, 1 + n % 12, 1 + n % 28) for n in range(ROWS)],
    }
)
#: Batches of different sizes, the last one empty: headers come with the first only, and
#: Parquet holds row groups back, so a later call returns an earlier batch's bytes.
BATCHES = (SAMPLE.slice(0, 1_000), SAMPLE.slice(1_000, 1_700), SAMPLE.slice(2_700), SAMPLE.clear())


def _made(name: str) -> Encoder:
    return ENCODERS[name].make(ChunkContext("exp-1", "events", 3, codec="zstd", level=3))


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_an_encoder_declares_the_contract(name: str) -> None:
    encoder = _made(name)
    try:
        # Declared, not merely shaped alike: the defaults of the capabilities it does
        # not do better come from the contract.
        assert Encoder in type(encoder).__mro__
    finally:
        encoder.close()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_an_encoders_pieces_are_its_plain_bytes(name: str) -> None:
    piecewise, plain = _made(name), _made(name)
    try:
        for batch in BATCHES:
            pieces = piecewise.encode_pieces(batch)
            assert isinstance(pieces, tuple)
            assert all(isinstance(piece, bytes | memoryview) for piece in pieces)
            # Segment sizes and byte budgets count len(piece): it must be bytes.
            assert all(len(piece) == memoryview(piece).nbytes for piece in pieces)
            assert b"".join(pieces) == plain.encode(batch)
    finally:
        piecewise.close()
        plain.close()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_an_encoders_finish_in_pieces_is_its_plain_finish(name: str) -> None:
    piecewise, plain = _made(name), _made(name)
    try:
        for batch in BATCHES:
            assert b"".join(piecewise.encode_pieces(batch)) == plain.encode(batch)
        tail = piecewise.finish_in_pieces()
        piecewise.close()  # what encode_chunks does next: the pieces must still come
        assert b"".join(tail) == plain.finish()
    finally:
        plain.close()


def test_a_parquet_tail_comes_row_group_by_row_group() -> None:
    """Each held-back row group is a piece of its own, the view of the file Arrow wrote,
    and the writer may take it once its worker is done: joined into one buffer, the
    writer could digest and store none of them before the last row group was made."""
    encoder = _made("parquet")
    for _ in range(PARQUET_ROW_GROUPS_BEHIND + 1):
        encoder.encode_pieces(SAMPLE)
    tail = list(encoder.finish_in_pieces())
    assert [type(piece) for piece in tail] == [memoryview] * PARQUET_ROW_GROUPS_BEHIND + [bytes]
    assert all(len(piece) > 10_000 for piece in tail[:-1])
    assert tail[-1].endswith(b"PAR1")


def test_a_large_ndjson_batch_comes_in_several_pieces() -> None:
    """The one encoder whose pieces are the point: were they joined again, the pieces
    test above would still pass; this one would not."""
    large = pl.concat([SAMPLE] * 60)
    assert len(_made("jsonl").encode_pieces(large)) > 1


def test_a_parquet_row_group_comes_as_a_view_of_the_file_arrow_wrote() -> None:
    """Its pieces are the point too: a row group cut out of its file and joined to the
    magic was copied once more, into fresh memory, for nothing."""
    encoder = _made("parquet")
    try:
        # The first row group comes back with the batch after those it holds back.
        calls = (SAMPLE,) * (PARQUET_ROW_GROUPS_BEHIND + 1)
        pieces = [piece for batch in calls for piece in encoder.encode_pieces(batch)]
        assert pieces[0] == b"PAR1"
        assert [type(piece) for piece in pieces[1:]] == [memoryview]
        assert len(pieces[1]) > 10_000
    finally:
        encoder.close()


def _mixed(rows: range) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "flag": [n % 3 == 0 for n in rows],
            "maybe": [None if n % 4 == 0 else n % 2 == 0 for n in rows],
            "id": list(rows),
            "name": [f"row{n:04d}" for n in rows],
            "device": [{"os": f"os{n}", "build": n} for n in rows],
            "tags": [None if n % 5 == 0 else [f"t{n}"] for n in rows],
        }
    )


@pytest.mark.parametrize("offset", [0, 3, 8, 16, 21])
def test_an_arrow_chunk_of_a_slice_is_the_chunk_of_a_frame_of_those_rows(offset: int) -> None:
    """A batch is often a slice of a larger frame; the bytes written must be those of its
    rows alone, whatever the offset: a resumed export stores the same chunks, and no
    chunk holds data (or a boolean's bit) of a row outside it."""
    rows = range(offset, offset + 20)

    def written(batch: pl.DataFrame) -> bytes:
        encoder = _made("arrow")
        try:
            return encoder.encode(batch) + encoder.finish()
        finally:
            encoder.close()

    assert written(_mixed(range(64)).slice(offset, len(rows))) == written(_mixed(rows))
