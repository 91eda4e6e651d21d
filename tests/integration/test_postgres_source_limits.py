"""A PostgreSQL source keeps its limits whatever the request holds, through a real daemon
and a real PostgreSQL: the source profile's role, read-only mode and timeout are never
dropped (a NUL in the database name cut libpq's connection string), a named source never
shows its address, errors never quote a row's value, a statement error is not taken for
a lost connection, and `where` terms are pushed down only where the database's answer
is the pipeline's."""

# The PostgreSQL fixtures (pg, pg_daemon) are test_postgres_sources' own, imported.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from sluice.client import ExportClient
from sluice.client._errors import ExportFailedError, SluiceError
from sluice.server.jobs.recovery import recover_jobs
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, free_port
from tests.integration.helpers import load_manifest, read_export
from tests.integration.test_postgres_sources import (  # noqa: F401
    PASSWORD,
    PROFILE,
    _export,
    _profile,
    _rejected,
    _sql,
    _uri,
    pg,
    pg_daemon,
)
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_a_control_character_in_the_database_name_is_refused_naming_the_field(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """`…/DBNAME%00` was decoded after the NUL check: libpq read the connection string up
    to the NUL, dropping the profile's user, password, read-only option, statement
    timeout and TLS settings (the daemon's OS user connected, trusted on 127.0.0.1)."""
    _sql(pg, "CREATE TABLE events (id int PRIMARY KEY)")
    _, name = pg
    for escaped in ("%00", "%0a", "%09", "%7f"):
        code, message = _rejected(pg_daemon, _uri(pg) + escaped, table="events")
        assert code == "INVALID_ARGUMENT", message
        assert "spec.source.uri" in message and "control character" in message, message
        assert name not in message, message


def _named_daemon(daemon_factory, pg: tuple[PostgresServer, str], monkeypatch) -> Daemon:  # type: ignore[no-untyped-def]
    server, _ = pg
    _sql(
        pg,
        "CREATE TABLE secret_tbl (id int PRIMARY KEY, v int)",
        "INSERT INTO secret_tbl VALUES (1, 1), (2, 0)",
        "REVOKE ALL ON secret_tbl FROM reader",
        "CREATE TABLE open_tbl (id int PRIMARY KEY, v int)",
        "INSERT INTO open_tbl VALUES (1, 1), (2, 0)",
    )
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    monkeypatch.setenv("TEST_PG_WRONG_PASSWORD", "not-" + PASSWORD)
    closed = free_port()
    uri = _uri(pg)
    daemon: Daemon = daemon_factory(
        "pg-named-hidden",
        source_profiles={
            PROFILE: _profile(server.port),
            "wrong": {**_profile(server.port), "password_ref": "env:TEST_PG_WRONG_PASSWORD"},
            "closed": _profile(0, hosts=[f"127.0.0.1:{closed}"]),
        },
        sources={
            "denied": {"uri": uri, "profile": PROFILE, "table": "secret_tbl"},
            "badpw": {"uri": uri, "profile": "wrong", "table": "open_tbl"},
            "down": {
                "uri": f"postgresql://127.0.0.1:{closed}/x",
                "profile": "closed",
                "table": "t",
            },
            "divzero": {
                "uri": uri,
                "profile": PROFILE,
                "query": "SELECT id, 1 / v AS r FROM open_tbl",
            },
            "fine": {"uri": uri, "profile": PROFILE, "table": "open_tbl"},
        },
    )
    daemon.start()
    return daemon


def test_a_named_postgresql_source_never_shows_its_address(  # type: ignore[no-untyped-def]
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARCHITECTURE: named sources hide URIs from callers. A denied role, a wrong
    password, an unreachable server (planning) and a statement error (reading) named the
    source by its postgresql:// address; the manifest recorded it in clear."""
    server, name = pg
    daemon = _named_daemon(daemon_factory, pg, monkeypatch)
    address = f"127.0.0.1:{server.port}"
    expected = {
        "denied": "PERMISSION_DENIED",
        "badpw": "FAILED_PRECONDITION",
        "down": "UNAVAILABLE",
    }
    with ExportClient(daemon.address) as client:
        for source, code in expected.items():
            spec = ExportClient.build_spec(source_name=source, to=str(daemon.exports), dataset="n")
            with pytest.raises(SluiceError) as caught:
                client.create(spec)
            message = str(caught.value)
            assert caught.value.code == code, message
            assert f"named source '{source}'" in message, message
            for hidden in (address, name, "postgresql://", "127.0.0.1"):
                assert hidden not in message, (hidden, message)
        spec = ExportClient.build_spec(
            source_name="divzero", to=str(daemon.exports), dataset="n", order_by=["id"]
        )
        with pytest.raises(ExportFailedError) as caught:
            client.wait(client.create(spec).id, timeout=120)
        failed = caught.value.export
        spec = ExportClient.build_spec(source_name="fine", to=str(daemon.exports), dataset="n")
        fine = client.wait(client.create(spec).id, timeout=120)
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert "named source 'divzero'" in failed.error.message, failed.error
    assert "division by zero" in failed.error.message, failed.error
    assert address not in failed.error.message and name not in failed.error.message
    assert fine.state == pb.EXPORT_STATE_SUCCEEDED, fine.error
    source = load_manifest(fine.manifest_uri)["source"]
    assert source["name"] == "fine"
    assert address not in str(source) and name not in str(source), source
    assert read_export(fine.manifest_uri)["id"].to_list() == [1, 2]
    # The operator's log keeps where it is.
    assert address in Path(daemon.log_path).read_text()
    # A job store rebuilt from the manifests knows the export read the named source.
    store = SQLiteJobStore(":memory:")
    assert recover_jobs(store, (daemon.exports,)) == 1
    recovered = store.get(fine.id).spec.source
    assert (recovered.name, recovered.uri) == ("fine", "")


def _failed(daemon: Daemon, uri: str, **options: Any) -> pb.Export:
    """The final state of an export expected to fail while it runs."""
    with pytest.raises(ExportFailedError) as caught:
        _export(daemon, uri, **options)
    return caught.value.export


def test_an_error_never_quotes_a_rows_value(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """PostgreSQL's data errors quote the value (`invalid input syntax for type bigint:
    "jane.doe@example.com"`), which can be personal data; the SQLite and DuckDB readers
    name only the column and type. Neither the export's error nor the log quotes it."""
    value = "jane.doe@example.com"
    _sql(
        pg,
        "CREATE TABLE people (id int PRIMARY KEY, phone text)",
        "INSERT INTO people SELECT g, (1000 + g)::text FROM generate_series(1, 50) g",
        f"INSERT INTO people VALUES (51, '{value}')",
    )
    failed = _failed(
        pg_daemon, _uri(pg), query="SELECT id, phone::int8 AS phone FROM people", order_by=["id"]
    )
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert "invalid input syntax for type bigint" in failed.error.message, failed.error
    assert value not in failed.error.message, failed.error
    assert value not in Path(pg_daemon.log_path).read_text()


def test_a_statement_error_that_mentions_a_connection_is_not_a_lost_connection(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """The server's own ERROR report (here a value that does not cast, and happens to
    read "no connection") was taken for a lost connection by its words: retried three
    times, then UNAVAILABLE. It is a data error: one attempt, not transient."""
    _sql(
        pg,
        "CREATE TABLE notes (id int PRIMARY KEY, body text)",
        "INSERT INTO notes VALUES (1, '12'), (2, 'no connection')",
    )
    failed = _failed(
        pg_daemon, _uri(pg), query="SELECT id, body::int AS n FROM notes", order_by=["id"]
    )
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert failed.error.code != "UNAVAILABLE" and not failed.error.transient, failed.error
    assert "connection was lost" not in failed.error.message, failed.error
    assert "invalid input syntax for type integer" in failed.error.message, failed.error
    assert len(failed.attempts) <= 1, failed.attempts


def _rows(finished: pb.Export) -> list[dict[str, Any]]:
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    frame = read_export(finished.manifest_uri)
    return frame.to_dicts() if frame.height else []


def test_a_where_is_pushed_down_only_where_the_database_answers_as_the_pipeline(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """Pushing a term down must only read fewer rows. `<>` on char(n) (trailing spaces
    do not count) and on a case-insensitive collation left out rows the pipeline keeps;
    a `--` comment in `where` commented out the rest for the pipeline, not for the
    database, which was sent the commented-out term."""
    _sql(
        pg,
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        "CREATE TABLE codes (id int PRIMARY KEY, code char(5), name text COLLATE ci, tier int)",
        "INSERT INTO codes VALUES (1, 'ab', 'Alice', 1), (2, 'cd', 'alice', 1), "
        "(3, 'ab', 'bob', 2)",
    )
    uri = _uri(pg)
    for where in (
        "code <> 'ab'",
        "name <> 'alice'",
        "name = 'alice'",
        "tier = 1 -- AND name = 'bob'",
        "tier = 1 AND code <> 'cd' -- AND id = 3",
    ):
        pushed = _rows(_export(pg_daemon, uri, table="codes", where=where, format="parquet"))
        # An OR with a false term keeps the whole where in the pipeline alone.
        alone = _export(
            pg_daemon, uri, table="codes", where=f"({where}\n) OR id < 0", format="parquet"
        )
        assert pushed == _rows(alone), where
        assert pushed, where  # every one of them keeps a row


def test_a_principal_denied_a_source_profile_is_told_it_is_a_source_profile(  # type: ignore[no-untyped-def]
    daemon_factory, pg: tuple[PostgresServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A postgresql:// source names a source profile; the denial said "storage profile"."""
    server, _ = pg
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    token = "limits-token-1"
    daemon: Daemon = daemon_factory(
        "pg-principal",
        source_profiles={PROFILE: _profile(server.port)},
        auth={
            "principals": [
                {
                    "name": "ann",
                    "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                    "scopes": ["exports:create", "exports:read"],
                    "profiles": [],
                }
            ]
        },
    )
    daemon.start()
    spec = ExportClient.build_spec(
        source=_uri(pg), source_profile=PROFILE, table="t", to=str(daemon.exports), dataset="p"
    )
    with ExportClient(daemon.address, token=token) as client, pytest.raises(SluiceError) as caught:
        client.create(spec)
    assert caught.value.code == "PERMISSION_DENIED", caught.value
    assert f"may not use source profile '{PROFILE}'" in str(caught.value), caught.value


#: Expressions that look a value up as a name, the row whose value they take, and the
#: words the error starts with.
_LOOKUPS = (
    ("{v}::regclass::text", 1, "schema"),  # 3F000 schema "…" does not exist
    ("{v}::regclass::text", 2, "relation"),  # 42P01 relation "…" does not exist
    ("current_setting({v})", 1, "unrecognized configuration parameter"),  # 42704
    ("{v}::regtype::text", 2, "type"),  # 42704 type "…" does not exist
    ("{v}::regproc::text", 2, "function"),  # 42883 function "…" does not exist
)


def test_a_lookup_error_never_quotes_the_value_looked_up(
    pg_daemon: Daemon, pg: tuple[PostgresServer, str]
) -> None:
    """A query can look a row's value up as a name (`v::regclass`, `current_setting(v)`,
    `nextval(v)`): PostgreSQL's error quotes the name not found (`schema
    "alice@example" does not exist`), a row's value. Neither the reading driver's error
    (ADBC) nor the planning driver's (psycopg, for a name the query itself casts) quotes
    it, nor does the log."""
    rows = {1: "alice@example.com", 2: "alice_example_com"}
    _sql(
        pg,
        "CREATE TABLE lookups (id int PRIMARY KEY, v text)",
        "INSERT INTO lookups VALUES " + ", ".join(f"({i}, '{v}')" for i, v in rows.items()),
    )
    for expression, row, start in _LOOKUPS:
        failed = _failed(
            pg_daemon,
            _uri(pg),
            query=f"SELECT id, {expression.format(v='v')} AS r FROM lookups WHERE id = {row}",
            order_by=["id"],
        )
        message = failed.error.message
        assert failed.state == pb.EXPORT_STATE_FAILED, (expression, failed.error)
        assert f": {start}" in message, (expression, message)
        assert "alice" not in message, (expression, message)
    # The same names given in the query (other ones: the query is the request's): a cast
    # is looked up while the query is planned, by psycopg.
    given = {1: "bob@example.com", 2: "bob_example_com"}
    for expression, row, start in _LOOKUPS:
        if not expression.startswith("{v}::"):
            continue  # evaluated only when rows are read
        code, message = _rejected(
            pg_daemon,
            _uri(pg),
            query=f"SELECT id, {expression.format(v=repr(given[row]))} AS r FROM lookups",
            order_by=["id"],
        )
        assert f": {start}" in message, (expression, code, message)
        assert "bob" not in message, (expression, message)
    assert "alice" not in Path(pg_daemon.log_path).read_text()
