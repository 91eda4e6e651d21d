"""Several daemons (replicas) on one real PostgreSQL job store, sharing the work under
leases: every export ends exactly once (records read back) whichever replica ran it,
whether replicas are SIGKILLed, stopped with SIGTERM or paused past their lease (the
journal then shows one lease holder at a time), and any replica answers for any export.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import cast

import polars as pl
import psycopg
import pyarrow as pa
import pytest

from sluice.client import ExportClient, FailedPreconditionError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import test_resume as resume
from tests.integration.held_put import HeldPut
from tests.integration.helpers import read_export
from tests.servers.cloud import ProfileDaemon, S3Store, read_manifest
from tests.servers.postgres import PostgresServer
from tests.servers.processes import ServerProcess
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = {
    pb.EXPORT_STATE_SUCCEEDED,
    pb.EXPORT_STATE_FAILED,
    pb.EXPORT_STATE_CANCELLED,
}


class Replicas:
    """Daemons sharing one PostgreSQL database and one source and export folder (the
    shared storage several replicas writing local folders need)."""

    def __init__(self, factory: Callable[..., Daemon], root: Path, url: str) -> None:
        self.factory = factory
        self.url = url
        self.sources = root / "shared" / "sources"
        self.exports = root / "shared" / "exports"
        self.sources.mkdir(parents=True)
        self.exports.mkdir(parents=True)
        self.daemons: list[Daemon] = []

    def start(self, count: int, **settings: object) -> list[Daemon]:
        for _ in range(count):
            daemon = self.factory(
                f"replica-{len(self.daemons)}",
                job_store=self.url,
                replica_id=f"replica-{len(self.daemons)}",
                allowed_roots=[str(self.exports)],
                allowed_source_roots=[str(self.sources)],
                **settings,
            )
            daemon.start()
            self.daemons.append(daemon)
        return self.daemons[-count:]

    def holder(self, export_id: str) -> Daemon:
        """The daemon whose replica runs the export now."""
        with ExportClient(self.daemons[0].address) as client:
            replica = client.get(export_id).replica
        return next(d for d in self.daemons if d.settings["replica_id"] == replica)

    def journal(self, export_id: str) -> list[tuple[int, str, int]]:
        """(chunk index, lease owner, lease token) of every journalled chunk."""
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT idx, lease_owner, lease_token FROM chunks WHERE job_id = %s ORDER BY idx",
                (export_id,),
            ).fetchall()
        return [(int(i), str(o), int(t)) for i, o, t in rows]


@pytest.fixture
def replicas(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, tmp_path: Path
) -> Replicas:
    return Replicas(daemon_factory, tmp_path, postgres_server.new_database())


def _spec(replicas: Replicas, source: str = "events.parquet", **options: object) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(replicas.sources / source),
        to=str(replicas.exports),
        dataset="events",
        **options,
    )


def _slow_spec(replicas: Replicas) -> pb.ExportSpec:
    # As tests/integration/test_resume.py: a costly zstd level, so the export spans seconds.
    return _spec(replicas, level=15, chunk_rows=4000)


def _wait(client: ExportClient, export_id: str, until: Callable[[pb.Export], bool],
          timeout: float = 120) -> pb.Export:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        export = client.get(export_id)
        if until(export):
            return export
        time.sleep(0.1)
    raise AssertionError(f"export {export_id} is {client.get(export_id)} after {timeout}s")


def _final(client: ExportClient, export_id: str, timeout: float = 300) -> pb.Export:
    return _wait(client, export_id, lambda e: e.state in FINAL, timeout)


def _one_holder_at_a_time(journal: list[tuple[int, str, int]]) -> None:
    """Chunks in index order were journalled under non-decreasing lease tokens, each
    token by one owner: no two holders interleave."""
    tokens = [token for _, _, token in journal]
    assert tokens == sorted(tokens), journal
    owners: dict[int, set[str]] = {}
    for _, owner, token in journal:
        owners.setdefault(token, set()).add(owner)
    assert all(len(names) == 1 for names in owners.values()), journal
    assert all(owner for _, owner, _ in journal), journal


def test_three_replicas_drain_exports_each_exactly_once(replicas: Replicas) -> None:
    daemons = replicas.start(3, batch_rows=1024, job_lease_seconds=5)
    generate(replicas.sources / "events.parquet", 6_000, seed=3)
    clients = [ExportClient(d.address) for d in daemons]
    try:
        assert {c.server_info().replica_id for c in clients} == {
            "replica-0",
            "replica-1",
            "replica-2",
        }
        ids = [clients[n % 3].create(_spec(replicas, chunk_rows=1500)).id for n in range(15)]
        finished = [_final(clients[0], export_id) for export_id in ids]
        # Every replica answers for every export.
        for client in clients:
            assert {e.id for e in client.list(page_size=50)} == set(ids)
    finally:
        for client in clients:
            client.close()
    assert [e.state for e in finished] == [pb.EXPORT_STATE_SUCCEEDED] * 15
    owners: set[str] = set()
    for export in finished:
        assert read_export(export.manifest_uri)["id"].to_list() == list(range(6_000))
        journal = replicas.journal(export.id)
        assert [i for i, _, _ in journal] == [0, 1, 2, 3]
        _one_holder_at_a_time(journal)
        owners.update(owner for _, owner, _ in journal)
        assert export.replica == ""  # a finished export is held by no replica
    assert len(owners) >= 2, owners  # the work was shared


def test_three_replicas_one_killed_one_stopped_every_export_exactly_once(
    replicas: Replicas,
) -> None:
    """The issue's scenario: exports submitted round-robin to three replicas; one replica
    is SIGKILLed and another stopped with SIGTERM while exports run; the third finishes
    everything, each export exactly once and under one lease holder at a time."""
    rows = 20_000
    daemons = replicas.start(3, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=3)
    generate(replicas.sources / "events.parquet", rows, seed=21)
    clients = [ExportClient(d.address) for d in daemons]
    try:
        ids = [clients[n % 3].create(_slow_spec(replicas)).id for n in range(12)]
        _freeze_when_both_hold_an_export_midway(daemons[:2], clients[2])
        # The SIGKILL reaches replica 0 frozen, the SIGTERM replica 1 an instant after its
        # main thread runs again: each lands on an export with a whole chunk or more to go.
        daemons[0].kill()
        _thaw(daemons[1])
        assert daemons[1].stop() == 0
        finished = [_final(clients[2], export_id) for export_id in ids]
    finally:
        for client in clients:
            client.close()
    assert [e.state for e in finished] == [pb.EXPORT_STATE_SUCCEEDED] * 12
    moved = 0
    for export in finished:
        assert read_export(export.manifest_uri)["id"].to_list() == list(range(rows))
        journal = replicas.journal(export.id)
        assert [i for i, _, _ in journal] == list(range(5))
        _one_holder_at_a_time(journal)
        moved += len({owner for _, owner, _ in journal}) > 1
    assert moved >= 2  # at least the two interrupted exports changed hands


def _freeze_when_both_hold_an_export_midway(pair: list[Daemon], observer: ExportClient) -> None:
    """SIGSTOP both replicas of `pair` once each holds a running export with 1 to 3 of
    its 5 chunks journalled, as the store shows it to `observer` while they are frozen:
    then neither export can end before the test's next signal, however fast they run."""
    names = {str(d.settings["replica_id"]) for d in pair}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for daemon in pair:
            assert daemon.process is not None
            os.kill(daemon.process.pid, signal.SIGSTOP)
        midway = {
            e.replica
            for e in observer.list(page_size=50)
            if e.state == pb.EXPORT_STATE_RUNNING and 1 <= e.progress.chunks <= 3
        }
        if names <= midway:
            return
        for daemon in pair:
            assert daemon.process is not None
            os.kill(daemon.process.pid, signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("the two replicas never both held an export midway")


def _thaw(daemon: Daemon) -> None:
    """SIGCONT, and return once the daemon's main thread sleeps again (state S): a SIGTERM
    sent before that can be taken by another of its threads, and the main thread, which
    alone acts on it, then never wakes (the daemon hangs; reported as a daemon bug).
    Sent at once after SIGCONT, 8 of 8 SIGTERMs were lost so; after S, 0 of 8."""
    assert daemon.process is not None
    pid = daemon.process.pid
    os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    main_thread = Path(f"/proc/{pid}/task/{pid}/stat")
    while main_thread.read_text().rpartition(")")[2].split()[0] != "S":
        assert time.monotonic() < deadline, "the daemon did not resume"
        time.sleep(0.001)


def _frozen_midway(
    holder: Daemon, observer: ExportClient, export_id: str, low: int, high: int
) -> pb.Export:
    """SIGSTOP `holder` once the export it runs has `low` to `high` chunks journalled,
    as the store shows it to `observer` while it is frozen: the export then journals
    nothing more and cannot end until the test sends SIGCONT or SIGKILL, however fast
    the machine (a wait on progress alone races an export that may end meanwhile)."""
    assert holder.process is not None
    pid = holder.process.pid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        export = observer.get(export_id)
        if (
            export.state == pb.EXPORT_STATE_RUNNING
            and export.replica == holder.settings["replica_id"]
            and low <= export.progress.chunks <= high
        ):
            return export
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"{export_id} never ran on {pid} with {low} to {high} chunks")


def test_sigkill_of_the_holder_another_replica_finishes_exactly_once(
    replicas: Replicas,
) -> None:
    replicas.start(2, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=3)
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    with ExportClient(replicas.daemons[0].address) as client:
        export_id = client.create(_slow_spec(replicas)).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 1)
    victim = replicas.holder(export_id)
    survivor = next(d for d in replicas.daemons if d is not victim)
    # Frozen with 3 to 20 of its 25 chunks journalled, the victim dies holding the
    # export midway: the survivor must take it over and journal the rest.
    with ExportClient(survivor.address) as observer:
        _frozen_midway(victim, observer, export_id, 3, 20)
    killed_at = time.monotonic()
    victim.kill()
    with ExportClient(survivor.address) as client:
        taken = _wait(client, export_id, lambda e: e.replica == survivor.settings["replica_id"])
        took_over_after = time.monotonic() - killed_at
        finished = _final(client, export_id)
    assert taken.state == pb.EXPORT_STATE_RUNNING
    assert took_over_after < 3 + 5, took_over_after  # the lease, plus a claim poll
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)
    journal = replicas.journal(export_id)
    _one_holder_at_a_time(journal)
    assert {owner for _, owner, _ in journal} == {
        victim.settings["replica_id"],
        survivor.settings["replica_id"],
    }


def test_a_replica_paused_past_its_lease_commits_nothing_more(replicas: Replicas) -> None:
    replicas.start(2, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=2)
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    with ExportClient(replicas.daemons[0].address) as client:
        export_id = client.create(_slow_spec(replicas)).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 2)
    paused = replicas.holder(export_id)
    other = next(d for d in replicas.daemons if d is not paused)
    assert paused.process is not None
    os.kill(paused.process.pid, signal.SIGSTOP)
    try:
        with ExportClient(other.address) as client:
            _wait(client, export_id, lambda e: e.replica == other.settings["replica_id"])
            # Let the new holder journal some chunks while the old one is still paused.
            before = client.get(export_id).progress.chunks
            _wait(client, export_id, lambda e: e.progress.chunks > before or e.state in FINAL)
    finally:
        os.kill(paused.process.pid, signal.SIGCONT)
    with ExportClient(other.address) as client:
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)
    journal = replicas.journal(export_id)
    _one_holder_at_a_time(journal)
    paused_id = paused.settings["replica_id"]
    # Once the other replica journalled a chunk, the paused one journalled none.
    first_other = min(i for i, owner, _ in journal if owner != paused_id)
    assert all(owner != paused_id for i, owner, _ in journal if i >= first_other), journal
    # The paused replica noticed, stopped, and is healthy for other work.
    deadline = time.monotonic() + 20
    while "lease" not in paused.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (
        "lease lost" in paused.log_path.read_text() or "taken over" in paused.log_path.read_text()
    )
    assert paused.healthy()


def _sigterm_while_held(
    replicas: Replicas, meanwhile: Callable[[str], None] = lambda export_id: None
) -> tuple[str, Daemon, Daemon, float]:
    """Two replicas; an export held with chunks 0..HELD-1 journalled and chunk HELD
    stored (the holder's journal of chunk HELD waits for the test, however fast the
    machine), `meanwhile(export_id)`, then SIGTERM to its holder, which has 20 chunks
    or more to go. Returns the export id, the replica stopped, the other one, and the
    monotonic time of the SIGTERM."""
    # A lease far longer than the test: only the handover can move the export in time.
    replicas.start(2, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=600)
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    with (
        _journal_held_at(replicas.url, HELD) as held,
        ExportClient(replicas.daemons[0].address) as client,
    ):
        export_id = client.create(_slow_spec(replicas)).id
        held.reached(HELD)
        leaving = replicas.holder(export_id)
        staying = next(d for d in replicas.daemons if d is not leaving)
        assert [i for i, _, _ in replicas.journal(export_id)] == list(range(HELD))
        meanwhile(export_id)
        assert leaving.process is not None
        stopped_at = time.monotonic()
        leaving.process.send_signal(signal.SIGTERM)
        # Logged once its export's stop is set: from then on it starts no commit.
        stopping = f"export {export_id}: stopping for shutdown"
        until(lambda: stopping in leaving.log_path.read_text(), "no shutdown began", 30)
    assert leaving.stop() == 0
    return export_id, leaving, staying, stopped_at


def test_sigterm_hands_running_exports_to_another_replica_at_once(replicas: Replicas) -> None:
    export_id, leaving, staying, stopped_at = _sigterm_while_held(replicas)
    with ExportClient(staying.address) as client:
        _wait(client, export_id, lambda e: e.replica == staying.settings["replica_id"], 30)
        assert time.monotonic() - stopped_at < 30
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)
    journal = replicas.journal(export_id)
    _one_holder_at_a_time(journal)
    # The leaving replica journalled the chunk whose journal was under way at the
    # SIGTERM and none after it, though its writer had the next one ready: the staying
    # one continued from there.
    left = str(leaving.settings["replica_id"])
    assert [i for i, owner, _ in journal if owner == left] == list(range(HELD + 1))
    assert {owner for i, owner, _ in journal if i > HELD} == {staying.settings["replica_id"]}


def test_chunks_journalled_by_a_replica_but_missing_from_storage_fail_the_handover(
    replicas: Replicas,
) -> None:
    # As the Helm chart's PostgreSQL shape once did: each pod's export root on its own
    # emptyDir. The leaving replica's chunks are journalled but the staying one does not
    # see them (removed here from the shared folder, as if on the leaving pod's volume):
    # its resume must not build a manifest naming them (SUCCEEDED with 3 chunks lost).
    gone: list[Path] = []

    def remove_the_journalled_chunks(export_id: str) -> None:
        folder = replicas.exports / "events" / export_id
        gone.extend(sorted(p for p in folder.iterdir() if p.name.startswith("part-"))[:HELD])
        assert [p.name.split(".")[0] for p in gone] == [f"part-{i:06d}" for i in range(HELD)], gone
        for path in gone:
            path.unlink()

    export_id, _, staying, _ = _sigterm_while_held(replicas, remove_the_journalled_chunks)
    with ExportClient(staying.address) as client:
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_FAILED, finished
    assert finished.error.code == "DATA_LOSS", finished.error
    message = finished.error.message
    assert f"3 of its {HELD + 1} journalled chunks are not in" in message, message
    assert all(path.name in message for path in gone), message
    assert not (replicas.exports / "events" / export_id / "manifest.json").exists()


#: The chunk whose journal the SIGTERM test holds (of an export of 25).
HELD = 3
#: Advisory lock keys of held journals: this plus the chunk's index.
_HOLD_LOCKS = 727_000


class _HeldJournal:
    """Journal writes of chunks the test holds (see _journal_held_at)."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        self._conn = conn

    def reached(self, index: int, timeout: float = 120) -> None:
        """Return once a replica's journal write of chunk `index` waits for the test."""
        until(
            lambda: (
                self._conn.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE d.datname = current_database() AND NOT l.granted"
                    " AND l.locktype = 'advisory' AND l.objid = %s",
                    (_HOLD_LOCKS + index,),
                ).fetchone()
                == (1,)
            ),
            f"no journal write reached chunk {index}",
            timeout,
        )

    def release(self, index: int) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s)", (_HOLD_LOCKS + index,))

    def waiting_for_the_row_of(self, statement: str, timeout: float = 30) -> None:
        """Return once a statement starting with `statement` waits for a row lock."""
        until(
            lambda: (
                self._conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND starts_with(query, %s)",
                    (statement,),
                ).fetchone()
                == (1,)
            ),
            f"no {statement!r} waits",
            timeout,
        )


@contextmanager
def _journal_held_at(url: str, *indices: int) -> Iterator[_HeldJournal]:
    """Hold every journal write of the chunks `indices` (any export) until the test
    releases it (or the block ends): a trigger on the job store's chunks table waits for
    an advisory lock the test holds. The replica writing it waits inside that write, its
    job row locked, so its export commits nothing more meanwhile: a hold at a known
    chunk, which a SIGSTOP cannot give."""
    with psycopg.connect(url, autocommit=True) as conn:
        for index in indices:
            conn.execute("SELECT pg_advisory_lock(%s)", (_HOLD_LOCKS + index,))
        held = ", ".join(str(int(index)) for index in indices)
        conn.execute(
            "CREATE FUNCTION test_hold_chunk() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.idx IN ({held}) THEN"
            f" PERFORM pg_advisory_xact_lock_shared({_HOLD_LOCKS} + NEW.idx); END IF;"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_hold_chunk BEFORE INSERT ON chunks"
            " FOR EACH ROW EXECUTE FUNCTION test_hold_chunk()"
        )
        try:
            yield _HeldJournal(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock_all()")
            conn.execute("DROP TRIGGER test_hold_chunk ON chunks")
            conn.execute("DROP FUNCTION test_hold_chunk()")


def test_a_watch_on_the_replica_running_the_export_hears_its_live_progress_only(
    replicas: Replicas,
) -> None:
    # The store's NOTIFY of each journalled chunk reaches the replica that wrote it too.
    # Its watchers have the live events already: the echo must not add a journalled
    # progress event (no rates, behind the live one) per chunk.
    (daemon,) = replicas.start(1)
    generate(replicas.sources / "events.parquet", 20_000)
    events: list[pb.ExportEvent] = []
    with ExportClient(daemon.address) as client:
        export_id = client.create(_spec(replicas, chunk_rows=1000)).id
        done = client.wait(export_id, timeout=300, on_event=events.append)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED
    assert sum(event.HasField("chunk_committed") for event in events) == 20
    progress = [event.progress for event in events if event.HasField("progress")]
    assert progress
    assert [p.records for p in progress] == sorted(p.records for p in progress)
    assert all(p.records_per_second > 0 for p in progress if p.records > 0), progress


def test_a_replica_holds_at_most_its_pool_a_listening_and_a_checking_connection(
    replicas: Replicas,
) -> None:
    # README "Sizing": job_store_pool_size + 2 connections per replica, however busy (the
    # LISTEN connection and the store check's).
    (daemon,) = replicas.start(1, job_store_pool_size=2, max_concurrent_exports=2)
    generate(replicas.sources / "events.parquet", 20_000)
    held: list[int] = []
    with (
        ExportClient(daemon.address) as client,
        psycopg.connect(replicas.url, autocommit=True) as conn,
    ):
        ids = [client.create(_spec(replicas, chunk_rows=1000)).id for _ in range(3)]
        while not all(client.get(export_id).state in FINAL for export_id in ids):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            assert row is not None
            held.append(int(row[0]))
            time.sleep(0.02)
        states = {client.get(export_id).state for export_id in ids}
    assert states == {pb.EXPORT_STATE_SUCCEEDED}
    assert 2 <= max(held) <= 4, held


def test_cancel_watch_and_resume_reach_an_export_on_another_replica(
    replicas: Replicas,
) -> None:
    lease = 6
    replicas.start(2, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=lease)
    generate(replicas.sources / "events.parquet", resume.ROWS, seed=5)
    # Journals held at chunks 2 and 12 of 25: the export waits there until the test
    # lets it go on, however fast the machine.
    with _journal_held_at(replicas.url, 2, 12) as held:
        with ExportClient(replicas.daemons[0].address) as client:
            export_id = client.create(_slow_spec(replicas)).id
        held.reached(2)
        holder = replicas.holder(export_id)
        elsewhere = next(d for d in replicas.daemons if d is not holder)
        assert holder.process is not None
        with ExportClient(elsewhere.address) as client:
            # The watch begins while the export waits, so it follows the chunks after.
            events: Iterator[pb.ExportEvent] = iter(client.watch(export_id, timeout=60))
            assert next(events).HasField("snapshot")
            held.release(2)
            progress = _progress_of(events, count=2)
            assert progress[-1] > progress[0]
            held.reached(12)
            assert [i for i, _, _ in replicas.journal(export_id)] == list(range(12))
            # The cancel, on the other replica, waits for the job row the holder's
            # journal of chunk 12 holds. The holder is frozen before that journal ends,
            # so the cancel is in the store before the holder runs again: its next
            # commit's lease renewal, half a lease after the last one, hears of it.
            outcome: list[pb.Export] = []
            cancelling = threading.Thread(
                target=lambda: outcome.append(client.cancel(export_id)), daemon=True
            )
            reached_at = time.monotonic()
            cancelling.start()
            held.waiting_for_the_row_of("UPDATE jobs SET cancel_requested")
            os.kill(holder.process.pid, signal.SIGSTOP)
            try:
                held.release(12)
                until(lambda: _cancel_requested(replicas, export_id), "no cancel recorded", 30)
                time.sleep(max(0.0, lease / 2 + 0.1 - (time.monotonic() - reached_at)))
            finally:
                os.kill(holder.process.pid, signal.SIGCONT)
            cancelling.join(30)
            cancelled = outcome[0]
            if cancelled.state != pb.EXPORT_STATE_CANCELLED:
                cancelled = _final(client, export_id, timeout=30)
    assert cancelled.state == pb.EXPORT_STATE_CANCELLED
    assert cancelled.replica == ""
    # Chunk 12, journalled when the cancel came, and nothing after it.
    assert [i for i, _, _ in replicas.journal(export_id)] == list(range(13))
    # Resumed through any replica, whichever claims it ends it exactly once.
    with ExportClient(holder.address) as client:
        client.resume(export_id)
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)


def test_a_cancel_on_another_replica_stops_the_export_before_the_next_heartbeat(
    replicas: Replicas,
) -> None:
    # The store NOTIFYs the cancel; the holder renews its lease at once, hears of the
    # cancel in that renewal and stops within one chunk. With a 30 s lease the holder's
    # own renewals are 5 s apart (the heartbeat) or 15 s (before a chunk's commit): the
    # export ends before the heartbeat after the one the cancel follows could have run.
    lease = 30
    replicas.start(2, batch_rows=1024, pipeline_queue_depth=2, job_lease_seconds=lease)
    # Far more chunks than the test waits for: the cancel ends the export early.
    generate(replicas.sources / "events.parquet", 4 * resume.ROWS, seed=5)
    with ExportClient(replicas.daemons[0].address) as client:
        export_id = client.create(_spec(replicas, level=15, chunk_rows=2000)).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 1, 60)
    holder = replicas.holder(export_id)
    elsewhere = next(d for d in replicas.daemons if d is not holder)
    # The next renewal is the heartbeat's (the one before a commit comes 15 s after
    # chunk 0's): the cancel follows it at once.
    renewed = _lease_expiry(replicas, export_id)
    until(lambda: _lease_expiry(replicas, export_id) != renewed, "no heartbeat renewal", 10)
    heartbeat = _lease_expiry(replicas, export_id)
    assert heartbeat is not None
    with ExportClient(elsewhere.address) as client:
        cancelled = client.cancel(export_id)
        if cancelled.state != pb.EXPORT_STATE_CANCELLED:
            cancelled = _final(client, export_id, timeout=30)
    assert cancelled.state == pb.EXPORT_STATE_CANCELLED
    with psycopg.connect(replicas.url) as conn:
        row = conn.execute(
            "SELECT updated_at - (%s - make_interval(secs => %s)) FROM jobs WHERE id = %s",
            (heartbeat, lease, export_id),
        ).fetchone()
    assert row is not None
    # On the store's clock: from the heartbeat's renewal to the CANCELLED state.
    ended_after = row[0].total_seconds()
    # The next heartbeat renews 5 s after it at the earliest: well before that.
    assert ended_after < 4.0, f"cancelled {ended_after:.2f}s after the heartbeat"
    chunks = [i for i, _, _ in replicas.journal(export_id)]
    assert chunks == list(range(len(chunks)))
    assert len(chunks) < 4 * resume.ROWS // 2000


def _lease_expiry(replicas: Replicas, export_id: str) -> datetime | None:
    """When the export's lease ends (as its last renewal set it), on the store's clock."""
    with psycopg.connect(replicas.url) as conn:
        row = conn.execute(
            "SELECT lease_expires_at FROM jobs WHERE id = %s", (export_id,)
        ).fetchone()
    return None if row is None else cast(datetime | None, row[0])


def _cancel_requested(replicas: Replicas, export_id: str) -> bool:
    with psycopg.connect(replicas.url) as conn:
        row = conn.execute(
            "SELECT cancel_requested FROM jobs WHERE id = %s", (export_id,)
        ).fetchone()
    return row is not None and bool(row[0])


def _watched_progress(client: ExportClient, export_id: str, count: int) -> list[int]:
    """Chunk counts from `count` progress events of a watch (then the watch is left)."""
    return _progress_of(iter(client.watch(export_id, timeout=60)), count)


def _progress_of(events: Iterator[pb.ExportEvent], count: int) -> list[int]:
    """Chunk counts from the events of a watch until `count` progress events."""
    seen: list[int] = []
    for event in events:
        if event.HasField("progress"):
            seen.append(event.progress.chunks)
        elif event.HasField("snapshot"):
            seen.append(event.snapshot.progress.chunks)
        if len(seen) > count:
            break
    return seen


def test_one_request_id_sent_to_two_replicas_at_once_makes_one_export(
    replicas: Replicas,
) -> None:
    daemons = replicas.start(2, batch_rows=1024)
    generate(replicas.sources / "events.parquet", 2_000, seed=9)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def create(daemon: Daemon) -> None:
        with ExportClient(daemon.address) as client:
            barrier.wait()
            results.append(client.create(_spec(replicas), request_id="nightly-42").id)

    threads = [threading.Thread(target=create, args=(d,)) for d in daemons * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    with ExportClient(daemons[1].address) as client:
        assert [e.id for e in client.list()] == results[:1]
        assert _final(client, results[0]).state == pb.EXPORT_STATE_SUCCEEDED


def test_increments_of_one_chain_sent_to_two_replicas_at_once_make_one_export(
    replicas: Replicas,
) -> None:
    """The service's own check comes before planning, where the replicas' creates pass
    each other; the job store's create transaction lets one increment of the chain in
    and refuses the others, naming it."""
    settings = {"batch_rows": 1024, "flight_put_idle_timeout": 5}
    daemons = replicas.start(2, max_concurrent_exports=1, **settings)
    generate(replicas.sources / "events.parquet", 2_000, seed=9)
    increment = pb.Incremental(mode="incremental", cursor="updated_at")
    created: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def create(daemon: Daemon) -> None:
        with ExportClient(daemon.address) as client:
            barrier.wait()
            try:
                created.append(client.create(_spec(replicas, incremental=increment)).id)
            except FailedPreconditionError as exc:
                refused.append(str(exc))
            except BaseException as exc:  # handed to the test thread
                errors.append(exc)

    busy = ExportClient.build_spec(to=str(replicas.exports), dataset="busy")
    # Each replica's only slot is held while the creates race: the increment let in
    # stays queued (an increment that ended would rightly let the next one in).
    with (
        HeldPut(daemons[0].address, busy, "busy-0") as held_0,
        HeldPut(daemons[1].address, busy, "busy-1") as held_1,
    ):
        threads = [threading.Thread(target=create, args=(d,)) for d in daemons * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(created) == 1 and len(refused) == 7, (created, refused)
        for message in refused:
            assert f"export {created[0]}, an increment of dataset 'events'" in message
            assert "is queued: one increment of a chain runs at a time" in message
        held_0.release()
        held_1.release()
    with ExportClient(daemons[1].address) as client:
        exports = {e.id for e in client.list()}
        assert exports == {created[0], held_0.export_id, held_1.export_id}
        assert _final(client, created[0]).state == pb.EXPORT_STATE_SUCCEEDED


def test_failover_on_s3_continues_the_open_multipart_upload_exactly_once(
    replicas: Replicas, moto_server: ServerProcess, tmp_path: Path
) -> None:
    """The holder is SIGKILLed mid multi-part upload; the other replica continues after
    the last journalled chunk, and nothing stays open on S3 (moto)."""
    rows = 60_000  # ~30 MB of JSON lines: chunks of 12 MiB, three 5 MiB parts each
    store = S3Store(moto_server.endpoint, moto_server.endpoint)
    daemons = []
    for n in range(2):
        daemon = ProfileDaemon(
            root=tmp_path / f"s3-replica-{n}",
            settings={
                "job_store": replicas.url,
                "replica_id": f"s3-replica-{n}",
                "allowed_source_roots": [str(replicas.sources)],
                "batch_rows": 2048,
                "pipeline_queue_depth": 2,
                "job_lease_seconds": 3,
            },
            profiles={"lake": store.profile},
            environment=store.environment,
        )
        daemon.start()
        daemons.append(daemon)
    replicas.daemons.extend(daemons)
    try:
        generate(replicas.sources / "events.parquet", rows, seed=11)
        spec = ExportClient.build_spec(
            source=str(replicas.sources / "events.parquet"),
            to=store.root_uri,
            dataset="events",
            format="jsonl",
            compression="none",
            chunk_bytes=12 * 1024 * 1024,
        )
        spec.destination.profile = "lake"
        with ExportClient(daemons[0].address) as client:
            export_id = client.create(spec).id
            _wait(client, export_id, lambda e: e.progress.chunks >= 1)
        victim = replicas.holder(export_id)
        survivor = next(d for d in daemons if d is not victim)
        victim.kill()
        with ExportClient(survivor.address) as client:
            finished = _final(client, export_id)
    finally:
        for daemon in daemons:
            try:
                daemon.stop(timeout=20)
            except Exception:
                daemon.kill()
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    manifest = read_manifest(store, finished.manifest_uri)
    folder = finished.manifest_uri.removeprefix(store.root_uri + "/").rpartition("/")[0]
    ids: list[int] = []
    for chunk in manifest["chunks"]:
        data = store.read(f"{folder}/{chunk['path']}")
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"], chunk["path"]
        ids.extend(pl.read_ndjson(io.BytesIO(data))["id"].to_list())
    assert ids == list(range(rows))
    expected = [f"{folder}/{c['path']}" for c in manifest["chunks"]] + [f"{folder}/manifest.json"]
    assert sorted(store.keys()) == sorted(expected)
    assert store.unfinished_uploads() == []
    journal = replicas.journal(export_id)
    _one_holder_at_a_time(journal)
    assert len({owner for _, owner, _ in journal}) == 2, journal


def test_a_put_runs_on_the_replica_its_records_arrive_at(replicas: Replicas) -> None:
    """A DoPut's records arrive on one replica, so its export runs there: an idle
    replica never claims it, even while the receiving one is busy with other work (it
    would wait for records that never come to it)."""
    settings = {"batch_rows": 1024, "pipeline_queue_depth": 2, "flight_put_idle_timeout": 5}
    (receiver,) = replicas.start(1, max_concurrent_exports=1, **settings)
    generate(replicas.sources / "events.parquet", 2_000, seed=5)
    table = pa.table({"id": list(range(5_000)), "name": [f"n{i}" for i in range(5_000)]})
    spec = ExportClient.build_spec(to=str(replicas.exports), dataset="pushed", chunk_rows=1_000)
    busy_spec = ExportClient.build_spec(to=str(replicas.exports), dataset="busy")
    acks: list[dict[str, object]] = []
    outcome: list[dict[str, object] | BaseException] = []

    def put() -> None:
        try:
            with ExportClient(receiver.address) as client:
                final = client.put(
                    spec, table, "put-on-the-receiver", attempts=1, on_ack=acks.append
                )
            outcome.append(final)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    putter = threading.Thread(target=put)
    # The receiver's only slot is held until the test lets go: a busy export that ends
    # on its own could end before the put arrives on a fast machine, and prove nothing.
    with HeldPut(receiver.address, busy_spec, "busy") as busy:
        (idle,) = replicas.start(1, **settings)
        putter.start()
        with ExportClient(receiver.address) as client:
            deadline = time.monotonic() + 60
            while not acks:
                assert time.monotonic() < deadline and not outcome, outcome
                time.sleep(0.05)
            export_id = str(acks[0]["export_id"])
            assert client.get(export_id).state == pb.EXPORT_STATE_QUEUED
            # Work queued after the put's export, that only the idle replica can take: it
            # claims the oldest claimable job first, so once it runs this one, it has
            # passed the put's export over.
            witness = client.create(_spec(replicas)).id
            ran = _final(client, witness)
            assert [a.replica for a in ran.attempts] == [idle.settings["replica_id"]]
            waiting = client.get(export_id)
            assert waiting.state == pb.EXPORT_STATE_QUEUED and not waiting.attempts, waiting
        assert busy.release()["state"] == "succeeded"
    putter.join(120)
    (final,) = outcome
    assert isinstance(final, dict), final
    assert final["state"] == "succeeded" and final["export_id"] == export_id
    owners = {owner for _, owner, _ in replicas.journal(export_id)}
    assert owners == {receiver.settings["replica_id"]}
    assert export_id not in idle.log_tail(2_000)
    assert read_export(str(final["manifest_uri"]))["id"].to_list() == list(range(5_000))


def test_a_put_handed_back_by_a_replica_that_never_returns_ends_on_another(
    replicas: Replicas,
) -> None:
    """A DoPut export runs where its records arrive (pinned there). A rolling update
    stops that replica (SIGTERM: the export is handed back) and its pod name never comes
    back; the client does not come back either. It waited QUEUED for that replica for
    good, counting against queue limits: another replica must claim it and end it as
    cancelled once no batch comes (flight_put_idle_timeout), and a put with the same
    request id still resumes it to every record once."""
    receiver, survivor = replicas.start(2, flight_put_idle_timeout=3, job_lease_seconds=5)
    spec = ExportClient.build_spec(to=str(replicas.exports), dataset="pushed")
    with HeldPut(receiver.address, spec, "put-then-gone") as held:
        export_id = held.export_id
        receiver.stop(timeout=60)
    with ExportClient(survivor.address) as client:
        ended = _final(client, export_id, 120)
        assert ended.state == pb.EXPORT_STATE_CANCELLED, ended
        assert "flight_put_idle_timeout" in ended.error.message, ended.error
        assert ended.attempts[-1].replica == survivor.settings["replica_id"], ended.attempts
        rows = held.rows + 100
        table = pa.table({"id": pa.array(range(rows), pa.int64())})
        final = client.put(spec, table, "put-then-gone", attempts=1)
    assert final["state"] == "succeeded" and final["export_id"] == export_id, final
    assert read_export(str(final["manifest_uri"]))["id"].to_list() == list(range(rows))


def test_a_put_handed_back_in_a_rolling_update_resumes_on_whichever_replica_it_lands(
    replicas: Replicas,
) -> None:
    """A rolling update stops the replica a put streams to (SIGTERM: handed back). The
    client retries the put through the load balancer, which may land it on any other
    replica. Another replica claiming the export at once (waiting for batches there)
    made the retry fail FAILED_PRECONDITION "receiving its records on replica X": for
    flight_put_idle_timeout no replica claims it, and the retry pins it where it lands."""
    a, b, c = replicas.start(3, flight_put_idle_timeout=120, job_lease_seconds=5)
    spec = ExportClient.build_spec(to=str(replicas.exports), dataset="pushed")
    with HeldPut(a.address, spec, "rolling") as held:
        export_id = held.export_id
        a.stop(timeout=60)
    with ExportClient(b.address) as client:
        # Time for a claim to happen (it did at once): none may within the window.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = client.get(export_id)
            if now.state != pb.EXPORT_STATE_QUEUED:
                break
            time.sleep(0.2)
    # The retry lands on a replica not running it (the old code's claimer refused it).
    elsewhere = b if now.replica == c.settings["replica_id"] else c
    rows = held.rows + 100
    table = pa.table({"id": pa.array(range(rows), pa.int64())})
    with ExportClient(elsewhere.address) as client:
        final = client.put(spec, table, "rolling", attempts=1)
        ended = client.get(export_id)
    assert final["state"] == "succeeded" and final["export_id"] == export_id, final
    assert read_export(str(final["manifest_uri"]))["id"].to_list() == list(range(rows))
    assert ended.attempts[-1].replica == elsewhere.settings["replica_id"], ended.attempts
    assert (now.state, now.replica) == (pb.EXPORT_STATE_QUEUED, ""), now


def test_a_queued_put_of_a_replica_that_stops_and_never_returns_ends_on_another(
    replicas: Replicas,
) -> None:
    """As above, for a put still queued on its replica (busy with another export) when
    that replica stops: it was never run, so never handed back, and only that replica
    could claim it. Another replica must end it as cancelled."""
    settings = {"flight_put_idle_timeout": 3, "job_lease_seconds": 5}
    (receiver,) = replicas.start(1, max_concurrent_exports=1, **settings)
    spec = ExportClient.build_spec(to=str(replicas.exports), dataset="pushed")
    table = pa.table({"id": pa.array(range(1_000), pa.int64())})
    acks: list[dict[str, object]] = []
    outcome: list[object] = []

    def put() -> None:
        try:
            with ExportClient(receiver.address) as client:
                outcome.append(
                    client.put(spec, table, "queued-put", attempts=1, on_ack=acks.append)
                )
        except BaseException as exc:  # the receiver stops under it
            outcome.append(exc)

    putter = threading.Thread(target=put)
    busy_spec = ExportClient.build_spec(to=str(replicas.exports), dataset="busy")
    with HeldPut(receiver.address, busy_spec, "busy"):
        (survivor,) = replicas.start(1, **settings)
        putter.start()
        until(lambda: bool(acks or outcome), "the put was answered", 60)
        export_id = str(acks[0]["export_id"])
        with ExportClient(receiver.address) as client:
            assert client.get(export_id).state == pb.EXPORT_STATE_QUEUED
        receiver.stop(timeout=60)
    putter.join(120)
    with ExportClient(survivor.address) as client:
        ended = _final(client, export_id, 120)
    assert ended.state == pb.EXPORT_STATE_CANCELLED, ended
    assert "flight_put_idle_timeout" in ended.error.message, ended.error
    assert [a.replica for a in ended.attempts] == [survivor.settings["replica_id"]]


def test_a_keyed_export_failed_over_to_a_replica_with_another_key_names_the_key(
    replicas: Replicas, tmp_path: Path
) -> None:
    """A keyed export compares its key pass's fingerprint on resume; a replica with
    another content_digest_key makes another fingerprint from the same rows. It said
    "source changed since the export started" of an unchanged source: it names the key."""
    for i in range(2):
        key = tmp_path / f"content-{i}.key"
        key.write_bytes(os.urandom(32))
        replicas.start(
            1,
            content_digest_key=f"file:{key}",
            batch_rows=1024,
            pipeline_queue_depth=2,
            job_lease_seconds=3,
        )
    rows = 200_000
    pl.DataFrame({"id": range(rows), "text": [f"row {i}" for i in range(rows)]}).write_parquet(
        replicas.sources / "keyed.parquet"
    )
    spec = _spec(
        replicas,
        "keyed.parquet",
        format="jsonl",
        level=15,
        chunk_rows=5_000,
        incremental=pb.Incremental(mode="full", key=["id"]),
    )
    with ExportClient(replicas.daemons[0].address) as client:
        export_id = client.create(spec).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 1)
    victim = replicas.holder(export_id)
    survivor = next(d for d in replicas.daemons if d is not victim)
    with ExportClient(survivor.address) as observer:
        _frozen_midway(victim, observer, export_id, 1, 30)
    victim.kill()
    with ExportClient(survivor.address) as client:
        finished = _final(client, export_id)
    assert finished.state == pb.EXPORT_STATE_FAILED
    message = finished.error.message
    assert "content_digest_key or key_index_key differs" in message, message
    assert "source changed" not in message
    assert finished.error.code == "FAILED_PRECONDITION"


def test_a_replica_on_postgresql_without_a_content_key_refuses_to_start(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer
) -> None:
    daemon = daemon_factory(
        "keyless", job_store=postgres_server.new_database(), content_digest_key=""
    )
    result = daemon.serve_refused(timeout=60)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sluice: error: content_digest_key: must be set"), last
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("roots", ["default", "inside"])
def test_a_daemon_on_postgresql_warns_of_export_roots_in_its_own_state_folder(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, roots: str
) -> None:
    """Each replica's state folder is its own (locked per daemon): chunks written there
    are missing on a replica the export fails over to. The default root is one. A
    single daemon on PostgreSQL (the README's own example) loses nothing: it starts,
    warned, rather than stop starting after an upgrade."""
    daemon = daemon_factory("own-roots", job_store=postgres_server.new_database())
    inside = daemon.state_dir / "exports" / "mine"
    daemon.settings["allowed_roots"] = [] if roots == "default" else [str(inside)]
    daemon.start(timeout=60)
    root = daemon.state_dir / "exports" if roots == "default" else inside
    log = daemon.log_path.read_text(errors="replace")
    warned = [line for line in log.splitlines() if "WARNING" in line and str(root) in line]
    assert len(warned) == 1, log
    assert f"allowed_roots: {root} is inside state_dir {daemon.state_dir}" in warned[0]
    assert "replicas sharing the PostgreSQL job_store must share export roots" in warned[0]
    assert "chunks one replica writes there are missing on another" in warned[0]
    # The effects, named in the one line: what an operator sees go wrong.
    assert (
        "with several replicas an export failed over resumes with DATA_LOSS, reads and "
        "verify by export id on the other replicas are NOT_FOUND, and increments may "
        "re-send rows already exported"
    ) in warned[0]
    table = pa.table({"id": pa.array(range(100), pa.int64())})
    spec = ExportClient.build_spec(to=str(root), dataset="single")
    with ExportClient(daemon.address) as client:
        final = client.put(spec, table, "single-daemon", attempts=1)
    assert final["state"] == "succeeded", final
    assert read_export(str(final["manifest_uri"]))["id"].to_list() == list(range(100))


def test_a_cancel_sent_to_a_replica_whose_run_lost_its_lease_reaches_the_new_holder(
    replicas: Replicas,
) -> None:
    # Replica a is paused past its lease, b takes the export over; a wakes and its run,
    # still in a's hands until its next renewal, is asked to cancel: the cancel must
    # reach b's run rather than only stop a's (answered RUNNING, export finished).
    (a,) = replicas.start(1, job_lease_seconds=3)
    generate(replicas.sources / "events.parquet", 4 * resume.ROWS, seed=5)
    with ExportClient(a.address) as client:
        export_id = client.create(_spec(replicas, level=19, chunk_rows=4000)).id
        _wait(client, export_id, lambda e: e.progress.chunks >= 2, 120)
    (b,) = replicas.start(1, job_lease_seconds=3)
    assert a.process is not None
    os.kill(a.process.pid, signal.SIGSTOP)
    try:
        with ExportClient(b.address) as client:
            _wait(client, export_id, lambda e: e.replica == b.settings["replica_id"], 120)
    finally:
        os.kill(a.process.pid, signal.SIGCONT)
    with ExportClient(a.address, timeout=120) as client:
        answered = client.cancel(export_id)
        cancelled = answered
        if cancelled.state != pb.EXPORT_STATE_CANCELLED:
            cancelled = _final(client, export_id)
    assert cancelled.state == pb.EXPORT_STATE_CANCELLED, pb.ExportState.Name(answered.state)
