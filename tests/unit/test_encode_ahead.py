"""NDJSON batches encoded two at a time (server/pipeline/chunks.py, ENCODED_AT_ONCE): the
same chunks, bytes, counters and source ranges as one batch at a time, whatever limits
the chunks (bytes, rows that cut a batch short, both); two encodes really overlap, no
more than one batch is taken ahead, and no encoding thread outlives the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from benchmarks.text_heavy_data import generate
from sluice.server.pipeline import chunks
from sluice.server.pipeline.chunks import RowStream, Segment, encode_chunks
from sluice.server.pipeline.encoders import ENCODERS, NdjsonEncoder
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.settings import load_settings
from sluice.sinks import MemorySink
from tests.unit.exporting import Journal

EXPORT_ID = "20250101T000000Z-00000000a4a4"
KEY = b"k" * 32
ROWS = 3000
BATCH = 128


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("encode-ahead")
    generate(root / "sources" / "text.parquet", ROWS, seed=13, pii_share=0.5)
    return root


def _plan(
    root: Path,
    chunking: ChunkingSpec,
    compression: str = "zstd",
    redaction: str = "moderate",
    cursor: str | None = None,
) -> ExportPlan:
    settings = load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [root / "sources"],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(root / "sources" / "text.parquet")),
        destination=DestinationSpec(str(root / "exports"), "texts"),
        incremental=IncrementalSpec(mode="full", cursor=cursor or ""),
        output=OutputSpec("jsonl", compression),
        chunking=chunking,
        redaction=RedactionSpec(level=redaction),
    )
    return build_plan(spec, settings, EXPORT_ID)


def _export(
    plan: ExportPlan, at_once: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[object, ...]], dict[str, bytes]]:
    monkeypatch.setattr(chunks, "ENCODED_AT_ONCE", at_once)
    sink, journal = MemorySink(), Journal()
    options = PipelineOptions(batch_rows=BATCH, queue_depth=2, zstd_threads=0, content_key=KEY)
    totals = run_pipeline(plan.pipeline, sink, ResumePoint(), journal, threading.Event(), options)
    assert totals.records == ROWS
    committed = [
        (
            c.index, c.path, c.records, c.stored_bytes, c.sha256, c.content_digest,
            c.counters, c.source_start, c.source_end, c.cursor_max,
        )
        for c in journal.chunks
    ]  # fmt: skip
    stored = {}
    for chunk in journal.chunks:
        with sink.open(plan.pipeline.chunk_key(chunk.index)) as handle:
            stored[chunk.path] = handle.read()
    return committed, stored


@pytest.mark.parametrize(
    "chunking",
    [
        # Bytes decide: a chunk closes at the first batch past the target, unknown before
        # the batch is encoded, so the batch after it is taken ahead of its chunk.
        ChunkingSpec(48 * 1024, None),
        # Rows decide, not a multiple of the batch: the last batch of each chunk is cut
        # short (300 = 128 + 128 + 44), so it is never taken ahead.
        ChunkingSpec(None, 300),
        # Rows decide, a multiple of the batch: every next batch is known ahead.
        ChunkingSpec(None, 256),
        # Both, whichever comes first.
        ChunkingSpec(40 * 1024, 200),
    ],
    ids=["bytes", "rows-300", "rows-256", "both"],
)
def test_two_at_once_stores_the_chunks_of_one_at_a_time(
    root: Path, chunking: ChunkingSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial, serial_bytes = _export(_plan(root, chunking), 1, monkeypatch)
    assert len(serial) >= 5
    assert any(count for chunk in serial for _, count in chunk[6])  # type: ignore[attr-defined]
    ahead, ahead_bytes = _export(_plan(root, chunking), 2, monkeypatch)
    assert ahead == serial
    assert ahead_bytes == serial_bytes


def test_cursor_maxima_and_plain_output_match_too(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cursor's largest value per chunk, uncompressed and unredacted output."""
    plan = _plan(root, ChunkingSpec(32 * 1024, None), "none", "none", cursor="created_at")
    serial, serial_bytes = _export(plan, 1, monkeypatch)
    assert len({c[9] for c in serial}) == len(serial) >= 5
    ahead, ahead_bytes = _export(
        _plan(root, ChunkingSpec(32 * 1024, None), "none", "none", cursor="created_at"),
        2,
        monkeypatch,
    )
    assert ahead == serial
    assert ahead_bytes == serial_bytes


class _SlowNdjson(NdjsonEncoder):
    """NDJSON that takes a while per batch and records how many encodes overlap."""

    lock = threading.Lock()
    running = 0
    most = 0

    def encode_pieces(self, batch: pl.DataFrame) -> tuple[bytes, ...]:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        try:
            time.sleep(0.02)
            return super().encode_pieces(batch)
        finally:
            with cls.lock:
                cls.running -= 1


def test_the_next_batch_is_encoded_while_the_current_one_is_and_no_further(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(root, ChunkingSpec(48 * 1024, None), redaction="none")
    config = replace(plan.pipeline, encoder=replace(ENCODERS["jsonl"], make=_SlowNdjson))
    monkeypatch.setattr(chunks, "ENCODED_AT_ONCE", 2)
    frame = pl.read_parquet(root / "sources" / "text.parquet").with_row_index(ROW_INDEX)
    taken: list[int] = []

    def batches() -> Iterator[pl.DataFrame]:
        for start in range(0, frame.height, BATCH):
            taken.append(start)
            yield frame.slice(start, BATCH)

    items = encode_chunks(config, RowStream(batches()), 0, BATCH)
    handed = 0
    for item in items:
        if isinstance(item, Segment):
            handed += item.records
            time.sleep(0.03)  # a slow writer: the encodes ahead are long done
            # The batch handed on, and at most one more taken (RowStream may hold one
            # source frame it has not cut yet).
            assert len(taken) * BATCH <= handed + 2 * BATCH
        if handed >= 10 * BATCH:
            break
    items.close()
    assert _SlowNdjson.most == 2
    assert not [t for t in threading.enumerate() if t.name.startswith(f"encode-{EXPORT_ID}")]


def test_a_format_whose_batches_depend_on_each_other_is_encoded_one_at_a_time() -> None:
    assert ENCODERS["jsonl"].independent_batches
    assert not any(k.independent_batches for n, k in ENCODERS.items() if n != "jsonl")
