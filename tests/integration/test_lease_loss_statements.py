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
import time
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

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "shop"
#: The advisory lock the export's query waits for.
GATE_KEY = 4242
ROWS = 20_000
GATED_QUERY = (
    f"SELECT t.id, t.body FROM t CROSS JOIN pg_advisory_xact_lock_shared({GATE_KEY}) AS gate"
    " ORDER BY t.id"
)


def _until(condition: Callable[[], bool], what: str, within: float = 30.0) -> float:
    """Seconds until `condition()` held; fails naming `what` after `within` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} (after {within:g}s)")
        time.sleep(0.05)
    return time.monotonic() - started


def _sessions(server: PostgresServer, application_name: str, *, gated: bool = False) -> int:
    """The server's sessions of `application_name` (with `gated`: only those whose
    statement waits for the test's advisory lock)."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND (NOT %s OR state = 'active' AND wait_event = 'advisory')",
            (application_name, gated),
        ).fetchone()
    return int(row[0]) if row else 0


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


def test_a_replica_that_loses_its_lease_cancels_its_stuck_statement_and_writes_nothing(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Replica 0 runs the export; its COPY waits behind the test's lock. Replica 0 is
    paused, its lease expired in the store, and replica 1 takes the export over (its
    own COPY waits too). Resumed, replica 0 hears of the lost lease from its heartbeat:
    its statement is cancelled on the server (its session ends while the lock is still
    held, so no statement end explains it) and nothing is journalled or stored. Once
    the lock goes, replica 1 finishes the export: every row once, checksums as in the
    manifest, every chunk journalled under its lease, no stray file."""
    server = postgres_server
    source_url, store_url = server.new_database(), server.new_database()
    with psycopg.connect(source_url, autocommit=True) as con:
        con.execute("CREATE TABLE t (id int8 PRIMARY KEY, body text NOT NULL)")
        con.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, %s) g", (ROWS,))
    exports = tmp_path / "shared" / "exports"
    exports.mkdir(parents=True)

    def replica(number: int) -> Daemon:
        daemon = daemon_factory(
            f"replica-{number}",
            job_store=store_url,
            replica_id=f"replica-{number}",
            allowed_roots=[str(exports)],
            batch_rows=1024,
            # A heartbeat every second; the lease itself is expired by the test.
            job_lease_seconds=3,
            job_store_poll_seconds=0.2,
            source_profiles={
                PROFILE: {
                    "kind": "postgresql",
                    "hosts": [f"127.0.0.1:{server.port}"],
                    "user": server.user,
                    "application_name": f"sluice-lease-{number}",
                }
            },
        )
        daemon.start()
        return daemon

    spec = ExportClient.build_spec(
        source=f"postgresql://127.0.0.1:{server.port}/{source_url.rsplit('/', 1)[1]}",
        source_profile=PROFILE,
        query=GATED_QUERY,
        order_by=["id"],
        chunk_rows=5_000,
        to=str(exports),
        dataset="gated",
    )
    with _gate(source_url):
        # Replica 1 starts only once replica 0 runs the export: the roles are fixed.
        first = replica(0)
        with ExportClient(first.address) as client:
            export_id = client.create(spec).id
        _until(lambda: _sessions(server, "sluice-lease-0", gated=True) == 1,
               "replica 0's statement never waited for the lock")  # fmt: skip
        second = replica(1)
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGSTOP)
        try:
            with psycopg.connect(store_url, autocommit=True) as con:
                con.execute(
                    "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                    (export_id,),
                )
            with ExportClient(second.address) as client:
                _until(lambda: client.get(export_id).replica == "replica-1",
                       "replica 1 never took the export over")  # fmt: skip
            _until(lambda: _sessions(server, "sluice-lease-1", gated=True) == 1,
                   "replica 1's statement never waited for the lock")  # fmt: skip
            assert _sessions(server, "sluice-lease-0", gated=True) == 1
        finally:
            os.kill(first.process.pid, signal.SIGCONT)
        # The lock is still held: only a cancel ends replica 0's statement.
        took = _until(lambda: _sessions(server, "sluice-lease-0") == 0,
                      "replica 0's statement still runs on the server", within=10)  # fmt: skip
        _until(lambda: "taken over by another replica" in first.log_path.read_text(),
               "replica 0's run never ended", within=10)  # fmt: skip
        print(f"replica 0's session ended {took:.2f}s after it resumed")
        assert _journal(store_url, export_id) == []
        assert _files(exports) == []
        assert _sessions(server, "sluice-lease-1", gated=True) == 1
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
    assert _journal(store_url, export_id) == [(i, "replica-1") for i in range(len(chunks))]
    folder = manifest_path(finished.manifest_uri).parent
    stored = sorted([*chunks, "manifest.json"])
    assert _files(exports) == [str((folder / name).relative_to(exports)) for name in stored]
    log = first.log_path.read_text()
    # Cancelled, not abandoned after ABANDON_SECONDS nor failed to cancel.
    for symptom in ("did not end", "could not cancel", "Traceback"):
        assert symptom not in log, symptom
    assert first.healthy()
