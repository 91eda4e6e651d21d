"""The pieces added for throughput keep the pipeline's contracts: the prefetching
reader delivers every batch in order and stops cleanly, zstd output does not depend on
how many workers compressed it, and Parquet's per-column dictionary choice round-trips."""

from __future__ import annotations

import gzip
import io
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import zstandard

from sluice.client.demo_data import generate
from sluice.server.pipeline.compressors import COMPRESSORS
from sluice.server.pipeline.encoders import ChunkContext, ParquetEncoder
from sluice.server.pipeline.parquet_dictionary import dictionary_columns
from sluice.server.pipeline.prefetch import prefetched


class Tracked:
    """An iterator that records how far it was pulled and on which thread it closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.pulled = 0
        self.closed_on: str | None = None

    def __iter__(self) -> Iterator[int]:
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise ValueError(f"source broke at {number}")
                self.pulled = number + 1
                yield number
        finally:
            self.closed_on = threading.current_thread().name


def test_prefetch_delivers_every_item_in_order_and_closes_on_its_own_thread() -> None:
    source = Tracked(500)
    with prefetched(iter(source), depth=2, name="reader-test") as items:
        assert list(items) == list(range(500))
    assert source.closed_on == "reader-test"


def test_prefetch_raises_the_source_error_after_the_items_before_it() -> None:
    source = Tracked(10, fail_at=7)
    seen: list[int] = []
    with (
        pytest.raises(ValueError, match="source broke at 7"),
        prefetched(iter(source), depth=3, name="reader-test") as items,
    ):
        seen.extend(items)
    assert seen == list(range(7))


def test_prefetch_stays_a_bounded_distance_ahead_and_stops_when_left() -> None:
    source = Tracked(10_000)
    with prefetched(iter(source), depth=2, name="reader-test") as items:
        assert next(items) == 0
        threading.Event().wait(0.3)  # let the producer run as far as it may
        # One item taken, two queued, one in the producer's hand.
        assert source.pulled <= 4
    assert source.pulled < 10_000
    assert source.closed_on == "reader-test"


def _fed(kind: str, level: int, workers: int, data: bytes, piece: int) -> bytes:
    """`data` through a fresh compressor of `kind`, handed over `piece` bytes at a time."""
    compressor = COMPRESSORS[kind].make(level, workers, "")
    out = [compressor.compress(data[i : i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + compressor.flush()


def test_zstd_output_is_the_same_for_any_worker_count_and_decompresses(tmp_path: Path) -> None:
    frame = pl.read_parquet(generate(tmp_path / "events.parquet", 60_000, seed=3))
    data = frame.write_ndjson().encode()
    pieces = (len(data), -(-len(data) // 7))
    outputs = {
        _fed("zstd", 3, threads, data, piece) for threads in (0, 1, 2, 4) for piece in pieces
    }
    assert len(outputs) == 1
    (compressed,) = outputs
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed)) as reader:
        assert reader.read() == data


def test_repetitive_columns_and_leaves_get_a_dictionary_unique_ones_do_not() -> None:
    frame = pl.DataFrame(
        {
            "id": range(1000),
            "country": ["ES", "FR", "DE", "IT"] * 250,
            "note": [None] * 1000,
            "device": [{"os": "linux", "tags": ["a", "b"], "serial": f"s{n}"} for n in range(1000)],
        },
        schema_overrides={"note": pl.String},
    )
    assert sorted(dictionary_columns(frame)) == [
        "country",
        "device.os",
        "device.tags.list.element",
    ]


def test_parquet_chunks_with_chosen_dictionaries_round_trip(tmp_path: Path) -> None:
    frame = pl.read_parquet(generate(tmp_path / "events.parquet", 20_000, seed=5))
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3))
    data = b"".join(encoder.encode(part) for part in frame.iter_slices(5_000)) + encoder.finish()
    assert pl.read_parquet(io.BytesIO(data)).equals(frame)
    columns = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings
        for i in range(columns.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["country"]
    assert "RLE_DICTIONARY" not in encodings["id"]


def test_gzip_bytes_depend_only_on_the_input_not_on_feeding_or_workers(tmp_path: Path) -> None:
    frame = pl.read_parquet(generate(tmp_path / "events.parquet", 20_000, seed=4))
    data = frame.write_ndjson().encode()

    outputs = {
        _fed("gzip", 6, workers, data, piece)
        for piece in (len(data), 1_000_003, 65_536, 777)
        for workers in (1, 3)
    }
    assert len(outputs) == 1
    (stored,) = outputs
    # One gzip member (CRC and size checked), the blocks joined into one deflate stream.
    member = zlib.decompressobj(31)
    assert member.decompress(stored) == data
    assert member.eof and member.unused_data == b""


def test_an_empty_gzip_stream_is_a_valid_empty_file() -> None:
    compressor = COMPRESSORS["gzip"].make(6, 2, "")
    assert gzip.decompress(compressor.compress(b"") + compressor.flush()) == b""
