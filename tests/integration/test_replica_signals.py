"""Replicas on one PostgreSQL hear each other through LISTEN/NOTIFY: work queued on a
busy replica is claimed by an idle one at once, and a Watch on one replica follows an
export running on another. The replicas poll the store only every 60 s here, so only a
notification can explain what happens well within that.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.server.jobs.signals import CHANNEL
from sluice.v1 import export_pb2 as pb
from tests.integration.held_put import HeldPut
from tests.integration.helpers import read_export
from tests.integration.test_replicas import (
    Replicas,
    _final,
    _spec,
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


def _listening(replicas: Replicas, count: int) -> None:
    """Wait until `count` connections LISTEN on the store (one per replica): a replica
    starts listening on a thread of its own, just after it answers health checks."""
    deadline = time.monotonic() + 30
    with psycopg.connect(replicas.url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query = %s",
                (f"LISTEN {CHANNEL}",),
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            assert time.monotonic() < deadline, f"{row} of {count} replicas listen"
            time.sleep(0.05)


def test_work_queued_on_a_busy_replica_is_claimed_by_an_idle_one_at_once(
    replicas: Replicas,
) -> None:
    generate(replicas.sources / "events.parquet", 2_000, seed=5)
    # The busy replica's own poll is short: the first claim of a DoPut's export can pass
    # over its row while the put pins it, and then waits for the poll.
    (busy,) = replicas.start(1, **{**SETTINGS, "job_store_poll_seconds": 1.0})
    held = ExportClient.build_spec(to=str(replicas.exports), dataset="held")
    # A put held open takes the busy replica's only slot until the test lets go: a slow
    # export could end, and free the slot, before the second export is queued.
    with HeldPut(busy.address, held, "held") as first:
        # The idle replica starts once the busy one holds its only slot: its first look
        # finds nothing to claim, and it would not look again for POLL_SECONDS.
        (idle,) = replicas.start(1, **SETTINGS)
        started = time.monotonic()
        _listening(replicas, 2)
        with ExportClient(busy.address) as client:
            still = client.get(first.export_id)
            assert still.state == pb.EXPORT_STATE_RUNNING
            assert still.replica == busy.settings["replica_id"]
            second = client.create(_spec(replicas)).id
            claimed = _wait(client, second, lambda e: bool(e.attempts), timeout=POLL_SECONDS / 2)
            assert time.monotonic() - started < POLL_SECONDS, "only a poll could explain this"
            assert claimed.attempts[0].replica == idle.settings["replica_id"]
            assert _final(client, second).state == pb.EXPORT_STATE_SUCCEEDED
        assert first.release()["state"] == "succeeded"


def test_a_watch_follows_an_export_running_on_another_replica(replicas: Replicas) -> None:
    runner, watcher = replicas.start(2, **SETTINGS)
    # One chunk per row: the held put journals a chunk every keep-alive for as long as
    # the test holds it, so the watch has progress to follow however fast the machine
    # (a finite export could end before the watch began, leaving nothing to follow).
    spec = ExportClient.build_spec(to=str(replicas.exports), dataset="held", chunk_rows=1)
    with HeldPut(runner.address, spec, "followed") as held:
        assert replicas.holder(held.export_id) is runner
        started = time.monotonic()
        with ExportClient(watcher.address) as client:
            progress = _watched_progress(client, held.export_id, count=2)
            assert time.monotonic() - started < POLL_SECONDS, "only a poll could explain this"
            assert progress[-1] > progress[0]
        finished = held.release()
    assert finished["state"] == "succeeded"
    exported = read_export(str(finished["manifest_uri"]))["id"].to_list()
    assert exported == list(range(held.rows))
