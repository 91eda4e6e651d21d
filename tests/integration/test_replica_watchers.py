"""Many WatchExport streams on one replica following an export another replica runs,
through two real daemons on one real PostgreSQL: every watcher gets the whole story,
and the store reads of the watchers' replica do not grow with the watchers (one
follower reads the job for all of them: server.service.store_followers). The reads
are PostgreSQL's own count (pg_stat_statements) of the statements that replica's
database role ran."""

from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import test_resume as resume
from tests.integration.test_replicas import Replicas, _journal_held_at, _slow_spec, replicas

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["replicas"]

WATCHERS = 20
#: The watchers' replica reads the store this often (and the store never signals during
#: the hold): a window of WINDOW seconds holds about WINDOW / POLL polls.
POLL = 0.2
WINDOW = 4.0
_roles = itertools.count()


def _with_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def _statements_of(conn: psycopg.Connection[tuple[object, ...]], role: str) -> int:
    """Statements `role` ran in this database so far, by PostgreSQL's count."""
    row = conn.execute(
        "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s"
        " JOIN pg_roles r ON r.oid = s.userid"
        " JOIN pg_database d ON d.oid = s.dbid"
        " WHERE r.rolname = %s AND d.datname = current_database()",
        (role,),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def _job_reads_of(conn: psycopg.Connection[tuple[object, ...]], role: str) -> int:
    """Reads of one job by id (JobStore.get) `role` ran so far."""
    row = conn.execute(
        "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s"
        " JOIN pg_roles r ON r.oid = s.userid"
        " JOIN pg_database d ON d.oid = s.dbid"
        " WHERE r.rolname = %s AND d.datname = current_database()"
        " AND s.query LIKE %s",
        (role, "SELECT % FROM jobs WHERE id = $1"),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


class _Watcher:
    """One WatchExport stream on its own thread, its events kept as they come."""

    def __init__(self, address: str, export_id: str) -> None:
        self.events: list[pb.ExportEvent] = []
        self.first = threading.Event()
        self._client = ExportClient(address)
        self._stream = self._client.watch(export_id, timeout=300)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.events.append(event)
                self.first.set()
        finally:
            self._client.close()


def test_watchers_on_one_replica_of_an_export_on_another_share_its_store_reads(
    replicas: Replicas,
) -> None:
    (runner,) = replicas.start(1, batch_rows=1024, pipeline_queue_depth=2)
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    role = f"watchers_replica_{os.getpid()}_{next(_roles)}"
    with psycopg.connect(replicas.url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER'.encode())
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        with _journal_held_at(replicas.url, 2) as held:
            with ExportClient(runner.address) as client:
                export_id = client.create(_slow_spec(replicas)).id
            held.reached(2)  # the runner holds it, waiting in the journal of chunk 2
            # The watchers' replica: its own role, so PostgreSQL counts its statements apart.
            watching: Daemon = replicas.factory(
                "replica-watching",
                job_store=_with_role(replicas.url, role),
                replica_id="replica-watching",
                allowed_roots=[str(replicas.exports)],
                allowed_source_roots=[str(replicas.sources)],
                job_store_poll_seconds=POLL,
            )
            watching.start()
            replicas.daemons.append(watching)

            def window() -> tuple[int, int]:
                statements, reads = _statements_of(conn, role), _job_reads_of(conn, role)
                time.sleep(WINDOW)
                return (
                    _statements_of(conn, role) - statements,
                    _job_reads_of(conn, role) - reads,
                )

            one = [_Watcher(watching.address, export_id)]
            assert one[0].first.wait(60)
            alone = window()
            with ThreadPoolExecutor(8) as pool:
                rest = list(pool.map(lambda _: _Watcher(watching.address, export_id),
                                     range(WATCHERS - 1)))  # fmt: skip
            assert all(w.first.wait(60) for w in rest)
            together = window()
            held.release(2)
            watchers = one + rest
            for watcher in watchers:
                watcher.thread.join(300)
    polls = WINDOW / POLL
    # One follower reads the job for every watcher, once per poll: 20 watchers read it
    # about as often as one (each read by itself would be 20 times as many).
    assert alone[1] <= polls * 1.5 + 2, alone
    assert together[1] <= alone[1] * 1.5 + 3, (alone, together)
    assert together[0] <= alone[0] * 1.5 + 5, (alone, together)

    stories: set[tuple[int, ...]] = set()
    for watcher in watchers:
        events = watcher.events
        kinds = [e.WhichOneof("event") for e in events]
        assert kinds[0] == "snapshot" and kinds[-1] == "finished", kinds
        assert kinds.count("finished") == 1
        finished = events[-1].finished
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED
        assert finished.progress.records == resume.ROWS
        assert [a.outcome for a in finished.attempts] == ["succeeded"]
        records = [events[0].snapshot.progress.records]
        records += [e.progress.records for e in events if e.HasField("progress")]
        assert records == sorted(records), records
        # Every state change, and the end, in the order every other watcher saw them.
        states = [e.state_changed for e in events if e.HasField("state_changed")]
        stories.add((events[0].snapshot.state, *states, finished.state))
    assert len(stories) == 1, stories
