"""Two replicas' notifiers on one real PostgreSQL job store, one of them with a clock a day
off: a delivery one of them claimed and is still attempting is not claimed by the
other, so the receiver hears it once. Claims and their expiry are judged by the
database's clock (as leases are), never a replica's: before, a replica whose clock was
ahead took a delivery another held, and one whose clock was behind made a claim that had
already ended, and either way the webhook was sent twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sluice.server.jobs.model import DeliveryState, JobState, NewJob
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.notifications.notifier import Notifier
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.settings import Settings, load_settings
from tests.servers.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: More than a claim's hold (about an hour with the 60 s timeout below).
SKEW = timedelta(days=1)


class HeldReceiver:
    """A webhook receiver that holds its first request until `release` (an attempt still
    under way) and answers every request 200; records each request's delivery id."""

    def __init__(self) -> None:
        self.delivery_ids: list[str] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.delivery_ids.append(self.headers["Sluice-Delivery-Id"])
                if len(receiver.delivery_ids) == 1:
                    receiver.first_arrived.set()
                    receiver.release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> HeldReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[HeldReceiver]:
    with HeldReceiver() as held:
        yield held


def _settings(tmp_path: Path, url: str) -> Settings:
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(b"whsec-test-0123456789abcdef")
    secret.chmod(0o600)
    return load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "notifications": {"ops": {"url": url, "secret_ref": f"file:{secret}"}},
            # Far longer than the attempt is held: the held attempt succeeds.
            "notification_timeout_seconds": 60.0,
        },
        environ={},
    )


def _ended_export(store: PostgresJobStore) -> str:
    spec = ExportSpec(
        source=SourceSpec(uri="file:///data/users.parquet"),
        destination=DestinationSpec(uri="file:///exports", dataset="users"),
    )
    store.create(NewJob(id="20261207T000000Z-clocks", spec=replace(spec, notify=("ops",))))
    store.transition("20261207T000000Z-clocks", {JobState.QUEUED}, JobState.RUNNING)
    store.transition("20261207T000000Z-clocks", {JobState.RUNNING}, JobState.SUCCEEDED)
    return "20261207T000000Z-clocks"


@pytest.mark.parametrize(
    ("first_offset", "second_offset"),
    [(timedelta(0), SKEW), (-SKEW, timedelta(0))],
    ids=["second-replica-ahead", "first-replica-behind"],
)
def test_a_delivery_under_way_on_one_replica_is_not_claimed_by_another(
    postgres_server: PostgresServer,
    receiver: HeldReceiver,
    tmp_path: Path,
    first_offset: timedelta,
    second_offset: timedelta,
) -> None:
    url = postgres_server.new_database()
    settings = _settings(tmp_path, receiver.url)
    first_store, second_store = PostgresJobStore(url), PostgresJobStore(url)
    try:
        export_id = _ended_export(first_store)
        first = Notifier(settings, first_store, clock=lambda: datetime.now(UTC) + first_offset)
        second = Notifier(settings, second_store, clock=lambda: datetime.now(UTC) + second_offset)

        attempted: list[int] = []
        under_way = threading.Thread(target=lambda: attempted.append(first.run_once()))
        under_way.start()
        assert receiver.first_arrived.wait(120)
        # The first replica's attempt is under way (its request held): its claim holds.
        taken_by_second = second.run_once()
        receiver.release.set()
        under_way.join(120)

        assert attempted == [1]
        assert taken_by_second == 0
        (delivery,) = first_store.notifications(export_id)
        assert receiver.delivery_ids == [delivery.delivery_id]
        assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)
    finally:
        first_store.close()
        second_store.close()
