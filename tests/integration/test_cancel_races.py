"""A stop that arrives just as a statement is being sent leaves no statement running,
against a real PostgreSQL: reads run as the pipeline runs them, stopped at many moments
of their start (one or two connections), and real daemons whose exports (PostgreSQL,
SQLite and DuckDB sources) are cancelled at many moments of their start. Every source
statement here would run a minute or more before its first row, so one that survived
its cancel would still run when the test looks. SQLite and DuckDB reads in-process:
tests/unit/test_statement_cancel_races.py."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest

from sluice.client import ExportClient
from sluice.server.errors import Interrupted
from sluice.server.pipeline import prefetch
from sluice.server.pipeline.postgres_reading import read_frames
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.locations import PostgresAddress
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer
from tests.stopped_reads import (
    SLEEPING_RANGES,
    StopAtRegistration,
    TimedStop,
    no_read_threads_within,
    stopped_at_moments,
    stopped_read,
)
from tests.unit.test_statement_cancels import _slow_duckdb, _slow_sqlite
from tests.waiting import cancelled_within, until

pytestmark = pytest.mark.integration

PROFILE = "shop"
APPLICATION = "sluice-race"
#: Rows of a query that sleeps a minute before its first one.
SLEEPING_QUERY = "SELECT t.id, t.body FROM t CROSS JOIN pg_sleep(60) ORDER BY t.id"


def _sessions(server: PostgresServer) -> list[str]:
    """The statements of the server's sessions named APPLICATION."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT state || ': ' || left(query, 80) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (APPLICATION,),
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def source(postgres_server: PostgresServer) -> Iterator[tuple[PostgresServer, str]]:
    """A database with a table `t` of 100 rows, and its name; no session of
    APPLICATION is left on the server when the test ends."""
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE TABLE t (id int8 PRIMARY KEY, body text NOT NULL)")
        con.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g")
    yield postgres_server, url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (APPLICATION,),
        )


def _profile(server: PostgresServer) -> dict[str, object]:
    return {
        "kind": "postgresql",
        "hosts": [f"127.0.0.1:{server.port}"],
        "user": server.user,
        "application_name": APPLICATION,
    }


def _target(source: tuple[PostgresServer, str], connections: int) -> PostgresTarget:
    server, name = source
    profile = PostgresProfile(**_profile(server))  # type: ignore[arg-type]
    address = PostgresAddress("127.0.0.1", server.port, name)
    return PostgresTarget(address, PROFILE, profile, read_connections=connections)


def _frames(source: tuple[PostgresServer, str], connections: int):  # type: ignore[no-untyped-def]
    """The read's frames, given its cancels: one connection reading the sleeping query,
    or two reading sleeping key ranges."""
    target = _target(source, connections)
    if connections == 1:
        schema = pl.Schema({"id": pl.Int64(), "body": pl.String()})
        return lambda cancels: read_frames(target, SLEEPING_QUERY, [], schema, 1024, None, cancels)
    schema = pl.Schema({"id": pl.Int64()})
    return lambda cancels: read_frames(
        target, "SELECT 1", [], schema, 1024, SLEEPING_RANGES, cancels
    )


def _ended_on_the_stop(
    outcome: BaseException | None, left_after: float, server: PostgresServer
) -> None:
    """The read ended with Interrupted once stopped, not given up on after
    ABANDON_SECONDS; no thread of it is left, nor any session on the server (its
    statements were cancelled, its connections closed)."""
    assert isinstance(outcome, Interrupted), outcome
    assert left_after < prefetch.ABANDON_SECONDS, f"left {left_after:.1f}s after the stop"
    no_read_threads_within(2)
    # A closed connection's backend leaves pg_stat_activity a moment later.
    until(lambda: not _sessions(server), f"sessions left: {_sessions(server)}", within=5)


@pytest.mark.parametrize(
    ("connections", "registration"),
    [(1, 1), (2, 1), (2, 2)],
    ids=["one", "first-of-2", "second-of-2"],
)
def test_a_postgresql_read_stopped_as_a_statement_is_sent_ends_with_nothing_running(
    source: tuple[PostgresServer, str], connections: int, registration: int
) -> None:
    """The stop, and the pipeline's cancel of every statement, come after a connection
    registered its cancel but before it sent anything (that cancel cancels nothing on
    it): the statement it sends then is still cancelled on the server, and the read
    ends without a session left, whether that connection is the only one, the first of
    two, or the second of two (held until the first one's statement was cancelled)."""
    server, _ = source
    stop = TimedStop()
    outcome, left_after = stopped_read(
        _frames(source, connections), stop, StopAtRegistration(stop, registration)
    )
    assert stop.is_set(), "the read never registered that many cancels"
    _ended_on_the_stop(outcome, left_after, server)


@pytest.mark.parametrize("connections", [1, 2])
def test_postgresql_reads_stopped_at_many_moments_of_their_start_end_with_nothing_running(
    source: tuple[PostgresServer, str], connections: int
) -> None:
    """Twelve reads, each stopped at another moment from its start to well after its
    statements were sent (moments spread over twice the time this machine takes to
    register the last connection): each ends with Interrupted, with no thread and no
    session left."""
    server, _ = source
    registered = stopped_at_moments(
        _frames(source, connections),
        1.0,
        lambda outcome, left_after: _ended_on_the_stop(outcome, left_after, server),
    )
    assert len(registered) == connections, registered


#: Moments of a cancel after CreateExport returned (seconds): spread over three orders
#: of magnitude, so they fall into every phase of an export's start (queued, claimed,
#: planned, connecting, statement being sent, statement running) on a fast machine and
#: on a loaded one alike.
CANCEL_MOMENTS = (0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512)


def _sqlite_free(path: Path) -> bool:
    """Whether no reader holds the SQLite file (its read transaction ended): a writer
    gets the exclusive lock at once."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def _duckdb_free(path: Path) -> bool:
    """Whether no process has the DuckDB file open (the daemon's read-only connection
    holds a lock that a writer's open is refused by)."""
    try:
        duckdb.connect(str(path)).close()
        return True
    except duckdb.Error:
        return False


def _slow_file(daemon: Daemon, kind: str) -> tuple[Path, pb.ExportSpec]:
    """A SQLite or DuckDB file in the daemon's sources, and the spec of an export of a
    query on it that runs for minutes (counting, or before its first row)."""
    path = daemon.sources / f"slow.{kind}"
    query = _slow_sqlite(path) if kind == "sqlite" else _slow_duckdb(path)
    spec = ExportClient.build_spec(
        source=f"{kind}://{path}", query=query, order_by=["id"], to=str(daemon.exports),
        dataset="race",
    )  # fmt: skip
    return path, spec


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "counted"),
    [
        ("postgresql", True),
        ("sqlite", True),
        ("sqlite", False),
        ("duckdb", True),
        ("duckdb", False),
    ],
    ids=["postgresql", "sqlite-counted", "sqlite", "duckdb-counted", "duckdb"],
)
def test_exports_cancelled_at_many_moments_of_their_start_leave_no_statement_running(
    kind: str,
    counted: bool,
    source: tuple[PostgresServer, str],
    daemon_factory: Callable[..., Daemon],
) -> None:
    """A daemon's export of a source whose statement runs for minutes before its first
    row, cancelled at eleven moments from 0 to 0.5 s after it was created: each ends
    CANCELLED within seconds, and nothing of it still reads the source (no session on
    the PostgreSQL server; no reader holding the SQLite or DuckDB file). The daemon
    logged no statement it had to give up on, no failed cancel, no traceback.

    With `counted` (the default count_source_rows) a SQLite or DuckDB export first
    counts its rows, which runs the query in full: the cancels land on that statement
    (it used to run to its end, holding the cancel for minutes); without, on the read's.
    PostgreSQL's count is an EXPLAIN, so its cancels land on the read either way."""
    server, name = source
    daemon = daemon_factory(
        "race",
        batch_rows=1024,
        count_source_rows=counted,
        source_profiles={PROFILE: _profile(server)},
    )
    daemon.start()
    if kind == "postgresql":
        spec = ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{server.port}/{name}", source_profile=PROFILE,
            query=SLEEPING_QUERY, order_by=["id"], to=str(daemon.exports), dataset="race",
        )  # fmt: skip

        def released() -> bool:
            return not _sessions(server)
    else:
        path, spec = _slow_file(daemon, kind)

        def released() -> bool:
            return _sqlite_free(path) if kind == "sqlite" else _duckdb_free(path)

    with ExportClient(daemon.address) as client:
        for moment in CANCEL_MOMENTS:
            export_id = client.create(spec).id
            time.sleep(moment)  # the moment under test, not a wait for anything
            cancelled_within(client, export_id, limit=15)
            until(released, f"the export cancelled at {moment}s still reads", within=10)
    log = daemon.log_path.read_text()
    # "did not end": a reader given up on, its statement left running.
    for symptom in ("did not end", "could not cancel", "Traceback"):
        assert symptom not in log, symptom
    assert daemon.healthy()


def test_a_shutdown_stops_a_sqlite_count_at_once(daemon_factory: Callable[..., Daemon]) -> None:
    """A SQLite export counting its rows (a count that would run for minutes): the
    daemon stops within seconds of SIGTERM (it used to wait out its 10 s grace and
    leave the count running), the file is free, and the export continues at the next
    start."""
    daemon = daemon_factory("count", batch_rows=1024)
    daemon.start()
    path, spec = _slow_file(daemon, "sqlite")
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
    until(lambda: not _sqlite_free(path), "the export never read the file", within=30)
    stopping_at = time.monotonic()
    assert daemon.stop() == 0
    took = time.monotonic() - stopping_at
    assert took < 5, f"stopped {took:.1f}s after SIGTERM"
    assert _sqlite_free(path)
    log = daemon.log_path.read_text()
    for symptom in ("did not end", "did not checkpoint", "Traceback"):
        assert symptom not in log, symptom
    daemon.start()
    with ExportClient(daemon.address) as client:
        state = client.get(export_id).state
    assert state in (pb.EXPORT_STATE_QUEUED, pb.EXPORT_STATE_RUNNING), state


def test_a_cancel_stops_an_export_whose_planning_waits_behind_a_table_lock(
    source: tuple[PostgresServer, str], daemon_factory: Callable[..., Daemon]
) -> None:
    """The table is locked ACCESS EXCLUSIVE (as by an ALTER TABLE) when the export's run
    starts: its planning's catalog read waits for the lock. A cancel ends the export
    CANCELLED within seconds, the lock still held, and no session of it is left (the
    statement used to wait for the lock, holding the export RUNNING)."""
    server, name = source
    url = server.url(name)
    daemon = daemon_factory(
        "planning", batch_rows=1024, max_concurrent_exports=1,
        source_profiles={PROFILE: _profile(server)},
    )  # fmt: skip
    daemon.start()

    def spec(**source_options: object) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{server.port}/{name}", source_profile=PROFILE,
            to=str(daemon.exports), dataset="planning", **source_options,  # type: ignore[arg-type]
        )  # fmt: skip

    # One export at a time: the table export waits in the queue behind one sleeping on
    # no table until the table is locked (CreateExport plans it: the lock would hold it).
    sleeper = "SELECT g AS id FROM generate_series(1, 10) g CROSS JOIN pg_sleep(60) ORDER BY g"
    with ExportClient(daemon.address) as client:
        first = client.create(spec(query=sleeper, order_by=["id"])).id
        until(lambda: len(_sessions(server)) == 1, "the sleeping export never ran", within=30)
        export_id = client.create(spec(table="t")).id
        with psycopg.connect(url) as locker:
            locker.execute("SET lock_timeout = '10s'")  # fail, rather than hang, on a bug
            locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            client.cancel(first)
            until(
                lambda: any("LIMIT 0" in s for s in _sessions(server)),
                "the export's planning never waited for the lock",
                within=30,
            )
            cancelled_within(client, export_id)
            until(lambda: not _sessions(server), "the planning statement still runs", within=10)
            locker.rollback()
    log = daemon.log_path.read_text()
    for symptom in ("did not end", "could not cancel", "Traceback"):
        assert symptom not in log, symptom


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_cancel_stops_the_statement_of_a_keyed_exports_first_pass(
    kind: str, source: tuple[PostgresServer, str], daemon_factory: Callable[..., Daemon]
) -> None:
    """A keyed export reads its source twice: first for its key index. A cancel while
    that first pass waits on a statement that sleeps before its first row ends the
    export CANCELLED within seconds, nothing left reading the source (the first pass
    used to notice the stop only between batches, after the statement's end)."""
    server, name = source
    daemon = daemon_factory(
        "keyed", batch_rows=1024, count_source_rows=False,
        source_profiles={PROFILE: _profile(server)},
    )  # fmt: skip
    daemon.start()
    incremental = pb.Incremental(mode="full", key=["id"])
    if kind == "postgresql":
        spec = ExportClient.build_spec(
            source=f"postgresql://127.0.0.1:{server.port}/{name}", source_profile=PROFILE,
            query=SLEEPING_QUERY, order_by=["id"], to=str(daemon.exports), dataset="keyed",
            incremental=incremental,
        )  # fmt: skip

        def reading() -> bool:
            # The read's COPY, not the run's planning (a SELECT ... LIMIT 0 of the same
            # query, briefly active too, and cancellable on its own).
            return any(s.startswith("active: COPY") for s in _sessions(server))

        def released() -> bool:
            return not _sessions(server)
    else:
        path, spec = _slow_file(daemon, "sqlite")
        spec.incremental.CopyFrom(incremental)

        def reading() -> bool:
            # Held over half a second: the sleeping read, not the run's brief planning.
            if _sqlite_free(path):
                return False
            time.sleep(0.5)
            return not _sqlite_free(path)

        def released() -> bool:
            return _sqlite_free(path)

    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        until(reading, "the first pass never read the source", within=30)
        cancelled_within(client, export_id)
    until(released, "the first pass's statement still runs", within=10)
    log = daemon.log_path.read_text()
    for symptom in ("did not end", "could not cancel", "Traceback"):
        assert symptom not in log, symptom
