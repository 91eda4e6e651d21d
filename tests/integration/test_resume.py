"""Crashes, shutdowns and cancels lose nothing and duplicate nothing."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ServerUnreachableError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, free_port
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 100_000


@pytest.fixture
def slow_daemon(daemon_factory) -> Daemon:  # type: ignore[no-untyped-def]
    """Small batches and a costly zstd level (15), so an export spans seconds and many chunks."""
    d = daemon_factory("slow", batch_rows=1024, pipeline_queue_depth=2)
    d.start()
    generate(d.sources / "events.parquet", ROWS, seed=5)
    return d


def _create(client: ExportClient, daemon: Daemon, **options: object) -> str:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        **({"level": 15, "chunk_rows": 4000} | options),
    )
    return client.create(spec).id


def _wait_for_chunks(client: ExportClient, export_id: str, count: int) -> int:
    """Block until at least `count` chunks are committed; return how many were seen."""
    seen = 0
    for event in client.watch(export_id):
        if event.HasField("chunk_committed"):
            seen = max(seen, event.chunk_committed.index + 1)
            if seen >= count:
                return seen
        if event.HasField("finished"):
            break
    raise AssertionError(f"export finished before {count} chunks were committed")


def _assert_exactly_once(manifest_uri: str) -> None:
    manifest = load_manifest(manifest_uri)
    folder = manifest_path(manifest_uri).parent
    assert [c["index"] for c in manifest["chunks"]] == list(range(len(manifest["chunks"])))
    on_disk = sorted(p.name for p in folder.iterdir())
    assert on_disk == sorted([c["path"] for c in manifest["chunks"]] + ["manifest.json"])
    for chunk in manifest["chunks"]:
        data = (folder / chunk["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"]
    exported = read_export(manifest_uri)
    assert exported["id"].to_list() == list(range(ROWS))
    assert manifest["totals"]["records"] == ROWS


def test_sigkill_mid_export_resumes_without_loss_or_duplicates(slow_daemon: Daemon) -> None:
    """Three SIGKILLs, each a few chunks after the last restart. A restart takes a second
    or two and the resumed export keeps committing meanwhile, so the chunks are small (100
    of them) and a crash is skipped once too few are left to land one mid-export."""
    chunk_rows = 1000
    with ExportClient(slow_daemon.address) as client:
        export_id = _create(client, slow_daemon, chunk_rows=chunk_rows)
        _wait_for_chunks(client, export_id, 3)
    for crash in range(3):
        slow_daemon.kill()
        slow_daemon.start()
        with ExportClient(slow_daemon.address) as client:
            before = client.get(export_id).progress.chunks
            if crash == 2 or before + 3 >= ROWS // chunk_rows:
                break
            _wait_for_chunks(client, export_id, before + 3)
    with ExportClient(slow_daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    _assert_exactly_once(finished.manifest_uri)
    assert "resumes after chunk" in slow_daemon.log_tail(1000)


def test_resumed_export_rebuilds_identical_chunks(slow_daemon: Daemon) -> None:
    """Chunk boundaries depend only on the data: a crashed-and-resumed export and an
    uninterrupted one of the same source store byte-identical chunks."""
    with ExportClient(slow_daemon.address) as client:
        crashed = _create(client, slow_daemon)
        _wait_for_chunks(client, crashed, 4)
    slow_daemon.kill()
    slow_daemon.start()
    with ExportClient(slow_daemon.address) as client:
        resumed = client.wait(crashed, timeout=300)
        straight = client.wait(_create(client, slow_daemon), timeout=300)
    left = load_manifest(resumed.manifest_uri)["chunks"]
    right = load_manifest(straight.manifest_uri)["chunks"]
    assert [(c["path"], c["sha256"], c["content_digest"]) for c in left] == [
        (c["path"], c["sha256"], c["content_digest"]) for c in right
    ]


def test_sigterm_checkpoints_and_the_next_start_finishes(slow_daemon: Daemon) -> None:
    with ExportClient(slow_daemon.address) as client:
        export_id = _create(client, slow_daemon)
        _wait_for_chunks(client, export_id, 2)
    assert slow_daemon.stop(timeout=30) == 0
    slow_daemon.start()
    with ExportClient(slow_daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    _assert_exactly_once(finished.manifest_uri)


def test_cancel_then_resume_completes_exactly_once(slow_daemon: Daemon) -> None:
    with ExportClient(slow_daemon.address) as client:
        export_id = _create(client, slow_daemon)
        _wait_for_chunks(client, export_id, 2)
        cancelled = client.cancel(export_id)
        assert cancelled.state == pb.EXPORT_STATE_CANCELLED
        assert not Path(slow_daemon.exports / "events" / export_id / "manifest.json").exists()
        assert client.resume(export_id).state == pb.EXPORT_STATE_QUEUED
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    _assert_exactly_once(finished.manifest_uri)


def test_queue_is_bounded_by_max_concurrent_exports(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    d = daemon_factory("one", max_concurrent_exports=1, batch_rows=1024)
    d.start()
    generate(d.sources / "events.parquet", 50_000, seed=2)
    with ExportClient(d.address) as client:
        ids = [_create(client, d) for _ in range(3)]
        states = [client.get(i).state for i in ids]
        assert states.count(pb.EXPORT_STATE_RUNNING) <= 1
        finals = [client.wait(i, timeout=300) for i in ids]
    assert all(f.state == pb.EXPORT_STATE_SUCCEEDED for f in finals)
    started = sorted((f.started_at.ToDatetime(), f.finished_at.ToDatetime()) for f in finals)
    for (_, first_end), (second_start, _) in itertools.pairwise(started):
        assert second_start >= first_end
    assert pl.read_parquet(d.sources / "events.parquet").height == 50_000


def test_wait_follows_the_export_across_a_daemon_crash(slow_daemon: Daemon) -> None:
    """`wait()` (behind `sluice export create --wait` and `watch`) keeps following an
    export while its daemon is killed and started again, and returns its final state."""
    events: list[str] = []
    outcome: list[pb.Export | BaseException] = []
    with ExportClient(slow_daemon.address) as client:
        export_id = _create(client, slow_daemon)
        _wait_for_chunks(client, export_id, 2)

        def follow() -> None:
            try:
                outcome.append(
                    client.wait(
                        export_id,
                        timeout=300,
                        on_event=lambda e: events.append(e.WhichOneof("event") or ""),
                    )
                )
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        waiter = threading.Thread(target=follow)
        waiter.start()
        while "chunk_committed" not in events:
            time.sleep(0.05)
        slow_daemon.kill()
        time.sleep(1.0)  # the waiter now meets a daemon that is not there
        slow_daemon.start()
        waiter.join(timeout=300)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], pb.Export), outcome
    assert outcome[0].state == pb.EXPORT_STATE_SUCCEEDED
    assert events.count("snapshot") >= 2  # it reconnected and started over from a snapshot
    _assert_exactly_once(outcome[0].manifest_uri)


def test_wait_on_an_unreachable_daemon_fails_at_once() -> None:
    with ExportClient(f"127.0.0.1:{free_port()}", timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(ServerUnreachableError):
            client.wait("any-export")
    assert time.monotonic() - started < 10
