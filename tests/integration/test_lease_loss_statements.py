"""A replica that loses its lease while its PostgreSQL source statement is stuck cancels
that statement and writes nothing more; the replica that took the export over finishes
it exactly once. Real daemons on one real PostgreSQL job store, reading a real
PostgreSQL source whose rows wait behind a lock the test holds.

The export's query waits for a shared advisory lock before its first row (the test
holds the lock exclusively): planning (LIMIT 0) and the row estimate (EXPLAIN) never
run the query, so only the read's COPY waits, and it waits until the test lets go.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export
from tests.servers.postgres import PostgresServer
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "shop"
#: The advisory lock the export's query waits for.
GATE_KEY = 4242
ROWS = 20_000
GATED_QUERY = (
    f"SELECT t.id, t.body FROM t CROSS JOIN pg_advisory_xact_lock_shared({GATE_KEY}) AS gate"
    " ORDER BY t.id"
)

#: Rows of no table that wait for the advisory lock: a query that does not hold `t`.
GATED_SERIES = (
    "SELECT g AS id FROM generate_series(1, 10) g"
    f" CROSS JOIN pg_advisory_xact_lock_shared({GATE_KEY}) AS gate ORDER BY g"
)


@contextmanager
def _gate(url: str) -> Iterator[None]:
    """Hold the advisory lock the gated query waits for, until the block ends."""
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))
        try:
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (GATE_KEY,))


def _journal(store_url: str, export_id: str) -> list[tuple[int, str]]:
    """(chunk index, lease owner) of every journalled chunk."""
    with psycopg.connect(store_url) as conn:
        rows = conn.execute(
            "SELECT idx, lease_owner FROM chunks WHERE job_id = %s ORDER BY idx", (export_id,)
        ).fetchall()
    return [(int(i), str(o)) for i, o in rows]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class _Replicas:
    """A source database with a table `t` of ROWS rows, a job store database and a
    shared export folder; replicas numbered from 0 whose source sessions are named
    `sluice-lease-<number>`."""

    def __init__(self, factory: Callable[..., Daemon], server: PostgresServer, root: Path) -> None:
        self.factory = factory
        self.server = server
        self.source_url, self.store_url = server.new_database(), server.new_database()
        with psycopg.connect(self.source_url, autocommit=True) as con:
            con.execute("CREATE TABLE t (id int8 PRIMARY KEY, body text NOT NULL)")
            con.execute(
                "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, %s) g", (ROWS,)
            )
        self.exports = root / "shared" / "exports"
        self.exports.mkdir(parents=True)

    def start(self, number: int, **settings: object) -> Daemon:
        daemon = self.factory(
            f"replica-{number}",
            job_store=self.store_url,
            replica_id=f"replica-{number}",
            allowed_roots=[str(self.exports)],
            batch_rows=1024,
            # A heartbeat every second; the lease itself is expired by the test.
            job_lease_seconds=3,
            job_store_poll_seconds=0.2,
            source_profiles={
                PROFILE: {
                    "kind": "postgresql",
                    "hosts": [f"127.0.0.1:{self.server.port}"],
                    "user": self.server.user,
                    "application_name": f"sluice-lease-{number}",
                }
            },
            **settings,
        )
        daemon.start()
        return daemon

    def spec(self, dataset: str, **source: object) -> pb.ExportSpec:
        name = self.source_url.rsplit("/", 1)[1]
        return ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{self.server.port}/{name}",
            source_profile=PROFILE,
            chunk_rows=5_000,
            to=str(self.exports),
            dataset=dataset,
            **source,  # type: ignore[arg-type]
        )

    def sessions(self, number: int, *, waiting: str = "") -> int:
        """Replica `number`'s sessions on the source server (with `waiting`, only those
        whose statement waits for that kind of lock: "advisory", "relation")."""
        with psycopg.connect(self.server.url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND (%s = '' OR state = 'active' AND wait_event = %s)",
                (f"sluice-lease-{number}", waiting, waiting),
            ).fetchone()
        return int(row[0]) if row else 0

    def take_over(self, first: Daemon, second: Daemon, export_id: str, waiting: str) -> float:
        """Pause `first` (replica 0), expire its lease, let `second` (replica 1) take the
        export over until its statement waits too, and resume `first`: then replica 0's
        session must end, while the lock is still held (only a cancel explains it).
        Returns how long that took after the resume."""
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGSTOP)
        try:
            with psycopg.connect(self.store_url, autocommit=True) as con:
                con.execute(
                    "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                    (export_id,),
                )
            with ExportClient(second.address) as client:
                until(lambda: client.get(export_id).replica == "replica-1",
                       "replica 1 never took the export over")  # fmt: skip
            until(lambda: self.sessions(1, waiting=waiting) == 1,
                   "replica 1's statement never waited for the lock")  # fmt: skip
            assert self.sessions(0, waiting=waiting) == 1
        finally:
            os.kill(first.process.pid, signal.SIGCONT)
        took = until(lambda: self.sessions(0) == 0,
                      "replica 0's statement still runs on the server", within=10)  # fmt: skip
        until(lambda: "taken over by another replica" in first.log_path.read_text(),
               "replica 0's run never ended", within=10)  # fmt: skip
        assert _journal(self.store_url, export_id) == []
        assert _files(self.exports) == []
        assert self.sessions(1, waiting=waiting) == 1
        return took

    def finished_once_by_replica_1(self, second: Daemon, export_id: str) -> None:
        """Replica 1 finishes the export: every row once, checksums as in the manifest,
        every chunk journalled under its lease, no stray file."""
        with ExportClient(second.address) as client:
            finished = client.wait(export_id, timeout=120)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED
        assert [(a.replica, a.outcome) for a in finished.attempts] == [
            ("replica-0", "stopped"),
            ("replica-1", "succeeded"),
        ]
        rows = read_export(finished.manifest_uri)  # checks every chunk's sha256
        assert rows["id"].to_list() == list(range(1, ROWS + 1))
        assert rows["body"].to_list() == [f"row {i}" for i in range(1, ROWS + 1)]
        manifest = load_manifest(finished.manifest_uri)
        chunks = [c["path"] for c in manifest["chunks"]]
        assert len(chunks) == ROWS // 5_000
        journal = _journal(self.store_url, export_id)
        assert journal == [(i, "replica-1") for i in range(len(chunks))]
        folder = manifest_path(finished.manifest_uri).parent
        stored = sorted([*chunks, "manifest.json"])
        assert _files(self.exports) == [str((folder / n).relative_to(self.exports)) for n in stored]


def _clean(daemon: Daemon) -> None:
    """The replica cancelled its statement, rather than gave its reader up after
    ABANDON_SECONDS or failed to cancel, and is serving."""
    log = daemon.log_path.read_text()
    for symptom in ("did not end", "could not cancel", "Traceback"):
        assert symptom not in log, symptom
    assert daemon.healthy()


def test_a_replica_that_loses_its_lease_cancels_its_stuck_statement_and_writes_nothing(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Replica 0 runs the export; its COPY waits behind the test's advisory lock.
    Replica 0 is paused, its lease expired in the store, and replica 1 takes the export
    over (its own COPY waits too). Resumed, replica 0 hears of the lost lease from its
    heartbeat: its statement is cancelled on the server (its session ends while the
    lock is still held, so no statement end explains it) and nothing is journalled or
    stored. Once the lock goes, replica 1 finishes the export exactly once."""
    replicas = _Replicas(daemon_factory, postgres_server, tmp_path)
    with _gate(replicas.source_url):
        # Replica 1 starts only once replica 0 runs the export: the roles are fixed.
        first = replicas.start(0)
        with ExportClient(first.address) as client:
            export_id = client.create(replicas.spec("gated", query=GATED_QUERY, order_by=["id"])).id
        until(lambda: replicas.sessions(0, waiting="advisory") == 1,
               "replica 0's statement never waited for the lock")  # fmt: skip
        second = replicas.start(1)
        took = replicas.take_over(first, second, export_id, "advisory")
        print(f"replica 0's session ended {took:.2f}s after it resumed")
    replicas.finished_once_by_replica_1(second, export_id)
    _clean(first)


def test_a_replica_that_loses_its_lease_while_planning_behind_a_table_lock_writes_nothing(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The table is locked ACCESS EXCLUSIVE (as by an ALTER TABLE) when replica 0 starts
    the export: its run's planning reads the table's columns, and that statement waits
    for the lock. Replica 0 loses its lease to replica 1 (whose planning waits too):
    replica 0's planning statement is cancelled on the server (it used to wait for the
    lock, then carry on into the export's folder beside the new holder), nothing is
    journalled or stored, and once the lock goes replica 1 finishes exactly once."""
    replicas = _Replicas(daemon_factory, postgres_server, tmp_path)
    # One export at a time: the table export waits in the queue behind a gated one
    # until the test has locked the table (CreateExport plans it, which the lock would
    # hold), and only then starts.
    first = replicas.start(0, max_concurrent_exports=1)
    with _gate(replicas.source_url), ExportClient(first.address) as client:
        blocker = client.create(replicas.spec("gated", query=GATED_SERIES, order_by=["id"])).id
        until(lambda: replicas.sessions(0, waiting="advisory") == 1,
               "the gated export never ran")  # fmt: skip
        export_id = client.create(replicas.spec("table", table="t")).id
        with psycopg.connect(replicas.source_url) as locker:
            locker.execute("SET lock_timeout = '10s'")  # fail, rather than hang, on a bug
            locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            client.cancel(blocker)
            until(lambda: replicas.sessions(0, waiting="relation") == 1,
                   "replica 0's planning never waited for the table lock")  # fmt: skip
            assert client.get(export_id).replica == "replica-0"
            second = replicas.start(1)
            took = replicas.take_over(first, second, export_id, "relation")
            print(f"replica 0's session ended {took:.2f}s after it resumed")
            locker.rollback()
    replicas.finished_once_by_replica_1(second, export_id)
    _clean(first)
