"""A cancel stops an export within one chunk: once it is requested, no chunk commit
starts, so only a chunk whose commit was already under way is still journalled, however
many chunks the writer has ready behind it. The export then ends CANCELLED, with every
stored chunk journalled and nothing else left in its folder. Run in-process through the
runner, on a real SQLite store and a real local folder, with one-row chunks; the test
holds the export at a known point of one chunk while it requests the cancel. A cancel
recorded in the store (by another replica) is heard before the manifest too."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zstandard

from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import ChunkingSpec, DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.sinks import open_sink
from sluice.sinks.base import ObjectInfo, Sink, SinkWriter
from tests.unit.local_runs import local_run
from tests.waiting import until

ROWS = 40
#: The chunk the test holds (one row each: chunk N holds id N).
HELD = 5


class _Hold:
    """Holds the writer of one chunk at its first write (`at="write"`) or its commit
    (`at="commit"`) until released; notes the chunks the sink was asked to create."""

    def __init__(self, key: str, at: str) -> None:
        self.key = key
        self.at = at
        self.reached = threading.Event()
        self.released = threading.Event()
        self.held_bytes = b""
        self.created: list[str] = []

    def wrap(self, sink: Sink) -> Sink:
        create = sink.create

        def held_create(key: str, **options: object) -> SinkWriter:
            self.created.append(key)
            writer = create(key, **options)  # type: ignore[arg-type]
            return _HeldWriter(self, writer) if key == self.key else writer

        sink.create = held_create  # type: ignore[method-assign]
        return sink

    def wait(self) -> None:
        self.reached.set()
        assert self.released.wait(30), "the test never released the held chunk"


class _HeldWriter:
    def __init__(self, hold: _Hold, inner: SinkWriter) -> None:
        self._hold = hold
        self._inner = inner
        self._writes = 0

    def write(self, data: bytes | memoryview) -> None:
        self._writes += 1
        if self._hold.at == "write" and self._writes == 1:
            self._hold.held_bytes = bytes(data)
            self._hold.wait()
        self._inner.write(data)

    def commit(self) -> ObjectInfo:
        if self._hold.at == "commit":
            self._hold.wait()
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()

    def suspend(self) -> None:
        self._inner.suspend()


@contextmanager
def _held_export(
    tmp_path: Path, store: SQLiteJobStore, hold: _Hold
) -> Iterator[tuple[ExportRunner, Job]]:
    """The export of ROWS one-row chunks running under `hold`; on leaving, the hold is
    released and the runner shut down."""
    run = local_run(tmp_path, ROWS, max_concurrent_exports=1)
    source, out, settings = run.source, run.out, run.settings

    def held_sink(uri: str, *, profile: object = None) -> Sink:
        return hold.wrap(open_sink(uri, profile=profile))  # type: ignore[arg-type]

    context = ExecutionContext(
        settings, store, EventHub(), held_sink, b"k" * 32, "key-id", b"i" * 32
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(out), dataset="events"),
        chunking=ChunkingSpec(max_rows=1),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-cancel", spec=spec))
    runner = ExportRunner(context)
    runner.start()
    runner.submit(job.id)
    try:
        yield runner, job
    finally:
        hold.released.set()
        runner.shutdown(5)


def _unzstd(data: bytes) -> bytes:
    """A whole zstd frame's content (a streamed frame does not state its size)."""
    stream = zstandard.ZstdDecompressor().decompressobj()
    content = stream.decompress(data)
    assert stream.eof, "not a whole zstd frame"
    return content


def _chunk_key(job: Job, index: int) -> str:
    return f"events/{job.id}/part-{index:06d}.jsonl.zst"


def _assert_cancelled_with_chunks(
    store: SQLiteJobStore, job: Job, out: Path, journalled: int
) -> None:
    """CANCELLED, chunks 0..journalled-1 journalled, and exactly those stored (their
    bytes as journalled), nothing else in the export's folder."""
    until(lambda: store.get(job.id).state.final, "the export never ended", 10)
    assert store.get(job.id).state == JobState.CANCELLED
    chunks = store.chunks(job.id)
    assert [c.index for c in chunks] == list(range(journalled))
    folder = out / "events" / job.id
    stored = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert stored == [f"part-{n:06d}.jsonl.zst" for n in range(journalled)]
    for chunk in chunks:
        data = (folder / chunk.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == chunk.sha256
        assert _unzstd(data) == b'{"id":%d}\n' % chunk.index
    assert list(store.uploads(job.id)) == []


def test_a_cancel_after_chunk_k_is_journalled_commits_no_further_chunk(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    # Chunk HELD is held at its first write: a one-row zstd chunk reaches the store in
    # one piece, when the writer closes it, once chunk HELD-1's commit is journalled
    # (commits run in order). The chunk is then written whole, ready to commit.
    job_key = "20260101T000000Z-cancel"
    hold = _Hold(f"events/{job_key}/part-{HELD:06d}.jsonl.zst", at="write")
    with _held_export(tmp_path, store, hold) as (runner, job):
        assert hold.reached.wait(30), "the export never reached the held chunk"
        # The premise: the held write is the whole chunk, and the chunks before it are
        # journalled (K = HELD of them).
        assert _unzstd(hold.held_bytes) == b'{"id":%d}\n' % HELD
        assert [c.index for c in store.chunks(job.id)] == list(range(HELD))
        runner.cancel(job.id, wait_seconds=0)
        hold.released.set()
        _assert_cancelled_with_chunks(store, job, tmp_path / "out", HELD)


def test_a_cancel_during_a_commit_lets_that_chunk_finish_and_no_other(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    # Chunk HELD is held inside its commit (publishing it in the store), where a cancel
    # cannot take it back: it is journalled, so a resume never writes it twice. The
    # writer meanwhile finishes the next chunk, which must not follow it.
    job_key = "20260101T000000Z-cancel"
    hold = _Hold(f"events/{job_key}/part-{HELD:06d}.jsonl.zst", at="commit")
    with _held_export(tmp_path, store, hold) as (runner, job):
        assert hold.reached.wait(30), "the export never reached the held chunk"
        assert [c.index for c in store.chunks(job.id)] == list(range(HELD))
        # The writer has the next chunk under way (its file is created on its first
        # row) before the cancel, and a moment to finish it and queue its commit behind
        # the held one. (The moment only gives a writer that ignored the cancel the
        # chance to show it: a correct one passes however long it takes.)
        until(lambda: _chunk_key(job, HELD + 1) in hold.created, "chunk HELD+1 never began", 10)
        time.sleep(0.2)
        runner.cancel(job.id, wait_seconds=0)
        hold.released.set()
        _assert_cancelled_with_chunks(store, job, tmp_path / "out", HELD + 1)


def test_a_cancel_recorded_in_the_store_during_the_last_commit_writes_no_manifest(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    # As CancelExport on another replica records it: the run hears of it at the lease
    # renewal before the manifest, which commits the export, rather than succeed.
    job_key = "20260101T000000Z-cancel"
    hold = _Hold(f"events/{job_key}/part-{ROWS - 1:06d}.jsonl.zst", at="commit")
    with _held_export(tmp_path, store, hold) as (_, job):
        assert hold.reached.wait(30), "the export never reached its last chunk"
        store.request_cancel(job.id)
        hold.released.set()
        _assert_cancelled_with_chunks(store, job, tmp_path / "out", ROWS)
