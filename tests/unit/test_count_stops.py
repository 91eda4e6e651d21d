"""A cancel, a shutdown or a lost lease that comes while a run counts its CSV or NDJSON
source's rows (the default count_source_rows) ends the count at its next block, the
count having read one block of a file of several, and nothing exported: a cancel ends
the export CANCELLED at once, a shutdown hands it back queued, a lost lease leaves it to
the new holder untouched. The count used to be one Polars call over the whole file that
no stop interrupted (minutes on a multi-GB file on a slow disk). Run in-process: the
real runner and executor on a real SQLite store and local folders; the stop comes from
the count's first block read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, cast

import polars as pl
import pytest

from sluice.server.errors import Interrupted
from sluice.server.execution.executor import ExecutionContext
from sluice.server.execution.run_start import source_rows as counted_rows
from sluice.server.jobs.model import JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.checked_files import open_checked
from sluice.server.pipeline.piece_counts import COUNT_BLOCK_BYTES
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import Settings, load_settings
from sluice.sinks import open_sink
from tests.waiting import until

#: Rows of the source: some five count blocks' worth of either format.
ROWS = 600_000
#: What the count reads before its first block, to tell a compressed file.
_MAGIC_BYTES = 4


class _CountedFile:
    """A source file the count opened: notes the bytes read, and calls `on_read` once
    the count read its first block (after the few bytes it reads to tell a compressed
    file, before it rewinds)."""

    def __init__(self, handle: IO[bytes], on_read: Callable[[], None]) -> None:
        self._handle = handle
        self._on_read: Callable[[], None] | None = on_read
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.bytes_read += len(data)
        if self._on_read is not None and size >= COUNT_BLOCK_BYTES:
            on_read, self._on_read = self._on_read, None
            on_read()
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def close(self) -> None:
        self._handle.close()

    @property
    def block_read(self) -> bool:
        return self._on_read is None

    def __enter__(self) -> _CountedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _source(folder: Path, suffix: str) -> Path:
    """ROWS rows, one in seven with a quoted newline in its text."""
    frame = pl.DataFrame({"id": range(ROWS)}).with_columns(
        text=pl.when(pl.col("id") % 7 == 0)
        .then(pl.format('line one\nline "two" of row {}', "id"))
        .otherwise(pl.format("row {} of the events, counted in pieces", "id")),
        value=pl.col("id") * 0.5,
    )
    path = folder / f"events.{suffix}"
    if suffix == "csv":
        frame.write_csv(path)
    else:
        frame.write_ndjson(path)
    assert path.stat().st_size > 4 * COUNT_BLOCK_BYTES
    return path


class _CountingRun:
    """The real runner and executor on `store` for an export of `path`, whose count
    calls `on_read` (on the run's own thread, with the run's stop) once it read the
    first block of the file."""

    def __init__(
        self,
        tmp_path: Path,
        store: SQLiteJobStore,
        path: Path,
        monkeypatch: pytest.MonkeyPatch,
        on_read: Callable[[_CountingRun, threading.Event], None],
    ) -> None:
        self.store = store
        self.path = path
        self.out = tmp_path / "out"
        settings = load_settings(
            None,
            {
                "state_dir": tmp_path / "state",
                "replica_id": "here",
                "allowed_source_roots": [str(path.parent)],
                "allowed_roots": [str(self.out)],
            },
            environ={},
        )
        assert settings.count_source_rows
        spec = ExportSpec(
            source=SourceSpec(uri=str(path)),
            destination=DestinationSpec(uri=str(self.out), dataset="events"),
        )
        self.job, _ = store.create(
            NewJob(id=f"20260101T000000Z-count-{path.suffix[1:]}", spec=spec)
        )
        context = ExecutionContext(
            settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
        )
        self.runner = ExportRunner(context)
        #: The files the count opened, and when the count ended (returned or raised).
        self.counted: list[_CountedFile] = []
        self.count_ended = threading.Event()
        self.count_error: BaseException | None = None
        counting: list[threading.Event] = []  # the run's stop, while it counts

        def source_rows(plan: ExportPlan, settings: Settings, stop: threading.Event) -> int:
            counting.append(stop)
            try:
                return counted_rows(plan, settings, stop)
            except BaseException as exc:
                self.count_error = exc
                raise
            finally:
                counting.clear()
                self.count_ended.set()

        def watched_open(name: str, real: str) -> IO[bytes]:
            handle = open_checked(name, real)
            if not counting:
                return handle
            stop = counting[0]
            self.counted.append(_CountedFile(handle, lambda: on_read(self, stop)))
            return cast(IO[bytes], self.counted[-1])

        monkeypatch.setattr("sluice.server.execution.executor.source_rows", source_rows)
        monkeypatch.setattr("sluice.server.pipeline.source.open_checked", watched_open)

    def assert_count_stopped_at_its_first_block(self) -> None:
        assert isinstance(self.count_error, Interrupted), self.count_error
        assert len(self.counted) == 1
        assert self.counted[0].block_read, "the count never read a block of the file"
        # One block and the magic bytes read before it: the count stopped at the next.
        size = self.path.stat().st_size
        assert self.counted[0].bytes_read <= COUNT_BLOCK_BYTES + _MAGIC_BYTES < size, (
            self.counted[0].bytes_read,
            size,
        )
        assert not list(self.out.glob(f"events/{self.job.id}/part-*"))


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
def test_a_cancel_during_the_count_of_a_file_source_ends_the_run_at_once(
    suffix: str, tmp_path: Path, store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "in"
    sources.mkdir()
    path = _source(sources, suffix)
    cancelled_at: list[float] = []

    # The count cancels the export from the run's own thread once its first block is
    # read: as a CancelExport arriving then would.
    def cancel(run: _CountingRun, _stop: threading.Event) -> None:
        cancelled_at.append(time.monotonic())
        run.runner.cancel(run.job.id, wait_seconds=0)

    run = _CountingRun(tmp_path, store, path, monkeypatch, cancel)
    job = run.job
    run.runner.start()
    try:
        run.runner.submit(job.id)
        until(lambda: store.get(job.id).state.final, "the export never ended", within=60)
        ended_at = time.monotonic()
    finally:
        run.runner.shutdown(5)

    assert store.get(job.id).state == JobState.CANCELLED, store.get(job.id)
    assert cancelled_at, "the count never read the file"
    # Generous: the bytes read below prove the count stopped; this only catches a hang.
    assert ended_at - cancelled_at[0] < 30, f"ended {ended_at - cancelled_at[0]:.1f}s after"
    run.assert_count_stopped_at_its_first_block()


def _shut_down(run: _CountingRun, stop: threading.Event) -> None:
    """A shutdown of the daemon (it waits for its runs, so from a thread of its own)."""
    threading.Thread(target=run.runner.shutdown, args=(30,), daemon=True).start()
    assert stop.wait(10), "the shutdown never stopped the run"


def _lose_lease(run: _CountingRun, stop: threading.Event) -> None:
    """Another replica takes the export over; the heartbeat (every 5 s at most) finds
    the lease taken and stops the run."""
    run.store.expire_leases()
    assert run.store.claim("elsewhere", 60) is not None
    assert stop.wait(20), "the heartbeat never stopped the run"


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
@pytest.mark.parametrize("ending", ["shutdown", "lease lost"])
def test_a_shutdown_or_a_lost_lease_during_the_count_ends_it_at_its_next_block(
    suffix: str,
    ending: str,
    tmp_path: Path,
    store: SQLiteJobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shutdown hands the export back, queued for the next start; a lost lease leaves
    it to the replica that took it over, untouched (not even a failed state)."""
    sources = tmp_path / "in"
    sources.mkdir()
    path = _source(sources, suffix)
    stopping = {"shutdown": _shut_down, "lease lost": _lose_lease}[ending]
    run = _CountingRun(tmp_path, store, path, monkeypatch, stopping)
    job = run.job
    run.runner.start()
    try:
        run.runner.submit(job.id)
        assert run.count_ended.wait(60), "the count never ended"
    finally:
        assert run.runner.shutdown(30), "the run did not end after its count"

    run.assert_count_stopped_at_its_first_block()
    after = store.get(job.id)
    if ending == "shutdown":
        assert (after.state, after.replica, after.error) == (JobState.QUEUED, "", None)
    else:
        assert (after.state, after.replica, after.error) == (JobState.RUNNING, "elsewhere", None)
