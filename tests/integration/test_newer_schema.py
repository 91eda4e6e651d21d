"""Replicas of different versions on one PostgreSQL job store: a daemon refuses to start
on a store whose recorded schema version is newer than its code's, and a daemon already
running when a newer Sluice migrates the store stops (exit 1), saying in one line both
versions and what to do, rather than go on running against a schema it does not know
(README "Upgrading to job-store schema 14 / 12": an old replica ran a tick twice)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from sluice.server.jobs.postgres_schema import MIGRATIONS_TABLE, SCHEMA_VERSION
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEWER = SCHEMA_VERSION + 1


def _record_newer_version(url: str) -> None:
    """What a newer Sluice's migration leaves: its version row."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (%s)".encode(), (NEWER,))


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("sluice: error:")]


def test_a_daemon_refuses_to_start_on_a_store_newer_than_its_code(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    first = daemon_factory("first", job_store=url, replica_id="replica-0")
    first.start()
    assert first.stop() == 0
    _record_newer_version(url)

    refused = daemon_factory("old", job_store=url, replica_id="replica-1").serve_refused()

    assert refused.returncode == 1, refused.stderr
    (line,) = _error_lines(refused.stderr)
    assert f"has schema version {NEWER}, newer than this Sluice understands" in line
    assert f"({SCHEMA_VERSION}); upgrade Sluice" in line


def test_a_running_daemon_stops_when_a_newer_sluice_migrates_its_store(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    old = daemon_factory("old", job_store=url, replica_id="replica-old")
    old.start()
    assert old.healthy()

    _record_newer_version(url)

    process = old.process
    assert process is not None
    until(lambda: process.poll() is not None, "the old replica stops", within=120)
    assert process.returncode == 1, old.log_tail()
    log = old.log_path.read_text()
    (line,) = _error_lines(log)
    assert line == (
        f"sluice: error: job store {url} now has schema version {NEWER}, newer"
        f" than this Sluice understands ({SCHEMA_VERSION}): a newer Sluice migrated it; this"
        " replica stops (its exports go back to the queue) and would refuse to start: run"
        " the newer version on every replica"
    ), log
