"""Each notification attempt has a deadline for the whole of it, and a slow receiver holds
one notifier worker, never the others' deliveries (through a real daemon, a receiver that
answers one byte at a time, and real HTTP and SMTP peers)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.trickling_server import TricklingServer
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration]
TIMEOUT = 3.0


@pytest.fixture
def trickler() -> Iterator[TricklingServer]:
    # A status line, then a header line that never ends: a byte each 0.5 s, well inside
    # the socket timeout of every read.
    with TricklingServer(b"HTTP/1.1 200 OK\r\nX-Slow: ").running() as server:
        yield server


def _daemon(daemon_factory, tmp_path: Path, **settings: object) -> Daemon:  # type: ignore[no-untyped-def]
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(b"whsec-test-0123456789abcdef")
    secret.chmod(0o600)
    values: dict[str, object] = {
        "webhook_secret_ref": f"file:{secret}",
        "notification_timeout_seconds": TIMEOUT,
        "notification_backoff_seconds": 0.2,
        "notification_max_backoff_seconds": 0.5,
    }
    d: Daemon = daemon_factory("deadlines", **{**values, **settings})
    d.start()
    generate(d.sources / "events.parquet", 100, seed=5)
    return d


def _export(d: Daemon, client: ExportClient, dataset: str, notify: list[str]) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(d.sources / "events.parquet"),
        to=str(d.exports),
        dataset=dataset,
        notify=notify,
    )
    export = client.create(spec)
    assert client.wait(export.id).state == pb.EXPORT_STATE_SUCCEEDED
    return export


def _until(
    client: ExportClient,
    export_id: str,
    done: Callable[[pb.Export], bool],
    timeout: float = 90,
) -> pb.Export:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        export = client.get(export_id)
        if done(export):
            return export
        time.sleep(0.2)
    raise AssertionError(f"deliveries of {export_id}: {list(client.get(export_id).notifications)}")


def test_a_trickling_receiver_holds_no_other_delivery_and_its_attempt_is_cut(
    daemon_factory,
    tmp_path: Path,
    trickler: TricklingServer,  # type: ignore[no-untyped-def]
) -> None:
    healthy = WebhookReceiver()
    with healthy.running():
        d = _daemon(daemon_factory, tmp_path, notification_retry_seconds=3600)
        with ExportClient(d.address) as client:
            slow = _export(d, client, "slow", [trickler.url()])
            trickler.wait_for(1)
            # The slow receiver's attempt is under way: another export's delivery is sent.
            quick = _export(d, client, "quick", [healthy.url()])
            sent = _until(client, quick.id, lambda e: e.notifications[0].state == "delivered")
            (hook,) = healthy.wait_for(1)
            # The trickling answer never ends: the attempt is cut at its deadline, and
            # retried like any failure.
            cut = _until(client, slow.id, lambda e: e.notifications[0].attempts >= 2)

    assert hook.headers["Sluice-Delivery-Id"] == f"{quick.id}.0"
    assert (sent.notifications[0].state, sent.notifications[0].attempts) == ("delivered", 1)
    (delivery,) = cut.notifications
    assert delivery.state == "pending"
    assert delivery.last_error == "no complete answer within 3 s"
    assert trickler.connections >= 2


def test_a_delivery_kept_waiting_by_busy_workers_keeps_its_retry_window(
    daemon_factory,
    tmp_path: Path,
    trickler: TricklingServer,  # type: ignore[no-untyped-def]
) -> None:
    """Every worker is held by a trickling receiver (each up to its deadline) while the
    retry window, 1 s after the export's end, passes: the waiting delivery still gets its
    retries, every one of them (the wait counts for its later attempts too, not only the
    one that waited)."""
    flaky = WebhookReceiver(script=[500, 500])
    with flaky.running():
        d = _daemon(daemon_factory, tmp_path, notification_retry_seconds=1)
        with ExportClient(d.address) as client:
            slow = _export(d, client, "slow", [trickler.url(f"/hook{n}") for n in range(4)])
            trickler.wait_for(4)
            waiting = _export(d, client, "waiting", [flaky.url()])
            done = _until(client, waiting.id, lambda e: e.notifications[0].state != "pending")
            given_up = _until(
                client, slow.id, lambda e: all(n.state != "pending" for n in e.notifications)
            )

    assert [hook.answer for hook in flaky.received] == [500, 500, 200]
    (delivery,) = done.notifications
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    # The trickling receivers' own attempts used their window: one attempt each.
    assert {(n.state, n.attempts, n.last_error) for n in given_up.notifications} == {
        ("failed", 1, "no complete answer within 3 s")
    }


def test_a_trickling_mail_server_is_cut_at_the_deadline(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # A greeting line that never ends.
    with TricklingServer(b"220 slow.example ").running() as smtp:
        d = _daemon(
            daemon_factory,
            tmp_path,
            notification_retry_seconds=3600,
            smtp={"host": "127.0.0.1", "port": smtp.port, "starttls": False, "from": "s@ex.com"},
        )
        with ExportClient(d.address) as client:
            export = _export(d, client, "mail", ["mailto:ops@example.com"])
            cut = _until(client, export.id, lambda e: e.notifications[0].attempts >= 1)

    (delivery,) = cut.notifications
    assert (delivery.state, delivery.last_error) == ("pending", "no complete answer within 3 s")


def test_a_webhook_under_way_at_sigterm_is_recorded_and_not_sent_again(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """The daemon is stopped while the receiver holds a request: the stop waits for the
    answer and records it, so the restarted daemon does not send it again."""
    slow = WebhookReceiver(delay=2.0)
    with slow.running():
        d = _daemon(daemon_factory, tmp_path, notification_retry_seconds=3600)
        with ExportClient(d.address) as client:
            spec = ExportClient.build_spec(
                source=str(d.sources / "events.parquet"),
                to=str(d.exports),
                dataset="stopped",
                notify=[slow.url()],
            )
            export = client.create(spec)
            slow.wait_for(1, timeout=120)
        assert d.stop(timeout=120) == 0
        d.start()
        with ExportClient(d.address) as client:
            # Had the answer gone unrecorded, the row would stay claimed until its claim
            # ended (39 s here) and then be sent again.
            done = _until(
                client, export.id, lambda e: e.notifications[0].state != "pending", timeout=150
            )

    assert [hook.headers["Sluice-Delivery-Id"] for hook in slow.received] == [f"{export.id}.0"]
    (delivery,) = done.notifications
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
