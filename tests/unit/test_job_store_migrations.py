"""Versioned schema migrations of both job stores: from an empty store, from every
earlier version (data kept), a store newer than this binary refused untouched, replicas
starting together migrating once, and `sluice migrate --check` exit codes."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.jobs import SQLiteJobStore, sqlite_schema
from sluice.server.jobs import sqlite as sqlite_store
from sluice.server.jobs.model import JobState
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.postgres_schema import MIGRATIONS_TABLE, SCHEMA_VERSION, migrate
from tests.daemon import run_cli
from tests.servers.postgres import PostgresServer
from tests.unit.test_job_store_contract import make_chunk, new_job

# -- SQLite ----------------------------------------------------------------------------


_OLD_TIME = "2025-01-01T00:00:00.000000+00:00"
#: The migration steps that made request ids per creator (SQLite, PostgreSQL).
_SQLITE_PER_CREATOR_REQUEST_IDS = 14
_POSTGRES_PER_CREATOR_REQUEST_IDS = 12


def _sqlite_at(path: Path, version: int) -> None:
    """A store as an older Sluice left it: the first `version` steps, one job in it."""
    db = sqlite3.connect(path, isolation_level=None)
    for statements in sqlite_schema.MIGRATIONS[:version]:
        for statement in statements:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    # From the step that made request ids per creator on, the column holds the creator's.
    request_id = "\x1freq-old" if version >= _SQLITE_PER_CREATOR_REQUEST_IDS else "req-old"
    db.execute(
        "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json, created_at,"
        " updated_at) VALUES ('old', ?, 'fp', 'succeeded', ?, ?, ?)",
        (request_id, new_job("old").spec.to_json(), _OLD_TIME, _OLD_TIME),
    )
    db.close()


@pytest.mark.parametrize("version", range(1, sqlite_schema.SCHEMA_VERSION))
def test_sqlite_migrates_from_every_earlier_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "jobs.sqlite3"
    _sqlite_at(path, version)
    assert sqlite_store.sqlite_schema_status(path).behind
    store = SQLiteJobStore(path)
    try:
        assert store.get("old").request_id == "req-old"
        if version < _SQLITE_PER_CREATOR_REQUEST_IDS:
            # Request ids became per creator: the old one is its creator's ("").
            assert store.find_by_request_id("req-old", "") == store.get("old")
            assert store.find_by_request_id("req-old", "alice") is None
        store.create(new_job("new"))
        store.record_chunk("new", make_chunk(0), store.get("new").progress)
        assert [c.index for c in store.chunks("new")] == [0]
    finally:
        store.close()
    status = sqlite_store.sqlite_schema_status(path)
    assert (status.found, status.behind, status.newer) == (
        sqlite_schema.SCHEMA_VERSION,
        False,
        False,
    )


def test_sqlite_rows_from_before_revisions_start_at_zero(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    _sqlite_at(path, sqlite_schema.SCHEMA_VERSION - 1)
    store = SQLiteJobStore(path)
    try:
        assert store.get("old").revision == 0
        assert store.transition("old", {JobState.SUCCEEDED}, JobState.QUEUED).revision == 1
    finally:
        store.close()


def test_sqlite_newer_store_is_refused_and_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE from_the_future (x)")
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(FailedPrecondition) as caught:
        SQLiteJobStore(path)
    assert "schema version 99" in caught.value.message and "\n" not in caught.value.message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not path.with_name("jobs.sqlite3-wal").exists()


# -- PostgreSQL ------------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version").fetchall()
    return [row[0] for row in rows]


def test_postgres_migrates_an_empty_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    PostgresJobStore(url).close()
    PostgresJobStore(url).close()  # a second open migrates nothing
    assert _versions(url) == list(range(1, SCHEMA_VERSION + 1))
    assert {"jobs", "job_labels", "chunks", "uploads", MIGRATIONS_TABLE} <= _tables(url)


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_postgres_migrates_from_every_earlier_version(
    postgres_server: PostgresServer, version: int
) -> None:
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "test", upto=version)  # type: ignore[arg-type]
    store = PostgresJobStore(url)
    try:
        store.create(new_job("j1", "req-1"))
        assert store.get("j1").request_id == "req-1"
    finally:
        store.close()
    assert _versions(url) == list(range(1, SCHEMA_VERSION + 1))


def test_postgres_rows_from_before_revisions_start_at_zero(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "test", upto=SCHEMA_VERSION - 1)  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO jobs (id, request_fingerprint, state, spec_json, created_at,"
            " updated_at) VALUES ('old', 'fp', 'succeeded', %s, now(), now())",
            (new_job("old").spec.to_json(),),
        )
    store = PostgresJobStore(url)
    try:
        assert store.get("old").revision == 0
        assert store.transition("old", {JobState.SUCCEEDED}, JobState.QUEUED).revision == 1
    finally:
        store.close()


def test_postgres_request_ids_become_their_creators(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, "test", upto=_POSTGRES_PER_CREATOR_REQUEST_IDS - 1)  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO jobs (id, request_id, request_fingerprint, state, spec_json,"
            " created_at, updated_at, created_by)"
            " VALUES ('old', 'req-old', 'fp', 'succeeded', %s, now(), now(), 'alice')",
            (new_job("old").spec.to_json(),),
        )
    store = PostgresJobStore(url)
    try:
        old = store.get("old")
        assert (old.request_id, old.revision) == ("req-old", 0)
        assert store.find_by_request_id("req-old", "alice") == old
        assert store.find_by_request_id("req-old", "bob") is None
    finally:
        store.close()


def test_postgres_replicas_starting_together_migrate_once(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    barrier = threading.Barrier(4)
    stores: list[PostgresJobStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            stores.append(PostgresJobStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert _versions(url) == list(range(1, SCHEMA_VERSION + 1))


def test_postgres_newer_store_is_refused_and_not_written(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (99)")
    with pytest.raises(FailedPrecondition) as caught:
        PostgresJobStore(url)
    message = caught.value.message
    assert "schema version 99" in message and "upgrade Sluice" in message
    assert "\n" not in message
    assert _tables(url) == {MIGRATIONS_TABLE}
    assert _versions(url) == [99]


# -- sluice migrate [--check] ----------------------------------------------------------


def test_migrate_check_on_sqlite(tmp_path: Path) -> None:
    state = tmp_path / "state"
    behind = run_cli(None, "migrate", "--check", "--state-dir", str(state))
    assert behind.returncode == 1, behind.stderr
    assert "schema version 0" in behind.stdout
    assert not (state / "jobs.sqlite3").exists()  # --check writes nothing

    done = run_cli(None, "migrate", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    current = run_cli(None, "migrate", "--check", "--state-dir", str(state))
    assert current.returncode == 0
    assert f"schema version {sqlite_schema.SCHEMA_VERSION} (current)" in current.stdout

    db = sqlite3.connect(state / "jobs.sqlite3")
    db.execute("PRAGMA user_version = 99")
    db.close()
    newer = run_cli(None, "migrate", "--check", "--state-dir", str(state))
    assert newer.returncode == 1
    assert "newer than this Sluice" in newer.stdout


def test_migrate_check_on_postgres(tmp_path: Path, postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    args = ("--state-dir", str(tmp_path / "state"), "--job-store", url)
    behind = run_cli(None, "migrate", "--check", *args)
    assert behind.returncode == 1, behind.stderr
    assert _tables(url) == set()

    assert run_cli(None, "migrate", *args).returncode == 0
    current = run_cli(None, "migrate", "--check", *args)
    assert current.returncode == 0, current.stderr
    assert "(current)" in current.stdout
    # The environment variable selects the store too.
    via_env = run_cli(
        None, "migrate", "--check", "--state-dir", str(tmp_path / "s"),
        env={"SLUICE_JOB_STORE": url},
    )  # fmt: skip
    assert via_env.returncode == 0 and "(current)" in via_env.stdout


def test_postgres_tls_settings_reach_libpq(postgres_server: PostgresServer) -> None:
    # The test server has no TLS: `require` must make libpq refuse, naming SSL, in one line.
    url = postgres_server.new_database()
    with pytest.raises(FailedPrecondition) as caught:
        PostgresJobStore(url, options={"sslmode": "require"})
    assert "SSL" in caught.value.message and "\n" not in caught.value.message


def test_the_readme_names_each_stores_current_schema_version() -> None:
    """Operators read the README to know which version a rollout moves a store to."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    flat = " ".join(readme.split())
    assert f"`PRAGMA user_version`, today {sqlite_schema.SCHEMA_VERSION};" in flat
    assert f"`{MIGRATIONS_TABLE}` table, today {SCHEMA_VERSION})" in flat
