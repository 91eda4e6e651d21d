"""The Parquet encoder encodes row groups on worker threads yet stays a pure function of
its batches: every encode() call returns the same bytes whatever the worker count and
however fast it is called (chunk boundaries, and so resumes, depend on that), the file
is the one pyarrow's ParquetWriter writes, worker failures surface as themselves, and no
worker thread outlives its encoder."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.client.demo_data import generate
from sluice.server.pipeline import deflate
from sluice.server.pipeline.encoders import (
    PARQUET_DICTIONARY_PAGE_LIMIT,
    PARQUET_ROW_GROUPS_BEHIND,
    ChunkContext,
    ParquetEncoder,
    _arrow_table,
    parquet_workers,
)
from sluice.server.pipeline.parquet_dictionary import dictionary_columns


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    return pl.read_parquet(generate(path, 12_000, seed=9))


def batches(frame: pl.DataFrame, sizes: list[int]) -> Iterator[pl.DataFrame]:
    start = 0
    for size in sizes:
        yield frame.slice(start, size)
        start += size


SIZES = [2_000, 2_000, 1, 3_999, 2_000, 0, 2_000]


def encoded(
    frame: pl.DataFrame,
    workers: int,
    *,
    pause: float = 0.0,
    codec: str = "zstd",
    in_pieces: bool = False,
) -> list[bytes]:
    """What each encode() call and finish() (or finish_in_pieces(), joined) return, in order."""
    level = 3 if codec != "none" else None
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec=codec, level=level, workers=workers))
    out = []
    for batch in batches(frame, SIZES):
        out.append(encoder.encode(batch))
        time.sleep(pause)  # a slow caller: the workers are done before the next call
    if in_pieces:
        tail = encoder.finish_in_pieces()
        encoder.close()  # what encode_chunks does next: it must not cancel the finish
        out.append(b"".join(tail))
    else:
        out.append(encoder.finish())
    return out


def parquet_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("parquet")]


def wait_for_no_parquet_threads() -> None:
    deadline = time.monotonic() + 20
    while parquet_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert parquet_threads() == []


@pytest.mark.parametrize("codec", ["zstd", "none"])
def test_each_call_returns_the_same_bytes_for_any_workers_and_pace(
    events: pl.DataFrame, codec: str
) -> None:
    runs = {
        (workers, pause, in_pieces): encoded(
            events, workers, pause=pause, codec=codec, in_pieces=in_pieces
        )
        for workers in (0, 1, 2, 4)  # 0: one per CPU
        for pause in (0.0, 0.05)
        for in_pieces in (False, True)  # the tail taken in pieces: the same bytes
    }
    first = next(iter(runs.values()))
    assert all(run == first for run in runs.values())
    # The magic comes with the first call; a row group's bytes two calls after its batch.
    assert first[0] == b"PAR1"
    assert first[1:PARQUET_ROW_GROUPS_BEHIND] == [b""] * (PARQUET_ROW_GROUPS_BEHIND - 1)
    assert all(first[PARQUET_ROW_GROUPS_BEHIND : len(SIZES)])
    assert pl.read_parquet(io.BytesIO(b"".join(first))).equals(events.head(sum(SIZES)))
    wait_for_no_parquet_threads()


@pytest.mark.parametrize("codec", ["zstd", "none"])
def test_the_file_is_the_one_pyarrows_parquet_writer_writes(
    events: pl.DataFrame, codec: str
) -> None:
    parts = list(batches(events, SIZES))
    out = io.BytesIO()
    tables = [part.to_arrow() for part in parts]
    compressed = codec != "none"
    with pq.ParquetWriter(
        out,
        tables[0].schema,
        compression=codec,
        compression_level=3 if compressed else None,
        use_dictionary=dictionary_columns(parts[0]),
    ) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=max(1, table.num_rows))
    assert b"".join(encoded(events, 2, codec=codec)) == out.getvalue()
    metadata = pq.ParquetFile(io.BytesIO(out.getvalue())).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == SIZES


def test_the_dictionary_choice_is_made_by_a_worker_not_the_caller(
    events: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller reads the next batch meanwhile; the choice is still the first batch's."""
    from sluice.server.pipeline import encoders

    choosers: list[str] = []

    def recording(batch: pl.DataFrame) -> list[str]:
        choosers.append(threading.current_thread().name)
        return dictionary_columns(batch)

    monkeypatch.setattr(encoders, "dictionary_columns", recording)
    out = encoded(events, 2)
    assert len(choosers) == 1
    assert choosers[0].startswith("parquet") and choosers[0] != threading.current_thread().name
    monkeypatch.undo()
    assert out == encoded(events, 2)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_chunks_shorter_than_the_lag_finish_whole(events: pl.DataFrame, count: int) -> None:
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    out = [encoder.encode(batch) for batch in batches(events, [100] * count)]
    out.append(encoder.finish())
    assert pl.read_parquet(io.BytesIO(b"".join(out))).equals(events.head(100 * count))
    assert ParquetEncoder(ChunkContext("e", "d", 0)).finish() == b""
    assert b"".join(ParquetEncoder(ChunkContext("e", "d", 0)).finish_in_pieces()) == b""


def test_a_worker_failure_surfaces_as_itself_and_ends_the_workers(events: pl.DataFrame) -> None:
    # pyarrow cannot write a struct without fields; it finds out on the worker thread.
    unwritable = pl.DataFrame({"s": pl.Series([{}] * 10, dtype=pl.Struct([]))})
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    with pytest.raises(pa.ArrowNotImplementedError, match="no child field"):
        for _ in range(PARQUET_ROW_GROUPS_BEHIND + 1):
            encoder.encode(unwritable)
    wait_for_no_parquet_threads()

    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    assert encoder.encode(unwritable) == b"PAR1"
    with pytest.raises(pa.ArrowNotImplementedError):
        encoder.finish()
    wait_for_no_parquet_threads()

    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    assert encoder.encode(unwritable) == b"PAR1"
    with pytest.raises(pa.ArrowNotImplementedError):
        b"".join(encoder.finish_in_pieces())
    wait_for_no_parquet_threads()


def test_a_batch_of_another_schema_is_refused(events: pl.DataFrame) -> None:
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, workers=2))
    encoder.encode(events.head(10))
    encoder.encode(events.head(10).drop("email"))
    with pytest.raises(ValueError, match="differ in their FileMetaData schema"):
        encoder.finish()
    wait_for_no_parquet_threads()


def test_closing_an_unfinished_encoder_ends_its_workers(events: pl.DataFrame) -> None:
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=4))
    for batch in batches(events, [3_000] * 4):
        encoder.encode(batch)
    assert parquet_threads()
    encoder.close()
    encoder.close()
    wait_for_no_parquet_threads()


def test_default_workers_are_one_per_cpu_up_to_the_row_groups_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_flight = PARQUET_ROW_GROUPS_BEHIND + 1
    for cpus, expected in ((1, 1), (2, 2), (3, 3), (8, in_flight)):
        monkeypatch.setattr(deflate.os, "sched_getaffinity", lambda _pid, n=cpus: set(range(n)))
        assert parquet_workers(0) == expected, cpus
    assert parquet_workers(2) == 2
    assert parquet_workers(16) == in_flight  # never more than the row groups in flight


def test_string_views_nested_and_chunked_columns_give_to_arrows_bytes() -> None:
    """Row groups are taken from Polars through the Arrow C stream and cast, not by
    to_arrow (less CPU, on the worker rather than on Polars' pool); the file must stay
    the one written from to_arrow's tables, for strings, lists and structs of strings,
    categoricals, nulls, and for a frame in several chunks (as a batch joined across two
    source pieces is), with a dictionary column grown past the limit where pyarrow falls
    back to plain encoding (PARQUET_DICTIONARY_PAGE_LIMIT)."""
    rows = 20_000
    levels = [("info", "warn", None)[i % 3] for i in range(rows)]
    frame = pl.DataFrame(
        {
            # Distinct texts, 9 MB: past the 8 MiB a dictionary may grow to.
            "message": [
                f"call +41 79 {i:07d} or mail u{i}@example.org ".ljust(450, "x")
                for i in range(rows)
            ],
            "level": pl.Series(levels, dtype=pl.Categorical),
            "tags": [[f"t{i % 7}", None] if i % 5 else None for i in range(rows)],
            "request": [{"path": f"/p/{i}", "headers": [f"h{i % 4}"]} for i in range(rows)],
            "none": [None] * rows,
        }
    )
    # The first batch decides the dictionaries (parquet_dictionary): repeated texts.
    first = frame.head(100).with_columns(pl.lit("same text").alias("message"))
    chunked = pl.concat([frame.slice(0, 300), frame.slice(300)], rechunk=False)
    assert chunked.n_chunks() == 2
    parts = [first, frame.slice(0, 9_000), chunked]
    out = io.BytesIO()
    with pq.ParquetWriter(
        out, parts[0].to_arrow().schema, compression="zstd", compression_level=3,
        use_dictionary=dictionary_columns(parts[0]),
        dictionary_pagesize_limit=PARQUET_DICTIONARY_PAGE_LIMIT,
    ) as writer:  # fmt: skip
        for part in parts:
            writer.write_table(part.to_arrow(), row_group_size=part.height)
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    got = b"".join([encoder.encode(part) for part in parts] + [encoder.finish()])
    assert "message" in dictionary_columns(first)
    assert got == out.getvalue()


def test_top_level_strings_and_binaries_are_written_as_views_into_to_arrows_bytes() -> None:
    """Top-level string and binary columns reach pyarrow as Polars' views, uncopied
    (nested ones are cast: pyarrow cannot write views inside lists); the file is still
    the one written from to_arrow's large strings and binaries, its Arrow schema too."""
    frame = pl.DataFrame(
        {
            "text": [f"row {i}" if i % 3 else None for i in range(5_000)],
            "raw": [bytes([i % 251]) * (i % 40) for i in range(5_000)],
            "tags": [[f"t{i % 5}"] for i in range(5_000)],
        }
    )
    table = _arrow_table(frame)
    assert [f.type for f in table.schema] == [
        pa.string_view(),
        pa.binary_view(),
        pa.large_list(pa.large_string()),
    ]
    expected = io.BytesIO()
    pq.write_table(
        frame.to_arrow(), expected, row_group_size=frame.height, compression="zstd",
        compression_level=3, use_dictionary=dictionary_columns(frame),
    )  # fmt: skip
    encoder = ParquetEncoder(ChunkContext("e", "d", 0, codec="zstd", level=3, workers=2))
    got = b"".join([encoder.encode(frame), encoder.finish()])
    assert got == expected.getvalue()
    assert pq.read_table(io.BytesIO(got)).schema == frame.to_arrow().schema


def test_encoding_parquet_does_not_import_pandas() -> None:
    """The daemon never needs pandas, and importing it costs ~0.16 CPU s: pa.table() on a
    Polars frame did, to ask whether it was a pandas frame (the 1,000-row gauge export
    took 0.20 s instead of 0.03). A fresh interpreter, so the test's own imports don't
    hide it."""
    script = (
        "import sys, io, polars as pl\n"
        "from sluice.server.pipeline.encoders import ChunkContext, ParquetEncoder\n"
        "frame = pl.DataFrame({'n': [1, 2], 's': ['a', None], 't': [['x'], None]})\n"
        "encoder = ParquetEncoder(ChunkContext('e', 'd', 0, codec='zstd', level=3, workers=1))\n"
        "data = b''.join([encoder.encode(frame), encoder.finish()])\n"
        "assert pl.read_parquet(io.BytesIO(data)).equals(frame)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
