"""The runner on a real PostgreSQL store hears a cancel of an export it runs even when
the CANCEL signal was lost: the store's listener reconnects and says RESYNC (signals
may have been missed), and the heartbeat renews the run's lease at once, which reads the
cancel request from the store. The export itself is a stand-in that waits for its stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sluice.server.errors import Interrupted
from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import Job, JobState, Lease, NewJob
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service import runner as runner_module
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from tests.servers.postgres import PostgresServer
from tests.waiting import until

#: Far apart, so a renewal within a few seconds can only be one the signal asked for.
_HEARTBEAT_SECONDS = 60.0


class _Run:
    """Stands in for execute(): waits for its stop, raising Interrupted like the
    pipeline."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def __call__(
        self, job: Job, context: ExecutionContext, stop: threading.Event, lease: Lease
    ) -> str:
        self.started.set()
        stop.wait(120)
        raise Interrupted("export interrupted")


class _HeldReconnect:
    """Holds the store's listener, once its connection dropped, before it reconnects,
    until the test lets it."""

    def __init__(self, store: PostgresJobStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dropped = threading.Event()
        self.reconnecting = threading.Event()
        self.release = threading.Event()
        receiver = store._signals  # the listener: it reconnects through its own connect
        connect = receiver._connect

        def held_connect() -> psycopg.Connection[Any]:
            if self.dropped.is_set():
                self.reconnecting.set()
                assert self.release.wait(60), "the test never let the listener reconnect"
            return connect()

        monkeypatch.setattr(receiver, "_connect", held_connect)


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture
def here(database: str) -> Iterator[PostgresJobStore]:
    store = PostgresJobStore(database)
    yield store
    store.close()


def test_a_cancel_sent_while_the_listener_reconnects_is_heard_at_the_resync(
    database: str,
    here: PostgresJobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _Run()
    monkeypatch.setattr(runner_module, "execute", run)
    monkeypatch.setattr(runner_module, "_MAX_HEARTBEAT_SECONDS", _HEARTBEAT_SECONDS)
    held = _HeldReconnect(here, monkeypatch)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "max_concurrent_exports": 1,
            "replica_id": "here",
            "job_lease_seconds": 600,
        },
        environ={},
    )
    context = ExecutionContext(settings, here, EventHub(), open_sink, b"k" * 32, "k", b"i" * 32)
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "x.parquet")),
        destination=DestinationSpec(uri=str(tmp_path), dataset="events"),
    )
    job, _ = here.create(NewJob(id="20260101T000000Z-resync", spec=spec))
    runner = ExportRunner(context)
    runner.start()
    there = PostgresJobStore(database)
    try:
        runner.submit(job.id)
        assert run.started.wait(30)
        # The listener's connection drops (terminated by the server) and is held
        # before it reconnects: the CANCEL that another replica's request sends now is
        # lost.
        held.dropped.set()
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                " AND datname = current_database()"
            )
        assert held.reconnecting.wait(30), "the listener's connection never dropped"
        assert there.request_cancel(job.id).state == JobState.RUNNING
        held.release.set()

        waited = until(
            lambda: here.get(job.id).state == JobState.CANCELLED, "the export cancelled", 60
        )
        # The next heartbeat comes 60 s after the run started: the RESYNC renewed now.
        assert waited < _HEARTBEAT_SECONDS / 4, f"cancelled after {waited:.1f}s"
    finally:
        runner.shutdown(10)
        there.close()
