"""Replicas on one PostgreSQL hear each other through LISTEN/NOTIFY: work queued on a
busy replica is claimed by an idle one at once, and a Watch on one replica follows an
export running on another. The replicas poll the store only every 60 s here, so only a
notification can explain what happens well within that.
"""

from __future__ import annotations

import time

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.integration import test_resume as resume
from tests.integration.test_replicas import (
    Replicas,
    _final,
    _slow_spec,
    _wait,
    _watched_progress,
    replicas,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["replicas"]

#: Longer than any wait below: a claim or event within it came through a notification.
POLL_SECONDS = 60.0
SETTINGS: dict[str, object] = {
    "batch_rows": 1024,
    "pipeline_queue_depth": 2,
    "max_concurrent_exports": 1,
    "job_store_poll_seconds": POLL_SECONDS,
}


def test_work_queued_on_a_busy_replica_is_claimed_by_an_idle_one_at_once(
    replicas: Replicas,
) -> None:
    # Five times the usual rows: the first export must outlast the idle replica's start
    # (a few seconds) on a fast machine too, or the busy replica's slot is free again.
    generate(replicas.sources / "events.parquet", 5 * resume.ROWS, seed=5)
    (busy,) = replicas.start(1, **SETTINGS)
    with ExportClient(busy.address) as client:
        first = client.create(_slow_spec(replicas)).id
        _wait(client, first, lambda e: e.state == pb.EXPORT_STATE_RUNNING)
    # The idle replica starts once the busy one holds its only slot: its first look
    # finds nothing to claim, and it would not look again for POLL_SECONDS.
    (idle,) = replicas.start(1, **SETTINGS)
    started = time.monotonic()
    time.sleep(1)  # its listening connection is up
    with ExportClient(busy.address) as client:
        still = client.get(first)
        assert still.state == pb.EXPORT_STATE_RUNNING, "the first export ended too soon"
        assert still.replica == busy.settings["replica_id"]
        second = client.create(_slow_spec(replicas)).id
        running = _wait(
            client, second, lambda e: e.state == pb.EXPORT_STATE_RUNNING, timeout=POLL_SECONDS / 2
        )
        assert time.monotonic() - started < POLL_SECONDS, "only a poll could explain this"
        assert running.replica == idle.settings["replica_id"]
        for export_id in (first, second):
            client.cancel(export_id)
            assert _final(client, export_id, timeout=60).state == pb.EXPORT_STATE_CANCELLED


def test_a_watch_follows_an_export_running_on_another_replica(replicas: Replicas) -> None:
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    runner, watcher = replicas.start(2, **SETTINGS)
    with ExportClient(runner.address) as client:
        export_id = client.create(_slow_spec(replicas)).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 1)
    holder = replicas.holder(export_id)
    elsewhere = watcher if holder is runner else runner
    started = time.monotonic()
    with ExportClient(elsewhere.address) as client:
        progress = _watched_progress(client, export_id, count=2)
        assert time.monotonic() - started < POLL_SECONDS, "only a poll could explain this"
        assert progress[-1] > progress[0]
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)
