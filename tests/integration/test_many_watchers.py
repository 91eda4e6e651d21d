"""Many WatchExport streams on one export, through a real daemon: progress is paced by
how many watch (server.service.events.progress_interval), and every watcher still gets
the snapshot, every chunk, every state change and the final event."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.server.service.events import MIN_PROGRESS_INTERVAL, progress_interval
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

ROWS = 200_000
CHUNK_ROWS = 20_000
WATCHERS = 60


@dataclass(frozen=True)
class Watched:
    events: list[pb.ExportEvent]
    #: Seconds from the first event to the last, as this watcher received them.
    seconds: float


@pytest.fixture
def source(daemon: Daemon) -> Path:
    return generate(daemon.sources / "events.parquet", ROWS, seed=5)


@pytest.fixture
def stub(daemon: Daemon) -> Iterator[export_pb2_grpc.ExportServiceStub]:
    with daemon.channel() as channel:
        yield export_pb2_grpc.ExportServiceStub(channel)


def _watch_all(
    stub: export_pb2_grpc.ExportServiceStub, export_id: str, count: int
) -> list[Watched]:
    """`count` watchers of `export_id`, all subscribed before any reads on."""
    started = threading.Barrier(count)

    def watch(_: int) -> Watched:
        stream = stub.WatchExport(pb.WatchExportRequest(id=export_id), timeout=240)
        events = [next(stream)]
        first = time.monotonic()
        started.wait(60)
        events += list(stream)
        return Watched(events, time.monotonic() - first)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(watch, range(count)))


def _created(daemon: Daemon, source: Path) -> str:
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="events", chunk_rows=CHUNK_ROWS
    )
    with ExportClient(daemon.address) as client:
        return client.create(spec).id


def _check_complete(watched: Watched) -> None:
    """The snapshot first, then every chunk after it in order, progress that never goes
    back and ends at the total, the final state change, and the final event last."""
    events = watched.events
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "finished", kinds
    assert kinds.count("finished") == 1
    finished = events[-1].finished
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert finished.progress.records == ROWS
    # Attempts come with the final event (read once by the daemon, not per watcher).
    assert [a.outcome for a in finished.attempts] == ["succeeded"]
    snapshot = events[0].snapshot
    if snapshot.state != pb.EXPORT_STATE_SUCCEEDED:
        assert kinds[-2] == "state_changed", kinds
        assert events[-2].state_changed == pb.EXPORT_STATE_SUCCEEDED
    chunks = [e.chunk_committed.index for e in events if e.HasField("chunk_committed")]
    expected_chunks = ROWS // CHUNK_ROWS
    first = chunks[0] if chunks else expected_chunks
    assert first <= snapshot.progress.chunks
    assert chunks == list(range(first, expected_chunks))
    records = [e.progress.records for e in events if e.HasField("progress")]
    assert records == sorted(records)
    if records:
        assert records[-1] == ROWS


def test_many_watchers_get_paced_progress_and_every_chunk_state_and_end(
    daemon: Daemon, source: Path, stub: export_pb2_grpc.ExportServiceStub
) -> None:
    export_id = _created(daemon, source)
    watched = _watch_all(stub, export_id, WATCHERS)

    for one in watched:
        _check_complete(one)
    running = [w for w in watched if w.events[0].snapshot.state != pb.EXPORT_STATE_SUCCEEDED]
    assert running, "the export ended before the watchers subscribed"
    every = progress_interval(WATCHERS)
    assert every > MIN_PROGRESS_INTERVAL
    for one in running:
        progress = sum(e.HasField("progress") for e in one.events)
        # The first progress at once, then at most one per interval, and one more
        # flushed before the final state change. (Without the
        # pacing each watcher got one every 0.25 s.)
        assert progress <= one.seconds / every + 2, (progress, one.seconds)


def test_a_lone_watcher_still_gets_progress_at_the_executors_pace(
    daemon: Daemon, source: Path, stub: export_pb2_grpc.ExportServiceStub
) -> None:
    export_id = _created(daemon, source)
    [one] = _watch_all(stub, export_id, 1)

    _check_complete(one)
    assert progress_interval(1) == MIN_PROGRESS_INTERVAL
    progress = sum(e.HasField("progress") for e in one.events)
    if one.events[0].snapshot.state == pb.EXPORT_STATE_RUNNING and one.seconds > 2.0:
        # Paced at MIN_PROGRESS_INTERVAL; the executor publishes about that often.
        assert progress >= one.seconds / (4 * MIN_PROGRESS_INTERVAL), (progress, one.seconds)
