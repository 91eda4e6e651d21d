"""The daemon's progress reporter: a chunk's commit overlaps the writing of the next one,
so its totals can trail what watchers have already seen. Watchers must still see
progress that never goes back, and the journal must hold the chunk's own totals. Its
lease renewal before a commit hears of a cancel requested on another replica."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.server.errors import LeaseLost, NotFound, SluiceError, Unavailable
from sluice.server.execution import executor as execution
from sluice.server.execution.executor import ExecutionContext, _ProgressReporter
from sluice.server.jobs.model import NewJob, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import MIN_PROGRESS_INTERVAL, EventHub, ProgressUpdated
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from sluice.sinks.base import UploadJournal
from sluice.sinks.errors import JournalRefused


def _chunk(index: int, records: int, source_end: int) -> ChunkResult:
    return ChunkResult(
        index=index,
        path=f"part-{index:06d}.jsonl",
        records=records,
        stored_bytes=10,
        sha256="0" * 64,
        content_digest="hmac-sha256:" + "0" * 64,
        source_start=source_end - records,
        source_end=source_end,
        committed_at=datetime.now(UTC),
    )


def test_a_late_commit_never_moves_watched_progress_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execution, "_PUBLISH_EVERY", 0.0)  # publish every report
    settings = load_settings(None, {"state_dir": tmp_path / "state"}, environ={})
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "in.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-progress", spec=spec))
    hub = EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "k", b"i" * 32)
    reporter = _ProgressReporter(
        job.id, job.spec.destination.dataset, context, Progress(), threading.Event()
    )

    with hub.subscribe(job.id) as watcher:
        # Chunk 0 (100 records) is written; 50 records of chunk 1 are written while
        # chunk 0 is still being committed (the writer counts no chunk yet); then chunk
        # 0's commit is journalled.
        reporter.progress(PipelineProgress(records=100, chunks=0, source_rows_done=100))
        reporter.progress(PipelineProgress(records=150, chunks=0, source_rows_done=150))
        committed = PipelineProgress(records=100, chunks=1, stored_bytes=10, source_rows_done=100)
        reporter.chunk_committed(_chunk(0, 100, 100), committed)
        events = []
        # Progress reaches a watcher at most once per MIN_PROGRESS_INTERVAL (the newest).
        while (event := watcher.next(2 * MIN_PROGRESS_INTERVAL)) is not None:
            events.append(event)

    seen = [e.live.progress for e in events if isinstance(e, ProgressUpdated)]
    assert [p.records for p in seen] == sorted(p.records for p in seen)
    # The last word: the writer's records, and the chunk just journalled.
    assert (seen[-1].records, seen[-1].chunks) == (150, 1)
    # The journal keeps the chunk's own totals, not the writer's look-ahead.
    assert [c.records for c in store.chunks(job.id)] == [100]
    assert store.get(job.id).progress.records == 100


def test_a_cancel_requested_elsewhere_is_heard_at_the_renewal_before_a_commit(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "job_lease_seconds": 60}, environ={}
    )
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "in.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-cancelled", spec=spec))
    claimed = store.claim("here", 60)
    assert claimed is not None
    context = ExecutionContext(settings, store, EventHub(), open_sink, b"k" * 32, "k", b"i" * 32)
    stop = ExportStop()
    reporter = _ProgressReporter(
        job.id, job.spec.destination.dataset, context, Progress(), stop, claimed[1]
    )
    reporter.before_commit(0)  # renews: nothing requested yet
    assert not stop.is_set()

    store.request_cancel(job.id)  # as CancelExport on another replica does
    reporter.before_commit(1)  # renewed just now: no round trip, nothing heard yet
    assert not stop.is_set()
    reporter._renewed_at -= 31  # half the lease has passed since
    reporter.before_commit(2)

    assert stop.cancelled
    assert not stop.keeps_uploads


@pytest.mark.parametrize("ending", ["lease lost", "shutdown", "cancel"])
def test_the_upload_journals_are_handed_over_once_the_heartbeat_found_the_lease_taken(
    tmp_path: Path, ending: str
) -> None:
    """The heartbeat stops a run whose lease another replica took: the journals of its
    uploads say so at once, so its writers send nothing more even mid-chunk (a shutdown
    or a cancel leaves the uploads the run's own)."""
    stop = ExportStop()
    journal = _upload_journal_of_a_run(tmp_path, stop)
    assert not journal.handed_over()

    {"lease lost": stop.lose_lease, "shutdown": stop.shutdown, "cancel": stop.cancel}[ending]()

    assert journal.handed_over() == (ending == "lease lost")


def test_a_wait_for_the_hand_over_ends_once_the_heartbeat_found_the_lease_taken(
    tmp_path: Path,
) -> None:
    """A part waiting out a retry's backoff waits here: it wakes as the lease is lost,
    not when the backoff ends."""
    stop = ExportStop()
    journal = _upload_journal_of_a_run(tmp_path, stop)
    assert not journal.wait_handed_over(0.01)
    woken: list[bool] = []
    waiting = threading.Thread(target=lambda: woken.append(journal.wait_handed_over(600)))
    waiting.start()
    stop.shutdown()  # not a hand-over: the uploads stay the run's
    stop.lose_lease()
    waiting.join(60)
    assert woken == [True]


def _upload_journal_of_a_run(tmp_path: Path, stop: ExportStop) -> UploadJournal:
    """The journal of one upload of a run stopped by `stop`, on a SQLite store."""
    settings = load_settings(None, {"state_dir": tmp_path / "state"}, environ={})
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "in.parquet")),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-handed", spec=spec))
    claimed = store.claim("here", 60)
    assert claimed is not None
    context = ExecutionContext(settings, store, EventHub(), open_sink, b"k" * 32, "k", b"i" * 32)
    reporter = _ProgressReporter(
        job.id, job.spec.destination.dataset, context, Progress(), stop, claimed[1]
    )
    return reporter.upload_journal("events/x/part-000000.jsonl")


@pytest.mark.parametrize(
    "error",
    [LeaseLost("taken over"), Unavailable("job store: connection refused"), NotFound("job gone")],
    ids=["lease lost", "store unreachable", "job gone"],
)
def test_only_a_lost_lease_or_an_unreachable_store_refuses_a_journal_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: SluiceError
) -> None:
    """A refusal hands the upload over (nothing more is sent for it, not even an abort),
    so only the two failures that may mean another holder has it are refusals; any other
    (the job gone) goes up as itself, and the writer aborts as on any failure."""

    def failing(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr(SQLiteJobStore, "save_upload", failing)
    journal = _upload_journal_of_a_run(tmp_path, ExportStop())
    if isinstance(error, NotFound):
        with pytest.raises(NotFound):
            journal.save("{}")
    else:
        with pytest.raises(JournalRefused) as refused:
            journal.save("{}")
        assert refused.value.reason is error
