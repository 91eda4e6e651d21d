"""What one export costs its job store: a real export (pipeline, local sink, manifest)
run by the runner in this process on each store, counting the write transactions the
store commits. A chunk is journalled with one fenced write; the lease is renewed before a
chunk's commit only when it was not renewed recently, so write transactions grow by
about one per chunk, not two (a count, never a timing).

Counted by the database itself where it can tell: PostgreSQL hands out one transaction
id per write transaction (read-only ones take none); SQLite's writes are each one
BEGIN IMMEDIATE, seen through its statement trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from sluice.client.demo_data import generate
from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs import JobState, JobStore, NewJob, SQLiteJobStore
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.planning.spec import ChunkingSpec, DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from tests.servers.postgres import PostgresServer

CHUNKS = 20
ROWS_PER_CHUNK = 50
#: Claim, final transition, the run facts saved before anything is read (they pin the
#: parent an increment builds on: w31-chain) and again before the first chunk, the lease
#: renewal before the manifest is signed, the runner's shutdown handing its queued puts
#: to other replicas (unpin_queued, once per daemon stop), the final progress with its
#: counters once the pipeline ends (save_final_progress: the live counters end equal to
#: the manifest's), and room for a heartbeat or a progress save or two on a busy machine:
#: whatever does not grow with the chunks (20 chunks cost 32-33, 40 cost 52).
FIXED = 13

#: Counts the write transactions committed so far.
Counter = Callable[[], int]


@pytest.fixture(params=["sqlite", "postgresql"])
def counted_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[JobStore, Counter]]:
    if request.param == "sqlite":
        store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
        begun = [0]

        def trace(statement: str) -> None:
            if statement.startswith("BEGIN"):
                begun[0] += 1

        store._db.set_trace_callback(trace)
        yield store, lambda: begun[0]
        store.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    pg_store = PostgresJobStore(url)

    def next_xid() -> int:
        # The next transaction id of the whole cluster; asking takes none.
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
        assert row is not None
        return int(row[0])

    yield pg_store, next_xid
    pg_store.close()


def test_an_export_costs_about_one_write_transaction_per_chunk(
    counted_store: tuple[JobStore, Counter], tmp_path: Path
) -> None:
    store, committed = counted_store
    source = generate(tmp_path / "sources" / "events.parquet", CHUNKS * ROWS_PER_CHUNK)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [tmp_path / "out"],
            "allowed_source_roots": [source.parent],
            "max_concurrent_exports": 1,
            "replica_id": "here",
            # Long: a heartbeat (every 5 s at most) is the only other lease write.
            "job_lease_seconds": 300,
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
        chunking=ChunkingSpec(max_rows=ROWS_PER_CHUNK),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-journal", spec=spec))
    context = ExecutionContext(
        settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
    )
    before = committed()
    runner = ExportRunner(context)
    runner.start()
    try:
        runner.submit(job.id)
        deadline = time.monotonic() + 120
        while not store.get(job.id).state.final:
            assert time.monotonic() < deadline, "the export did not end in time"
            time.sleep(0.05)
    finally:
        runner.shutdown(10)
    writes = committed() - before

    done = store.get(job.id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.progress.records == CHUNKS * ROWS_PER_CHUNK
    assert len(store.chunks(job.id)) == CHUNKS
    # Two per chunk before (a renewal before each commit, then the journal write).
    assert CHUNKS <= writes <= CHUNKS + FIXED, f"{writes} write transactions for {CHUNKS} chunks"
