"""A cancel that comes while a run counts its CSV or NDJSON source's rows (the default
count_source_rows) ends the count at its next block: the export is CANCELLED at once,
the count having read one block of a file of several, and nothing exported. The count
used to be one Polars call over the whole file that no stop interrupted (minutes on a
multi-GB file on a slow disk). Run in-process: the real runner and executor on a real
SQLite store and local folders; the cancel is asked for from the count's first read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, cast

import polars as pl
import pytest

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


class _CountedFile:
    """A source file the count opened: notes the bytes read, and calls `on_read`
    after the first read."""

    def __init__(self, handle: IO[bytes], on_read: Callable[[], None]) -> None:
        self._handle = handle
        self._on_read: Callable[[], None] | None = on_read
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.bytes_read += len(data)
        if self._on_read is not None:
            on_read, self._on_read = self._on_read, None
            on_read()
        return data

    def __enter__(self) -> _CountedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._handle.close()


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


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
def test_a_cancel_during_the_count_of_a_file_source_ends_the_run_at_once(
    suffix: str, tmp_path: Path, store: SQLiteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources, out = tmp_path / "in", tmp_path / "out"
    sources.mkdir()
    path = _source(sources, suffix)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            "allowed_source_roots": [str(sources)],
            "allowed_roots": [str(out)],
        },
        environ={},
    )
    assert settings.count_source_rows
    spec = ExportSpec(
        source=SourceSpec(uri=str(path)),
        destination=DestinationSpec(uri=str(out), dataset="events"),
    )
    job, _ = store.create(NewJob(id=f"20260101T000000Z-count-{suffix}", spec=spec))
    context = ExecutionContext(
        settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
    )
    runner = ExportRunner(context)

    # The files the count opens (only while the run counts), each cancelling the
    # export from the run's own thread once its first block is read: as a CancelExport
    # arriving then would.
    counting = threading.Event()
    counted: list[_CountedFile] = []
    cancelled_at: list[float] = []

    def source_rows(plan: ExportPlan, settings: Settings, stop: threading.Event) -> int:
        counting.set()
        try:
            return counted_rows(plan, settings, stop)
        finally:
            counting.clear()

    def cancel() -> None:
        cancelled_at.append(time.monotonic())
        runner.cancel(job.id, wait_seconds=0)

    def watched_open(name: str, real: str) -> IO[bytes]:
        handle = open_checked(name, real)
        if not counting.is_set():
            return handle
        counted.append(_CountedFile(handle, cancel))
        return cast(IO[bytes], counted[-1])

    monkeypatch.setattr("sluice.server.execution.executor.source_rows", source_rows)
    monkeypatch.setattr("sluice.server.pipeline.source.open_checked", watched_open)
    runner.start()
    try:
        runner.submit(job.id)
        until(lambda: store.get(job.id).state.final, "the export never ended", within=60)
        ended_at = time.monotonic()
    finally:
        runner.shutdown(5)

    assert store.get(job.id).state == JobState.CANCELLED, store.get(job.id)
    assert cancelled_at, "the count never read the file"
    # Generous: the bytes read below prove the count stopped; this only catches a hang.
    assert ended_at - cancelled_at[0] < 30, f"ended {ended_at - cancelled_at[0]:.1f}s after"
    assert len(counted) == 1
    size = path.stat().st_size
    assert counted[0].bytes_read <= COUNT_BLOCK_BYTES < size, (counted[0].bytes_read, size)
    assert not list(out.glob(f"events/{job.id}/part-*"))
