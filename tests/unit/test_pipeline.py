"""run_pipeline in-process against real sinks: chunk boundaries, byte-identical resumes,
interruption and storage failure without partial objects, and records read back with
plain tools (zstandard, gzip, Polars, json) equal to the source."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import blake3
import polars as pl
import pytest
import zstandard

from sluice.client.demo_data import generate
from sluice.format.temporal_text import temporal_as_text
from sluice.server.errors import (
    Interrupted,
    LeaseLost,
    PermissionDenied,
    SluiceError,
    Unavailable,
)
from sluice.server.pipeline.encoders import ChunkContext, JsonDocumentEncoder, ParquetEncoder
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    QuerySpec,
    SourceSpec,
)
from sluice.server.settings import Settings, load_settings
from sluice.sinks import (
    LocalSink,
    MemorySink,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)
from sluice.sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal
from sluice.sinks.local import TEMP_MARKER
from tests.unit.recording_upload import RecordingSink, RecordingUpload
from tests.unit.upload_journal import MemoryJournal

ROWS = 2400
KEY = b"k" * 32
EXPORT_ID = "20250101T000000Z-00000000e1e1"
#: Every output format with a compression that exercises its writer path.
FORMATS = [
    ("jsonl", "zstd"),
    ("jsonl", "none"),
    ("csv", "gzip"),
    ("parquet", "zstd"),
    ("parquet", "none"),
    ("arrow", "zstd"),
    ("json", "none"),
    ("json", "gzip"),
]
#: The formats for people and interchange (read back in test_text_formats.py).
TEXT_FORMATS = [("xml", "zstd"), ("yaml", "gzip"), ("markdown", "none")]


@dataclass
class World:
    settings: Settings
    source: Path
    frame: pl.DataFrame
    sources: Path

    def plan(
        self,
        fmt: str = "jsonl",
        compression: str = "zstd",
        *,
        source: Path | None = None,
        target_bytes: int | None = 24 * 1024,
        max_rows: int | None = None,
        where: str = "",
        export_id: str = EXPORT_ID,
    ) -> ExportPlan:
        spec = ExportSpec(
            source=SourceSpec(str(source or self.source)),
            # Planned as a local folder (never written: each test runs into a MemorySink).
            destination=DestinationSpec(str(self.sources.parent / "exports"), "events"),
            query=QuerySpec(where=where),
            output=OutputSpec(fmt, compression),
            chunking=ChunkingSpec(target_bytes, max_rows),
        )
        return build_plan(spec, self.settings, export_id, owner="")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("pipeline")
    source = generate(root / "sources" / "events.parquet", ROWS, seed=5)
    settings = load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [root / "sources"],
        },
        environ={},
    )
    return World(settings, source, pl.read_parquet(source), root / "sources")


@dataclass
class Recorder:
    """An ExportObserver that keeps what it is told; optionally sets `stop` after N chunks."""

    stop: threading.Event = field(default_factory=threading.Event)
    #: The method of `stop` that stops it ("set"; an ExportStop also has "shutdown", "cancel").
    stop_how: str = "set"
    stop_after: int | None = None
    #: Set `stop` from a progress report once more than this many records are written,
    #: i.e. while the chunk holding the next record is open with data in it, and once
    #: the chunks holding the first this many records are journalled (a chunk whose
    #: commit has not started when `stop` is set is not committed). (Counting journalled
    #: chunks alone raced the commit thread: on a busy machine a late commit let the
    #: writer finish a further chunk before the stop.)
    stop_after_records: int | None = None
    chunks: list[ChunkResult] = field(default_factory=list)
    totals: list[PipelineProgress] = field(default_factory=list)
    progress_seen: list[PipelineProgress] = field(default_factory=list)

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        self.chunks.append(chunk)
        self.totals.append(progress)
        if self.stop_after is not None and len(self.chunks) >= self.stop_after:
            getattr(self.stop, self.stop_how)()

    def progress(self, progress: PipelineProgress) -> None:
        self.progress_seen.append(progress)
        after = self.stop_after_records
        if after is not None and progress.records > after and not self.stop.is_set():
            # Reported on the writer thread: the commit thread journals meanwhile.
            deadline = time.monotonic() + 20
            while sum(c.records for c in self.chunks) < after:
                assert time.monotonic() < deadline, "the chunks before the stop never committed"
                time.sleep(0.001)
            getattr(self.stop, self.stop_how)()


def run(
    plan: ExportPlan,
    sink: Any,
    *,
    resume: ResumePoint | None = None,
    recorder: Recorder | None = None,
    key: bytes = KEY,
    batch_rows: int = 256,
    queue_depth: int = 2,
) -> tuple[PipelineProgress, Recorder]:
    recorder = recorder or Recorder()
    options = PipelineOptions(
        batch_rows=batch_rows, queue_depth=queue_depth, zstd_threads=0, content_key=key
    )
    totals = run_pipeline(
        plan.pipeline, sink, resume or ResumePoint(), recorder, recorder.stop, options
    )
    return totals, recorder


def stored(sink: Any, plan: ExportPlan, chunk: ChunkResult) -> bytes:
    with sink.open(plan.pipeline.chunk_key(chunk.index)) as handle:
        data: bytes = handle.read()
    return data


def plaintext(plan: ExportPlan, data: bytes) -> bytes:
    """Undo the outer compression as `zstd -d` / `gunzip` would."""
    if plan.encoder.internal_compression or plan.compressor.name == "none":
        return data
    if plan.compressor.name == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            return reader.read()
    assert plan.compressor.name == "gzip"
    return gzip.decompress(data)


def decode(plan: ExportPlan, data: bytes) -> pl.DataFrame:
    fmt = plan.encoder.name
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(data))
    if fmt == "arrow":
        return pl.read_ipc(io.BytesIO(data))
    raise AssertionError(f"decode {fmt} as JSON records instead")


def json_records(plan: ExportPlan, data: bytes) -> list[dict[str, Any]]:
    if plan.encoder.name == "jsonl":
        return [json.loads(line) for line in data.splitlines()]
    document = json.loads(data)
    return list(document["data"])


def as_json_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """What a JSON writer of these rows must produce, as parsed JSON values (dates and
    times as RFC 3339 text: tests/unit/test_temporal_text.py pins the exact text)."""
    buffer = io.BytesIO()
    temporal_as_text(frame).write_ndjson(buffer)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def committed_keys(sink: Any, plan: ExportPlan) -> list[str]:
    return [info.key for info in sink.list(plan.prefix + "/")]


def same_chunks(a: list[ChunkResult], b: list[ChunkResult]) -> bool:
    """Equal in everything but the wall-clock time each was committed at."""

    def strip(chunks: list[ChunkResult]) -> list[tuple[Any, ...]]:
        return [
            (
                c.index,
                c.path,
                c.records,
                c.stored_bytes,
                c.sha256,
                c.content_digest,
                c.source_start,
                c.source_end,
            )
            for c in chunks
        ]

    return strip(a) == strip(b)


# --- chunk boundaries ------------------------------------------------------------------


def test_max_rows_cuts_exact_chunks_with_contiguous_source_ranges(world: World) -> None:
    plan = world.plan(max_rows=700, target_bytes=64 * 1024 * 1024)
    sink = MemorySink()
    totals, recorder = run(plan, sink, batch_rows=256)

    assert [c.records for c in recorder.chunks] == [700, 700, 700, 300]
    assert [(c.source_start, c.source_end) for c in recorder.chunks] == [
        (0, 700),
        (700, 1400),
        (1400, 2100),
        (2100, 2400),
    ]
    assert [c.index for c in recorder.chunks] == [0, 1, 2, 3]
    assert totals == PipelineProgress(
        records=ROWS,
        chunks=4,
        stored_bytes=sum(c.stored_bytes for c in recorder.chunks),
        source_rows_done=ROWS,
    )
    for chunk in recorder.chunks:
        records = json_records(plan, plaintext(plan, stored(sink, plan, chunk)))
        assert records == as_json_records(
            world.frame.slice(chunk.source_start, chunk.source_end - chunk.source_start)
        )


def test_one_record_per_chunk(world: World) -> None:
    plan = world.plan(max_rows=1, where="id % 500 = 7")
    sink = MemorySink()
    _, recorder = run(plan, sink)
    assert [c.records for c in recorder.chunks] == [1, 1, 1, 1, 1]
    ids = [
        json_records(plan, plaintext(plan, stored(sink, plan, c)))[0]["id"] for c in recorder.chunks
    ]
    assert ids == [7, 507, 1007, 1507, 2007]
    # With a filter a chunk's source range spans the rows it skipped.
    assert [(c.source_start, c.source_end) for c in recorder.chunks][:2] == [(7, 8), (507, 508)]


def test_target_bytes_closes_a_chunk_at_the_first_batch_boundary_past_it(world: World) -> None:
    target = 20_000
    batch = 64
    plan = world.plan("jsonl", "none", target_bytes=target)
    sink = MemorySink()
    _, recorder = run(plan, sink, batch_rows=batch)

    assert len(recorder.chunks) > 5
    for number, chunk in enumerate(recorder.chunks):
        lines = stored(sink, plan, chunk).splitlines(keepends=True)
        assert len(lines) == chunk.records
        sizes = [sum(map(len, lines[i : i + batch])) for i in range(0, len(lines), batch)]
        last = number == len(recorder.chunks) - 1
        # Every batch but the last found the chunk still below its target...
        assert sum(sizes[:-1]) < target, (number, sizes)
        if not last:
            # ...and the last one took it to (or past) the target, so the chunk closed.
            assert sum(sizes) >= target, (number, sizes)
            assert chunk.records % batch == 0
    assert sum(c.records for c in recorder.chunks) == ROWS


def test_both_limits_apply_whichever_comes_first(world: World) -> None:
    plan = world.plan("jsonl", "none", target_bytes=60_000, max_rows=100)
    _, recorder = run(plan, MemorySink(), batch_rows=64)
    # 100 rows of these records stay under 60 kB, so rows decide; batches are capped at 36.
    assert {c.records for c in recorder.chunks} == {100}
    plan = world.plan("jsonl", "none", target_bytes=1024, max_rows=100)
    _, recorder = run(plan, MemorySink(), batch_rows=64)
    # One 64-row batch already passes 1 KiB, so bytes decide (the last chunk has the rest).
    assert [c.records for c in recorder.chunks] == [64] * (ROWS // 64) + [ROWS % 64]


def test_an_empty_selection_stores_nothing(world: World) -> None:
    plan = world.plan(where="id < 0")
    sink = MemorySink()
    totals, recorder = run(plan, sink)
    assert recorder.chunks == []
    assert totals == PipelineProgress()
    assert committed_keys(sink, plan) == []


# --- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "compression"), FORMATS + TEXT_FORMATS)
def test_resumed_run_stores_byte_identical_chunks(world: World, fmt: str, compression: str) -> None:
    plan = world.plan(fmt, compression, where="amount > 20")
    # Parquet hands each batch's bytes back two batches later, so its chunks close two
    # batches past the target: smaller batches keep several chunks.
    batch_rows = 64 if fmt == "parquet" else 256
    full_sink = MemorySink()
    full_totals, full = run(plan, full_sink, batch_rows=batch_rows)
    assert len(full.chunks) >= 4, "the test needs several chunks"

    k = 2
    resumed_sink = MemorySink()
    resume = ResumePoint.after(full.chunks[:k])
    assert resume.next_index == k
    assert resume.from_row == full.chunks[k - 1].source_end
    resumed_totals, resumed = run(plan, resumed_sink, resume=resume, batch_rows=batch_rows)

    assert same_chunks(resumed.chunks, full.chunks[k:])
    assert resumed_totals == full_totals
    for chunk in full.chunks[k:]:
        data = stored(resumed_sink, plan, chunk)
        assert data == stored(full_sink, plan, chunk)
        assert hashlib.sha256(data).hexdigest() == chunk.sha256
    # The resumed run stored only the chunks after the resume point.
    assert committed_keys(resumed_sink, plan) == [
        plan.pipeline.chunk_key(c.index) for c in full.chunks[k:]
    ]


def test_rerun_and_other_batch_sizes_of_the_engine_do_not_change_chunks(world: World) -> None:
    plan = world.plan("jsonl", "zstd")
    _, first = run(plan, MemorySink())
    _, second = run(plan, MemorySink(), queue_depth=1)
    assert same_chunks(first.chunks, second.chunks)


# --- interruption and failure ----------------------------------------------------------


@pytest.mark.parametrize("when", ["at a commit", "mid-chunk"])
def test_stop_after_two_chunks_keeps_exactly_the_committed_chunks(
    world: World, tmp_path: Path, when: str
) -> None:
    # Four 25-row segments per chunk and a queue of one: once the third chunk has its
    # first segment written, it cannot be completed before the reader sees `stop`.
    plan = world.plan("jsonl", "zstd", max_rows=100, target_bytes=64 * 1024 * 1024)
    sink = LocalSink(tmp_path / "out")
    at_commit = when == "at a commit"
    recorder = Recorder(stop_after=2 if at_commit else None)
    recorder.stop_after_records = None if at_commit else 2 * 100

    with pytest.raises(Interrupted) as raised:
        run(plan, sink, recorder=recorder, queue_depth=1, batch_rows=25)
    assert raised.value.code == "CANCELLED"

    # Set after chunk 1 was journalled, or while chunk 2 was open: no commit starts after
    # the stop, however far the writer got with chunk 2 (at a commit, it may have
    # finished it and queued its commit).
    assert len(recorder.chunks) == 2
    assert committed_keys(sink, plan) == [plan.pipeline.chunk_key(c.index) for c in recorder.chunks]
    on_disk = sorted(str(p.relative_to(sink.root)) for p in sink.root.rglob("*") if p.is_file())
    assert on_disk == [plan.pipeline.chunk_key(c.index) for c in recorder.chunks]
    assert not any(TEMP_MARKER in name for name in on_disk)
    for chunk in recorder.chunks:
        assert hashlib.sha256(stored(sink, plan, chunk)).hexdigest() == chunk.sha256

    # Resuming from what was journalled completes the export as one uninterrupted run would.
    resume = ResumePoint.after(recorder.chunks)
    _, rest = run(plan, sink, resume=resume, queue_depth=1, batch_rows=25)
    _, whole = run(plan, MemorySink(), batch_rows=25)
    assert same_chunks(recorder.chunks + rest.chunks, whole.chunks)
    assert committed_keys(sink, plan) == [plan.pipeline.chunk_key(c.index) for c in whole.chunks]


def test_stop_set_before_the_start_stores_nothing(world: World) -> None:
    plan = world.plan()
    sink = MemorySink()
    recorder = Recorder()
    recorder.stop.set()
    with pytest.raises(Interrupted):
        run(plan, sink, recorder=recorder)
    assert recorder.chunks == []
    assert committed_keys(sink, plan) == []


@pytest.mark.parametrize(
    ("how", "suspended", "aborted"),
    [("shutdown", 1, 0), ("cancel", 0, 1), ("set", 1, 0)],
)
def test_a_shutdown_suspends_the_chunk_in_flight_and_a_cancel_aborts_it(
    world: World, how: str, suspended: int, aborted: int
) -> None:
    plan = world.plan("jsonl", "none", max_rows=100, target_bytes=64 * 1024 * 1024)
    sink = FailingSink(StorageUnavailable)
    recorder = Recorder(stop=ExportStop(), stop_how=how, stop_after_records=2 * 100)
    with pytest.raises(Interrupted):
        run(plan, sink, recorder=recorder, queue_depth=1, batch_rows=25)
    assert len(recorder.chunks) == 2
    assert (sink.suspended, sink.aborted) == (suspended, aborted)
    assert committed_keys(sink.inner, plan) == [
        plan.pipeline.chunk_key(c.index) for c in recorder.chunks
    ]


def test_a_cancel_after_a_shutdown_still_aborts(world: World) -> None:
    plan = world.plan("jsonl", "none", max_rows=100, target_bytes=64 * 1024 * 1024)
    sink = FailingSink(StorageUnavailable)
    stop = ExportStop()
    stop.shutdown()
    stop.cancel()
    assert stop.cancelled and not stop.keeps_uploads
    with pytest.raises(Interrupted):
        run(plan, sink, recorder=Recorder(stop=stop))
    assert sink.suspended == 0


class FailingSink:
    """A MemorySink whose writes start failing at the Nth `write` (counted over all
    objects) or whose Nth `commit` fails, with a given storage error."""

    def __init__(
        self,
        error: type[StorageError],
        *,
        fail_write: int | None = None,
        fail_commit: int | None = None,
    ) -> None:
        self.inner = MemorySink("failing")
        self.error = error
        self.fail_write = fail_write
        self.fail_commit = fail_commit
        self.writes = 0
        self.commits = 0
        self.aborted = 0
        self.suspended = 0

    @property
    def uri(self) -> str:
        return self.inner.uri

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def create(self, key: str, *, overwrite: bool = True) -> SinkWriter:
        return _FailingWriter(self, self.inner.create(key, overwrite=overwrite))

    def open(self, key: str) -> BinaryIO:
        return self.inner.open(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def remove(self, key: str) -> None:
        self.inner.remove(key)


class _FailingWriter:
    def __init__(self, sink: FailingSink, inner: SinkWriter) -> None:
        self._sink = sink
        self._inner = inner

    def write(self, data: bytes | memoryview) -> None:
        self._sink.writes += 1
        if self._sink.fail_write is not None and self._sink.writes >= self._sink.fail_write:
            raise self._sink.error("injected write failure", location="memory://failing")
        self._inner.write(data)

    def commit(self) -> ObjectInfo:
        self._sink.commits += 1
        if self._sink.commits == self._sink.fail_commit:
            self._inner.abort()
            raise self._sink.error("injected commit failure", location="memory://failing")
        return self._inner.commit()

    def abort(self) -> None:
        self._sink.aborted += 1
        self._inner.abort()

    def suspend(self) -> None:
        self._sink.suspended += 1
        self._inner.suspend()


def _run_in_thread(plan: ExportPlan, sink: Any, recorder: Recorder) -> BaseException | None:
    """Run the pipeline on a thread, so a hang fails the test instead of blocking it."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            run(plan, sink, recorder=recorder, queue_depth=1, batch_rows=64)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the reader thread hangs after the writer failed"
    return outcome[0]


@pytest.mark.parametrize("ending", ["stopped mid-chunk", "storage failure"])
def test_a_parquet_export_that_ends_early_leaves_no_encoder_threads(
    world: World, ending: str
) -> None:
    plan = world.plan("parquet", "zstd", max_rows=400, target_bytes=64 * 1024 * 1024)
    stopped = ending == "stopped mid-chunk"
    sink = MemorySink() if stopped else FailingSink(StorageUnavailable, fail_write=3)
    recorder = Recorder(stop_after_records=400 if stopped else None)

    error = _run_in_thread(plan, sink, recorder)

    assert isinstance(error, Interrupted if stopped else Unavailable)
    # The encoder's workers finish the row group in hand, then end.
    deadline = time.monotonic() + 20
    while _parquet_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _parquet_threads() == []


def _parquet_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("parquet")]


@pytest.mark.parametrize("fail_write", [1, 6, 40])
def test_a_transient_storage_failure_surfaces_as_unavailable(world: World, fail_write: int) -> None:
    # Uncompressed, each 64-row batch is one write: 4 writes per 200-row chunk.
    plan = world.plan("jsonl", "none", max_rows=200, target_bytes=64 * 1024 * 1024)
    sink = FailingSink(StorageUnavailable, fail_write=fail_write)
    recorder = Recorder()

    error = _run_in_thread(plan, sink, recorder)

    assert isinstance(error, Unavailable)
    assert error.transient
    assert "injected write failure" in error.message
    assert "memory://failing" in error.message
    # Only journalled chunks are visible; the chunk in flight was aborted, not committed.
    assert len(recorder.chunks) == (fail_write - 1) // 4
    assert committed_keys(sink.inner, plan) == [
        plan.pipeline.chunk_key(c.index) for c in recorder.chunks
    ]
    assert sink.aborted == 1


def test_a_failed_commit_leaves_only_earlier_chunks(world: World) -> None:
    plan = world.plan("csv", "gzip", max_rows=300, target_bytes=64 * 1024 * 1024)
    sink = FailingSink(StorageUnavailable, fail_commit=3)
    recorder = Recorder()

    error = _run_in_thread(plan, sink, recorder)

    assert isinstance(error, Unavailable)
    assert [c.index for c in recorder.chunks] == [0, 1]
    assert committed_keys(sink.inner, plan) == [
        plan.pipeline.chunk_key(0),
        plan.pipeline.chunk_key(1),
    ]


def test_a_permanent_storage_failure_is_not_transient(world: World) -> None:
    plan = world.plan("parquet", "zstd")
    sink = FailingSink(StorageAccessDenied, fail_write=2)
    error = _run_in_thread(plan, sink, Recorder())
    assert isinstance(error, PermissionDenied)
    assert isinstance(error, SluiceError)
    assert not error.transient


def test_an_observer_failure_stops_the_export(world: World) -> None:
    class Broken(Recorder):
        def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
            super().chunk_committed(chunk, progress)
            if len(self.chunks) == 2:
                raise RuntimeError("job store is gone")

    plan = world.plan(max_rows=100, target_bytes=64 * 1024 * 1024)
    recorder = Broken()
    error = _run_in_thread(plan, MemorySink(), recorder)
    assert isinstance(error, RuntimeError)
    assert len(recorder.chunks) == 2


class SlowFirstCommitSink(FailingSink):
    """A MemorySink whose first commit waits (up to 10 s) until the next chunk has had two
    writes, as a slow fsync or multipart completion would keep it busy. (Two, so that the
    progress report after the first one is certain to come while the commit runs.)"""

    def __init__(self) -> None:
        super().__init__(StorageUnavailable)
        self.next_chunk_written = threading.Event()
        self.committing = False
        self.writes_while_committing = 0
        self.overlapped = False
        self.order: list[str] = []

    def create(self, key: str, *, overwrite: bool = True) -> SinkWriter:
        self.order.append(f"create {key}")
        return _SlowFirstCommitWriter(self, key, self.inner.create(key, overwrite=overwrite))


class _SlowFirstCommitWriter(_FailingWriter):
    def __init__(self, sink: SlowFirstCommitSink, key: str, inner: SinkWriter) -> None:
        super().__init__(sink, inner)
        self._slow = sink
        self._key = key

    def write(self, data: bytes | memoryview) -> None:
        if self._slow.committing:
            self._slow.writes_while_committing += 1
            if self._slow.writes_while_committing >= 2:
                self._slow.next_chunk_written.set()
        super().write(data)

    def commit(self) -> ObjectInfo:
        if not self._slow.committing:
            self._slow.committing = True
            self._slow.overlapped = self._slow.next_chunk_written.wait(10)
        self._slow.order.append(f"commit {self._key}")
        return super().commit()


def test_a_commit_overlaps_writing_the_next_chunk_and_journals_stay_in_order(
    world: World,
) -> None:
    # Uncompressed, so every batch reaches the store as it is written.
    plan = world.plan("jsonl", "none", max_rows=300, target_bytes=64 * 1024 * 1024)
    sink = SlowFirstCommitSink()

    class Watching(Recorder):
        """Notes, at each progress report, the chunks it claims and those journalled."""

        claims: list[tuple[int, int]] = []

        def progress(self, progress: PipelineProgress) -> None:
            self.claims.append((progress.chunks, len(self.chunks)))
            super().progress(progress)

    totals, recorder = run(plan, sink, batch_rows=64, recorder=Watching())

    assert sink.overlapped, "chunk 1 was not written while chunk 0 was committing"
    # Progress counts a chunk once it is journalled, never while it is being committed:
    # the report after chunk 1's first write (records past chunk 0's 300) claims none.
    assert all(claimed <= journalled for claimed, journalled in Watching.claims)
    first_of_chunk_1 = next(
        n for n, seen in enumerate(recorder.progress_seen) if seen.records > 300
    )
    assert Watching.claims[first_of_chunk_1] == (0, 0)
    assert [c.index for c in recorder.chunks] == list(range(8))
    # Each chunk's totals count exactly the chunks journalled up to it.
    assert [t.chunks for t in recorder.totals] == list(range(1, 9))
    assert [t.records for t in recorder.totals] == [min(300 * n, ROWS) for n in range(1, 9)]
    commits = [entry for entry in sink.order if entry.startswith("commit")]
    assert commits == [f"commit {plan.pipeline.chunk_key(n)}" for n in range(8)]
    assert totals.records == ROWS
    rows = [
        record
        for chunk in recorder.chunks
        for record in json_records(plan, plaintext(plan, stored(sink.inner, plan, chunk)))
    ]
    assert len(rows) == len({r["id"] for r in rows}) == ROWS


def test_a_commit_that_fails_while_the_next_chunk_is_written_fails_the_export(
    world: World,
) -> None:
    plan = world.plan("jsonl", "none", max_rows=300, target_bytes=64 * 1024 * 1024)
    sink = FailingSink(StorageUnavailable, fail_commit=1)
    recorder = Recorder()

    error = _run_in_thread(plan, sink, recorder)

    assert isinstance(error, Unavailable)
    assert "injected commit failure" in error.message
    assert recorder.chunks == []
    assert committed_keys(sink.inner, plan) == []
    # Whatever of the next chunk was written when the failure surfaced was discarded.
    assert sink.commits == 1
    assert sink.aborted <= 1


class _LeaseLostObserver(Recorder):
    """Journals uploads in memory; the lease turns out lost at chunk 1's first progress
    save (`at="progress"`) or at journalling chunk 0 (`at="journal"`), raising LeaseLost
    there (after noting it in `lost`)."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at
        self.lost = threading.Event()

    def _lose(self) -> None:
        self.lost.set()
        raise LeaseLost("export 'x': the lease changed during the write")

    def progress(self, progress: PipelineProgress) -> None:
        super().progress(progress)
        if self.at == "progress" and progress.records > 300:
            self._lose()

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        if self.at == "journal":
            self._lose()
        super().chunk_committed(chunk, progress)

    def upload_journal(self, key: str) -> UploadJournal:
        return MemoryJournal()


class _WaitsForTheHandOver(RecordingUpload):
    """`at` (a commit, or the first write once `lost`) waits up to 5 s for the run to
    hand its uploads over, then marks the calls made from then on."""

    def __init__(self, journal: UploadJournal | None, at: str, lost: threading.Event) -> None:
        super().__init__(journal, part_size=4096)
        self._at = at
        self._lost = lost
        self.marked = False

    def _wait(self) -> None:
        assert self._journal is not None
        self._journal.wait_handed_over(5)
        self.marked = True
        self.calls.append("MARK")

    def write(self, data: bytes | memoryview) -> None:
        if self._at == "write" and not self.marked:
            assert self._lost.wait(20), "the lease was never lost"
            self._wait()
        super().write(data)

    def commit(self) -> ObjectInfo:
        if self._at == "commit":
            self._wait()
        return super().commit()


class _CommitsOnce(RecordingUpload):
    """Chunk 0's upload when the lease turns out lost at journalling it: its commit
    waits (up to 20 s) until chunk 1's upload was created, so that one is being
    written when the loss comes."""

    def __init__(self, journal: UploadJournal | None, next_created: threading.Event) -> None:
        super().__init__(journal, part_size=4096)
        self._next_created = next_created

    def commit(self) -> ObjectInfo:
        assert self._next_created.wait(20), "chunk 1 was never created"
        return super().commit()


@pytest.mark.parametrize("at", ["progress", "journal"])
def test_a_lease_lost_on_one_thread_stops_the_other_threads_upload_at_once(
    world: World, at: str
) -> None:
    """The lease turns out lost on one thread: at chunk 1's first progress save on the
    writer thread (while chunk 0's commit is under way), or at journalling chunk 0 on
    the commit thread (while the writer thread writes chunk 1). The other thread's
    upload sends nothing more from then on (no part, completion or abort of it: the new
    holder may be continuing it), and the run ends with LeaseLost."""
    plan = world.plan("jsonl", "none", max_rows=300, target_bytes=64 * 1024 * 1024)
    recorder = _LeaseLostObserver(at)
    # The upload that must stop: chunk 0's, or chunk 1's.
    stopped = plan.pipeline.chunk_key(0 if at == "progress" else 1)

    next_created = threading.Event()

    def make(key: str, journal: UploadJournal | None) -> RecordingUpload:
        if key == plan.pipeline.chunk_key(1):
            next_created.set()
        if key == stopped:
            waits_at = "commit" if at == "progress" else "write"
            return _WaitsForTheHandOver(journal, waits_at, recorder.lost)
        if at == "journal" and key == plan.pipeline.chunk_key(0):
            return _CommitsOnce(journal, next_created)
        return RecordingUpload(journal, part_size=4096)

    sink = RecordingSink(make=make)

    with pytest.raises(LeaseLost):
        run(plan, sink, recorder=recorder, batch_rows=64)

    calls = sink.writers[stopped].calls
    assert "MARK" in calls
    assert calls[calls.index("MARK") + 1 :] == []
    assert recorder.chunks == []


# --- records read back -----------------------------------------------------------------


def _read_back(plan: ExportPlan, sink: Any, chunks: list[ChunkResult]) -> list[bytes]:
    out = []
    for chunk in chunks:
        data = stored(sink, plan, chunk)
        assert len(data) == chunk.stored_bytes
        assert hashlib.sha256(data).hexdigest() == chunk.sha256
        out.append(plaintext(plan, data))
    return out


@pytest.mark.parametrize(("fmt", "compression"), FORMATS)
def test_records_read_back_equal_the_source(world: World, fmt: str, compression: str) -> None:
    plan = world.plan(fmt, compression)
    sink = MemorySink()
    totals, recorder = run(plan, sink)
    assert totals.records == ROWS
    assert len(recorder.chunks) > 1
    parts = _read_back(plan, sink, recorder.chunks)
    source = world.frame

    if fmt in {"parquet", "arrow"}:
        frames = [decode(plan, part) for part in parts]
        assert [f.height for f in frames] == [c.records for c in recorder.chunks]
        assert pl.concat(frames).equals(source)
        assert frames[0].schema == source.schema
    elif fmt in {"jsonl", "json"}:
        records = [r for part in parts for r in json_records(plan, part)]
        assert records == as_json_records(source)
    else:
        frames = [
            pl.read_csv(
                io.BytesIO(part), try_parse_dates=True, schema_overrides={"device": pl.String}
            )
            for part in parts
        ]
        assert [f.height for f in frames] == [c.records for c in recorder.chunks]
        read = pl.concat(frames)
        assert read.drop("device").equals(source.drop("device"))
        assert [json.loads(v) for v in read.get_column("device")] == source.get_column(
            "device"
        ).to_list()


def test_a_local_sink_holds_files_that_sha256sum_verifies(world: World, tmp_path: Path) -> None:
    plan = world.plan("jsonl", "zstd")
    sink = LocalSink(tmp_path / "out")
    _, recorder = run(plan, sink)
    folder = tmp_path / "out" / plan.prefix
    assert sorted(p.name for p in folder.iterdir()) == [c.path for c in recorder.chunks]
    records = []
    for chunk in recorder.chunks:
        data = (folder / chunk.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == chunk.sha256
        records += json_records(plan, plaintext(plan, data))
    assert records == as_json_records(world.frame)


def test_progress_reports_are_monotonic_and_end_at_the_totals(world: World) -> None:
    plan = world.plan("jsonl", "none", target_bytes=50_000)
    totals, recorder = run(plan, MemorySink(), batch_rows=128)
    seen = recorder.progress_seen
    assert seen
    assert [p.source_rows_done for p in seen] == sorted(p.source_rows_done for p in seen)
    assert [p.records for p in seen] == sorted(p.records for p in seen)
    assert seen[-1].records == ROWS
    assert recorder.totals[-1] == totals
    assert [t.chunks for t in recorder.totals] == list(range(1, len(recorder.chunks) + 1))


# --- format shapes ---------------------------------------------------------------------


def test_json_chunks_are_single_documents_with_metadata(world: World) -> None:
    plan = world.plan("json", "zstd")
    sink = MemorySink()
    _, recorder = run(plan, sink)
    for chunk, part in zip(recorder.chunks, _read_back(plan, sink, recorder.chunks), strict=True):
        document = json.loads(part)  # raises unless the whole chunk is one JSON value
        assert set(document) == {"metadata", "data"}
        assert document["metadata"] == {
            "format": "sluice-json-v1",
            "export_id": EXPORT_ID,
            "dataset": "events",
            "chunk": chunk.index,
        }
        assert len(document["data"]) == chunk.records


def test_a_json_chunk_without_records_is_still_a_document() -> None:
    encoder = JsonDocumentEncoder(ChunkContext(export_id="e", dataset="d", index=4))
    empty = pl.DataFrame(schema={"id": pl.Int64})
    body = encoder.encode(empty) + encoder.finish()
    assert json.loads(body) == {
        "metadata": {"format": "sluice-json-v1", "export_id": "e", "dataset": "d", "chunk": 4},
        "data": [],
    }


NESTED = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "tags": [["a", "b,c"], [], None, ['say "hi"']],
        "point": [
            {"x": 1, "label": "p,1", "ys": [1.5, 2.0]},
            None,
            {"x": 3, "label": "line\nbreak", "ys": []},
            {"x": None, "label": None, "ys": None},
        ],
        "text": ["plain", "comma, here", 'quote "here"', "new\nline"],
    }
)


def test_csv_writes_nested_values_as_json_text_and_a_header_per_chunk(world: World) -> None:
    path = world.sources / "nested.parquet"
    NESTED.write_parquet(path)
    plan = world.plan("csv", "none", source=path, max_rows=3)
    sink = MemorySink()
    _, recorder = run(plan, sink)
    assert [c.records for c in recorder.chunks] == [3, 1]

    parts = _read_back(plan, sink, recorder.chunks)
    for part in parts:
        assert part.startswith(b"id,tags,point,text\n")
    read = pl.concat(
        pl.read_csv(io.BytesIO(p), schema_overrides={"tags": pl.String, "point": pl.String})
        for p in parts
    )

    def parsed(cell: str | None) -> Any:
        return None if cell is None else json.loads(cell)

    assert [parsed(c) for c in read.get_column("tags")] == NESTED.get_column("tags").to_list()
    assert [parsed(c) for c in read.get_column("point")] == NESTED.get_column("point").to_list()
    assert read.get_column("text").to_list() == NESTED.get_column("text").to_list()
    assert read.get_column("id").to_list() == [1, 2, 3, 4]


# --- content digests -------------------------------------------------------------------


def test_content_digest_is_a_keyed_blake3_of_the_plaintext(world: World) -> None:
    # The key derivation the README documents, computed here without Sluice's code.
    blake3_key = hmac.new(KEY, b"sluice chunk content digest blake3 v1", hashlib.sha256).digest()
    for fmt, compression in (("jsonl", "zstd"), ("parquet", "zstd"), ("csv", "gzip")):
        plan = world.plan(fmt, compression)
        sink = MemorySink()
        _, recorder = run(plan, sink)
        parts = _read_back(plan, sink, recorder.chunks)
        for chunk, part in zip(recorder.chunks, parts, strict=True):
            expected = blake3.blake3(part, key=blake3_key).hexdigest()
            assert chunk.content_digest == f"blake3:{expected}"


def test_content_digest_depends_on_the_key_not_on_compression_or_export(world: World) -> None:
    runs = {
        compression: run(world.plan("jsonl", compression), MemorySink())[1].chunks
        for compression in ("zstd", "gzip", "none")
    }
    other_export = run(world.plan("jsonl", "zstd", export_id="other-export"), MemorySink())[1]
    other_key = run(world.plan("jsonl", "zstd"), MemorySink(), key=b"another key")[1]

    digests = {name: [c.content_digest for c in chunks] for name, chunks in runs.items()}
    assert digests["zstd"] == digests["gzip"] == digests["none"]
    assert [c.sha256 for c in runs["zstd"]] != [c.sha256 for c in runs["gzip"]]
    # Identical content in another export is recognised by its digest...
    assert [c.content_digest for c in other_export.chunks] == digests["zstd"]
    assert [c.sha256 for c in other_export.chunks] == [c.sha256 for c in runs["zstd"]]
    # ...but only by someone holding the same key.
    assert all(
        a.content_digest != b.content_digest
        for a, b in zip(other_key.chunks, runs["zstd"], strict=True)
    )
    assert [c.sha256 for c in other_key.chunks] == [c.sha256 for c in runs["zstd"]]


def test_parquet_chunks_finished_while_the_next_is_encoded_are_the_files_of_their_rows(
    world: World,
) -> None:
    # Each Parquet chunk's last row groups and footer are made on its encoder's workers
    # while the next chunk is encoded (ParquetEncoder.finish_in_pieces): every chunk must
    # still be the file a synchronous finish makes of its rows, journalled in order.
    plan = world.plan("parquet", "zstd")
    batch_rows = 64
    sink = MemorySink()
    totals, recorder = run(plan, sink, batch_rows=batch_rows)
    assert len(recorder.chunks) >= 4, "the test needs several chunks"
    assert [c.index for c in recorder.chunks] == list(range(len(recorder.chunks)))
    assert totals.records == world.frame.height
    for chunk in recorder.chunks:
        data = stored(sink, plan, chunk)
        rows = decode(plan, data)
        encoder = ParquetEncoder(ChunkContext("e", "d", chunk.index, codec="zstd", level=3))
        parts = [
            encoder.encode(rows.slice(at, batch_rows)) for at in range(0, rows.height, batch_rows)
        ]
        assert b"".join(parts) + encoder.finish() == data
        assert rows.equals(world.frame.slice(chunk.source_start, chunk.records))
