"""The formats for people (xml, yaml, markdown) are encoded in slices of a batch, so a
stop is seen between slices: a cancel waits for one slice's encoding, not a whole
batch's (65,536 rows of YAML once took ~20 s). The slices change neither the bytes nor
the chunk boundaries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
import pytest

from sluice.client.demo_data import generate
from sluice.server.errors import Interrupted
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext, Encoder, EncoderKind
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.settings import Settings
from sluice.sinks import MemorySink
from sluice.sinks.base import UploadJournal

ROWS = 3000
BATCH_ROWS = 1200
SLICE = 100


class CountingEncoder(Encoder):
    """The format's own encoder, noting how many rows each call is given."""

    def __init__(self, inner: Encoder, calls: list[int]) -> None:
        self._inner = inner
        self._calls = calls

    def encode(self, batch: pl.DataFrame) -> bytes:
        self._calls.append(batch.height)
        return self._inner.encode(batch)

    def encode_pieces(self, batch: pl.DataFrame) -> tuple[bytes | memoryview, ...]:
        self._calls.append(batch.height)
        return self._inner.encode_pieces(batch)

    def finish(self) -> bytes:
        return self._inner.finish()

    def finish_in_pieces(self) -> Iterator[bytes | memoryview]:
        return self._inner.finish_in_pieces()

    def close(self) -> None:
        self._inner.close()


@dataclass
class Observer:
    """Keeps the chunks; sets `stop` once `stop_after_records` records are written."""

    stop_after_records: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    chunks: list[ChunkResult] = field(default_factory=list)
    calls_at_stop: int | None = None
    calls: list[int] = field(default_factory=list)

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        self.chunks.append(chunk)

    def progress(self, progress: PipelineProgress) -> None:
        after = self.stop_after_records
        if after is not None and progress.records >= after and not self.stop.is_set():
            self.calls_at_stop = len(self.calls)
            self.stop.set()

    def upload_journal(self, key: str) -> UploadJournal:
        raise AssertionError("the memory sink is not resumable")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("slices") / "events.parquet", ROWS, seed=3)


def plan_for(source: Path, fmt: str, target_bytes: int) -> ExportPlan:
    root = source.parent
    settings = Settings(
        state_dir=root / "state", allowed_roots=(root,), allowed_source_roots=(root,)
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(root / "out"), "events"),
        output=OutputSpec(fmt, "none"),
        chunking=ChunkingSpec(target_bytes, None),
    )
    return build_plan(spec, settings, "20250101T000000Z-00000000e1e1", owner="")


def run(
    plan: ExportPlan, slice_rows: int | None, observer: Observer
) -> tuple[MemorySink, Observer]:
    kind = plan.pipeline.encoder

    def make(context: ChunkContext) -> Encoder:
        return CountingEncoder(kind.make(context), observer.calls)

    counted = EncoderKind(kind.name, kind.extension, False, make, slice_rows=slice_rows)
    config = replace(plan.pipeline, encoder=counted)
    sink = MemorySink()
    options = PipelineOptions(
        batch_rows=BATCH_ROWS, queue_depth=1, zstd_threads=0, content_key=b"k" * 32
    )
    run_pipeline(config, sink, ResumePoint(), observer, observer.stop, options)
    return sink, observer


@pytest.mark.parametrize("fmt", ["xml", "yaml", "markdown"])
def test_text_formats_are_encoded_in_slices_with_the_same_bytes(source: Path, fmt: str) -> None:
    assert ENCODERS[fmt].slice_rows is not None
    # A target every batch passes: one batch per chunk.
    plan = plan_for(source, fmt, target_bytes=1024)
    sliced_sink, sliced = run(plan, SLICE, Observer())
    whole_sink, whole = run(plan, None, Observer())
    assert max(sliced.calls) == SLICE
    assert max(whole.calls) == BATCH_ROWS
    # Same chunks (a batch each), byte for byte.
    assert [c.records for c in sliced.chunks] == [BATCH_ROWS, BATCH_ROWS, ROWS - 2 * BATCH_ROWS]
    assert [(c.records, c.sha256) for c in sliced.chunks] == [
        (c.records, c.sha256) for c in whole.chunks
    ]
    key = plan.pipeline.chunk_key(0)
    with sliced_sink.open(key) as a, whole_sink.open(key) as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("fmt", ["yaml", "xml"])
def test_a_stop_mid_batch_leaves_the_rest_of_the_batch_unencoded(source: Path, fmt: str) -> None:
    plan = plan_for(source, fmt, target_bytes=64 * 1024 * 1024)
    observer = Observer(stop_after_records=SLICE)
    with pytest.raises(Interrupted):
        run(plan, SLICE, observer)
    assert observer.calls_at_stop is not None
    # After the stop, at most one more slice is encoded (the caller may have started it
    # just before looking); the batch of 1,200 rows is never encoded whole.
    assert len(observer.calls) - observer.calls_at_stop <= 1
    assert sum(observer.calls) < BATCH_ROWS


@dataclass
class ProgressObserver(Observer):
    seen: list[tuple[int, int]] = field(default_factory=list)

    def progress(self, progress: PipelineProgress) -> None:
        self.seen.append((progress.records, progress.source_rows_done))


def test_progress_counts_the_source_rows_of_the_slices_written(source: Path) -> None:
    # Each slice's segment carried its batch's end, so progress claimed the whole batch
    # read after its first slice (1,200 source rows done with 100 records written).
    plan = plan_for(source, "yaml", target_bytes=64 * 1024 * 1024)
    _, observer = run(plan, SLICE, ProgressObserver())
    assert len(observer.seen) > ROWS // BATCH_ROWS
    # Every source row is a record here (nothing filtered or skipped).
    assert all(done == records for records, done in observer.seen), observer.seen[:5]
    assert observer.seen[-1] == (ROWS, ROWS)
    assert [(c.records, c.source_start, c.source_end) for c in observer.chunks] == [(ROWS, 0, ROWS)]
