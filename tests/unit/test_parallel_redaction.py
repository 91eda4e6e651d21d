"""Query and redaction of several batches at once (server/pipeline/ordered_workers.py):
the same chunks, counters and errors as one batch at a time, in order, bounded."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.text_heavy_data import generate
from sluice.server.errors import Interrupted
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline import export
from sluice.server.pipeline.encoders import ENCODERS
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.ordered_workers import in_order
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.pipeline.stages import Redactor
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.settings import load_settings
from sluice.sinks import MemorySink
from tests.unit.exporting import Journal
from tests.unit.redaction_helpers import redactor_for

EXPORT_ID = "20250101T000000Z-00000000e2e2"
KEY = b"k" * 32


def _slowly(value: int) -> int:
    # Later items finish first: order must come from the items, not from the workers.
    time.sleep(random.uniform(0, 0.01))
    return value * 10


def test_results_come_in_the_items_order_whatever_order_workers_finish_in() -> None:
    assert list(in_order(_slowly, range(40), 3, "test-order")) == [v * 10 for v in range(40)]


def test_an_error_in_item_k_surfaces_after_the_items_before_it_and_nothing_after() -> None:
    def fail_on_5(value: int) -> int:
        if value == 5:
            raise ValueError("item 5")
        return _slowly(value)

    seen: list[int] = []
    with pytest.raises(ValueError, match="item 5"):
        for result in in_order(fail_on_5, range(20), 3, "test-error"):
            seen.append(result)
    assert seen == [0, 10, 20, 30, 40]


def test_an_error_closes_the_items_generator_at_once() -> None:
    """The read behind the items (a database cursor, a file) is closed as the error
    leaves, not when the exception (whose traceback holds the frame) is dropped."""
    closed: list[bool] = []

    def items() -> Iterator[int]:
        try:
            yield from range(20)
        finally:
            closed.append(True)

    def fail_on_3(value: int) -> int:
        if value == 3:
            raise ValueError("item 3")
        return value

    with pytest.raises(ValueError, match="item 3") as caught:
        for _ in in_order(fail_on_3, items(), 2, "test-close"):
            pass
    assert closed == [True]
    assert caught.value.__traceback__ is not None  # still held, frames and all


def test_a_read_error_surfaces_after_the_items_read_before_it() -> None:
    def items() -> Iterator[int]:
        yield from range(4)
        raise OSError("read failed")

    seen: list[int] = []
    with pytest.raises(OSError, match="read failed"):
        for result in in_order(_slowly, items(), 3, "test-read-error"):
            seen.append(result)
    assert seen == [0, 10, 20, 30]


def test_an_item_error_goes_before_a_later_read_error() -> None:
    def items() -> Iterator[int]:
        yield from range(3)
        raise OSError("read failed")

    def fail_on_1(value: int) -> int:
        if value == 1:
            raise ValueError("item 1")
        return value

    seen: list[int] = []
    with pytest.raises(ValueError, match="item 1"):
        for result in in_order(fail_on_1, items(), 4, "test-both"):
            seen.append(result)
    assert seen == [0]


def test_at_most_workers_items_are_taken_ahead_and_closing_ends_the_workers() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for value in range(1000):
            taken.append(value)
            yield value

    results = in_order(_slowly, items(), 2, "test-bound")
    for handed, _ in enumerate(results, start=1):
        time.sleep(0.02)  # a slow consumer: the workers are done long before
        assert len(taken) <= handed + 2
        if handed == 10:
            break
    results.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-bound")]


# --- through the pipeline ----------------------------------------------------------------


@pytest.fixture(scope="module")
def text_heavy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parallel-redaction")
    source = generate(root / "sources" / "text.parquet", 3000, seed=11, pii_share=0.5)
    return root, source


_JSONL_ZSTD = OutputSpec("jsonl", "zstd")
_BY_SIZE = ChunkingSpec(64 * 1024, None)


def _plan(
    root: Path,
    source: Path,
    where: str = "",
    output: OutputSpec = _JSONL_ZSTD,
    chunking: ChunkingSpec = _BY_SIZE,
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
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(root / "exports"), "texts"),
        output=output,
        chunking=chunking,
        redaction=RedactionSpec(level="moderate"),
    )
    return build_plan(spec, settings, EXPORT_ID, owner="")


class _Recorder(Journal):
    """The chunks a run committed, and the run's stop."""

    def __init__(self) -> None:
        super().__init__()
        self.stop = threading.Event()


def _export(
    plan: ExportPlan,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
    resume: ResumePoint | None = None,
    committed: list[ChunkRecord] | None = None,
) -> tuple[list[tuple[object, ...]], PipelineProgress, dict[str, bytes]]:
    """The committed chunks, totals and stored bytes (by path) of a run; `committed`, when
    given, receives the chunks as the run's journal recorded them."""
    monkeypatch.setattr(export, "_TRANSFORM_WORKERS", workers)
    sink, recorder = MemorySink(), _Recorder()
    options = PipelineOptions(batch_rows=128, queue_depth=2, zstd_threads=0, content_key=KEY)
    totals = run_pipeline(
        plan.pipeline, sink, resume or ResumePoint(), recorder, recorder.stop, options
    )
    if committed is not None:
        committed.extend(recorder.chunks)
    chunks = [
        (c.index, c.path, c.records, c.stored_bytes, c.sha256, c.content_digest, c.counters)
        for c in recorder.chunks
    ]
    stored = {}
    for chunk in recorder.chunks:
        with sink.open(plan.pipeline.chunk_key(chunk.index)) as handle:
            stored[chunk.path] = handle.read()
    return chunks, totals, stored


def test_a_redacted_export_stores_the_same_chunks_and_counts_with_any_worker_count(
    text_heavy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, source = text_heavy
    plan = _plan(root, source)
    serial_chunks, serial_totals, serial_bytes = _export(plan, 1, monkeypatch)
    # Several chunks of many batches each, and redaction that changed something.
    assert len(serial_chunks) >= 3 and serial_totals.records == 3000
    assert any(count for _, count in serial_totals.counters)
    for workers in (2, 4):
        chunks, totals, stored = _export(_plan(root, source), workers, monkeypatch)
        assert chunks == serial_chunks
        assert totals.counters == serial_totals.counters
        assert stored == serial_bytes


def test_redacting_several_source_batches_as_one_stores_the_same_chunks(
    text_heavy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redaction batches of 1 or 3 source batches (of 128 rows): the same chunks and
    counts, and the frames handed to the encoder are still at most 128 rows."""
    root, source = text_heavy
    monkeypatch.setattr(export, "REDACTED_TOGETHER", 1)
    one_chunks, one_totals, one_bytes = _export(_plan(root, source), 2, monkeypatch)
    assert len(one_chunks) >= 3 and any(count for _, count in one_totals.counters)
    monkeypatch.setattr(export, "REDACTED_TOGETHER", 3)
    heights = [f.height for f in export.query_batches(_plan(root, source).pipeline, 0, 128)]
    assert max(heights) == 128 and sum(heights) == 3000
    chunks, totals, stored = _export(_plan(root, source), 2, monkeypatch)
    assert chunks == one_chunks
    assert totals.counters == one_totals.counters
    assert stored == one_bytes


def test_source_batches_are_paired_for_redaction_only_while_a_pair_stays_small() -> None:
    """A stop waits for the redaction under way: a pair holds at most 131,072 rows."""
    assert export.REDACTED_TOGETHER == 2
    assert export.redacted_together(128, True) == 2
    assert export.redacted_together(65_536, True) == 2
    assert export.redacted_together(65_537, True) == 1
    assert export.redacted_together(1_000_000, True) == 1
    assert export.redacted_together(65_536, False) == 1


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_every_format_stores_the_same_chunks_resumed_or_redacting_several_batches(
    encoding: str, text_heavy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 300 rows cut from batches of 128 (so from slices of larger frames): one
    or three source batches redacted at once, and a run resumed after the second chunk,
    store the same bytes; and no chunk holds a value of a row outside its range (Arrow's
    IPC writer wrote a sliced struct's whole string data: row 600's request.referrer in
    the chunk of rows 300-600)."""
    root, source = text_heavy

    def plan() -> ExportPlan:
        return _plan(
            root, source, output=OutputSpec(encoding, "none"), chunking=ChunkingSpec(None, 300)
        )

    monkeypatch.setattr(export, "REDACTED_TOGETHER", 1)
    committed: list[ChunkRecord] = []
    one_chunks, _, one_bytes = _export(plan(), 2, monkeypatch, committed=committed)
    assert len(one_chunks) == 10
    monkeypatch.setattr(export, "REDACTED_TOGETHER", 3)
    chunks, _, stored = _export(plan(), 2, monkeypatch)
    assert chunks == one_chunks and stored == one_bytes
    resumed_chunks, _, resumed = _export(
        plan(), 2, monkeypatch, resume=ResumePoint.after(committed[:2])
    )
    assert resumed_chunks == one_chunks[2:]
    assert resumed == {path: data for path, data in one_bytes.items() if path in resumed}
    referrers = (
        pl.read_parquet(source)
        .select(pl.col("request").struct.field("referrer"))
        .to_series()
        .to_list()
    )
    for chunk in committed:
        inside = referrers[chunk.source_start : chunk.source_end]
        outside = referrers[: chunk.source_start] + referrers[chunk.source_end :]
        leaked = [
            value
            for value in outside
            if value is not None
            and len(value) > 25
            and value.encode() in one_bytes[chunk.path]
            and not any(value in other for other in inside if other is not None)
        ]
        assert leaked == [], (chunk.index, leaked[:1])


class _FailingFrom:
    """The plan's redactor, failing on the batch holding source row `row` (on a worker)."""

    def __init__(self, redactor: Redactor, row: int) -> None:
        self._redactor = redactor
        self._row = row
        self.threads: set[str] = set()

    @property
    def counters(self) -> Mapping[str, str]:
        return self._redactor.counters

    @property
    def rewrites(self) -> bool:
        return True

    @property
    def requested(self) -> bool:
        return self._redactor.requested

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return self._redactor.apply(frame.map_batches(self._check, validate_output_schema=False))

    def _check(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.threads.add(threading.current_thread().name.rsplit("_", 1)[0])
        if batch.height and batch[ROW_INDEX].max() >= self._row >= batch[ROW_INDEX].min():  # type: ignore[operator]
            raise ValueError(f"batch holding row {self._row}")
        return batch

    def output_schema(self, schema: pl.Schema) -> pl.Schema:
        return self._redactor.output_schema(schema)

    def describe(self) -> dict[str, Any]:
        return self._redactor.describe()

    def content_checks(self, column: str) -> str:
        return self._redactor.content_checks(column)


def test_a_failing_batch_raises_its_error_after_every_batch_before_it(
    text_heavy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, source = text_heavy
    plan = _plan(root, source)
    monkeypatch.setattr(export, "_TRANSFORM_WORKERS", 3)
    redactor = _FailingFrom(plan.pipeline.redactor, 1000)
    failing = replace(plan.pipeline, redactor=redactor)
    rows: list[int] = []
    with pytest.raises(ValueError, match="batch holding row 1000"):
        for frame in export.query_batches(failing, 0, 128):
            rows.extend(frame[ROW_INDEX])
    # Every row of the batches before the failing one, none after. Redaction batches
    # hold REDACTED_TOGETHER source batches of 128 rows.
    redacted_rows = 128 * export.REDACTED_TOGETHER
    assert rows == list(range(1000 // redacted_rows * redacted_rows))
    assert redactor.threads == {f"transform-{EXPORT_ID}"}  # on the workers


# --- the redactor's per-run memory -------------------------------------------------------


def test_one_redactor_on_batches_in_any_order_and_at_once_gives_the_serial_output(
    text_heavy: tuple[Path, Path],
) -> None:
    _, source = text_heavy
    frame = pl.read_parquet(source).with_row_index(ROW_INDEX)
    batches = [frame.slice(start, 200) for start in range(0, frame.height, 200)]
    spec = RedactionSpec(level="moderate")
    serial = redactor_for(frame.drop(ROW_INDEX), spec)
    expected = [serial.apply(b.lazy()).collect(engine="in-memory") for b in batches]
    shared = redactor_for(frame.drop(ROW_INDEX), spec)
    order = list(range(len(batches)))
    random.Random(3).shuffle(order)
    with ThreadPoolExecutor(4) as pool:
        done = dict(
            zip(
                order,
                pool.map(
                    lambda n: shared.apply(batches[n].lazy()).collect(engine="in-memory"), order
                ),
                strict=True,
            )
        )
    for number, want in enumerate(expected):
        assert done[number].equals(want), f"batch {number}"


def test_a_stop_ends_a_redacted_export_promptly_and_leaves_no_workers(
    text_heavy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, source = text_heavy
    plan = _plan(root, source)
    monkeypatch.setattr(export, "_TRANSFORM_WORKERS", 2)

    class StopAfterOne(_Recorder):
        def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
            super().chunk_committed(chunk, progress)
            self.stop.set()

    recorder = StopAfterOne()
    options = PipelineOptions(batch_rows=128, queue_depth=2, zstd_threads=0, content_key=KEY)
    started = time.monotonic()
    with pytest.raises(Interrupted):
        run_pipeline(plan.pipeline, MemorySink(), ResumePoint(), recorder, recorder.stop, options)
    assert time.monotonic() - started < 5  # well within prefetch's ABANDON_SECONDS
    assert len(recorder.chunks) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("transform-")]
