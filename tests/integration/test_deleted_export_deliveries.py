"""Deliveries of an export deleted while they were still being retried end `failed`,
"export deleted" (nothing delivers a deleted export's notifications), through a real
daemon keeping its jobs in SQLite and in a real PostgreSQL: they showed "pending, N
attempt(s)" for good."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("job_store", ["sqlite", "postgresql"])
def test_deliveries_still_retrying_fail_when_their_export_is_deleted(
    daemon_factory: Callable[..., Daemon],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    job_store: str,
) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(b"whsec-test-0123456789abcdef")
    secret.chmod(0o600)
    settings: dict[str, object] = {
        "webhook_secret_ref": f"file:{secret}",
        "notification_backoff_seconds": 0.5,
        "notification_max_backoff_seconds": 1.0,
    }
    if job_store == "postgresql":
        settings["job_store"] = request.getfixturevalue("postgres_server").new_database()
    failing = WebhookReceiver(default=500)
    with failing.running():
        daemon = daemon_factory(f"deleted-{job_store}", **settings)
        daemon.start()
        generate(daemon.sources / "events.parquet", 50, seed=2)
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "events.parquet"),
            to=str(daemon.exports),
            dataset="events",
            notify=[failing.url("/hook")],
        )
        with ExportClient(daemon.address) as client:
            export = client.create(spec)
            assert client.wait(export.id).state == pb.EXPORT_STATE_SUCCEEDED
            failing.wait_for(1)
            deleted = run_cli(daemon, "export", "delete", export.id)
            assert deleted.returncode == 0, deleted.stderr
            deadline = time.monotonic() + 60
            while (shown := client.get(export.id)).notifications[0].state == "pending":
                assert time.monotonic() < deadline, shown.notifications
                time.sleep(0.2)
            listed = run_cli(daemon, "export", "get", export.id)

    (delivery,) = shown.notifications
    assert shown.state == pb.EXPORT_STATE_DELETED
    assert (delivery.state, delivery.last_error) == ("failed", "export deleted")
    assert delivery.attempts >= 1
    assert not delivery.HasField("next_attempt_at")
    assert ": failed" in listed.stdout
