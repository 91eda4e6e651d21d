"""A deleted export's error messages are forgotten with its values, through a real daemon
(gRPC on 127.0.0.1, the CLI) keeping its jobs in SQLite and in a real PostgreSQL.

A PostgreSQL source's query, holding a value of the request, fails while rows stream
(`unrecognized configuration parameter "zed.person@..."`: the name looked up, like a
row's quoted value, is left out of every error): the export, its attempt and GetExport
carry the query and the error while the export lives. After `sluice export
delete` they keep only the error's code, `values_forgotten` says the spec's `?` are the
daemon's, and the job store's rows (and, for SQLite, its files' bytes) hold the value
nowhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl
import psycopg
import pytest

from sluice.client import ExportClient
from sluice.client._errors import SluiceError
from sluice.server.jobs.rows import FORGOTTEN_ERROR
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.test_postgres_sources import PASSWORD, PROFILE, _profile, pg  # noqa: F401
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

#: Only the request holds it: the query's literal, quoted back by the database's error.
VALUE = "zed.person@example.org"
QUERY = (
    "SELECT g AS id, CASE WHEN g > 2 THEN current_setting('zed.person@example.org') ELSE '1'"
    " END AS n FROM generate_series(1, 5) g"
)


def _daemon(
    daemon_factory: Callable[..., Daemon],
    server: PostgresServer,
    job_store: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Daemon:
    monkeypatch.setenv("TEST_PG_READER_PASSWORD", PASSWORD)
    settings: dict[str, Any] = {"source_profiles": {PROFILE: _profile(server.port)}}
    if job_store == "postgresql":
        settings["job_store"] = server.new_database()
    daemon = daemon_factory(f"forget-{job_store}", **settings)
    daemon.start()
    return daemon


def _stored_text(daemon: Daemon, job_store_url: str) -> str:
    """Every value the job store keeps, as text: its files' bytes (SQLite: database, WAL
    and shared memory) or every row of its tables (PostgreSQL)."""
    if not job_store_url:
        files = sorted(daemon.state_dir.glob("jobs.sqlite3*"))
        assert files
        return b"".join(path.read_bytes() for path in files).decode("latin-1")
    with psycopg.connect(job_store_url) as con:
        rows = [
            con.execute(f"SELECT CAST(t AS text) FROM {table} t".encode()).fetchall()
            for table in ("jobs", "attempts", "notifications", "chunks")
        ]
    return repr(rows)


@pytest.mark.parametrize("job_store", ["sqlite", "postgresql"])
def test_a_deleted_failed_export_forgets_what_its_errors_quote(
    daemon_factory: Callable[..., Daemon],
    pg: tuple[PostgresServer, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    job_store: str,
) -> None:
    server, name = pg
    daemon = _daemon(daemon_factory, server, job_store, monkeypatch)
    url = str(daemon.settings.get("job_store", ""))
    spec = ExportClient.build_spec(
        source=f"postgresql://127.0.0.1:{server.port}/{name}",
        source_profile=PROFILE,
        query=QUERY,
        order_by=["id"],
        to=str(daemon.exports),
        dataset="people",
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        with pytest.raises(SluiceError):
            client.wait(export_id, timeout=120)
        failed = client.get(export_id)
    assert failed.state == pb.EXPORT_STATE_FAILED
    # The database's message named the value looked up; source errors never quote it
    # (w31-small: lookup errors lose the name), so only the spec's query holds it, and
    # the error's own text is what delete forgets.
    assert failed.error.message and VALUE not in failed.error.message, failed.error
    assert [bool(a.error.message) for a in failed.attempts] == [True]
    assert not failed.values_forgotten
    assert VALUE in _stored_text(daemon, url)

    deleted = run_cli(daemon, "export", "delete", export_id)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr + daemon.log_tail()

    with ExportClient(daemon.address) as client:
        shown = client.get(export_id)
    assert shown.state == pb.EXPORT_STATE_DELETED
    assert shown.values_forgotten
    assert (shown.error.code, shown.error.message, shown.error.transient) == (
        failed.error.code,
        FORGOTTEN_ERROR,
        failed.error.transient,
    )
    assert [(a.outcome, a.error.code, a.error.message) for a in shown.attempts] == [
        (a.outcome, a.error.code, FORGOTTEN_ERROR) for a in failed.attempts
    ]
    assert VALUE not in shown.spec.source.query
    assert VALUE not in _stored_text(daemon, url)

    as_json = run_cli(daemon, "export", "get", export_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    got = json.loads(as_json.stdout)
    assert got["values_forgotten"] is True
    assert got["error"]["message"] == FORGOTTEN_ERROR
    plain = run_cli(daemon, "export", "get", export_id)
    assert plain.returncode == 0, plain.stderr
    assert "forgotten at delete" in plain.stdout and VALUE not in plain.stdout


def test_a_question_mark_the_caller_sent_is_no_forgotten_value(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # `?` in a live export's spec is the caller's: values_forgotten tells the two apart.
    daemon = daemon_factory("asked")
    daemon.start()
    pl.DataFrame({"id": [1, 2], "note": ["?", "x"]}).write_parquet(daemon.sources / "n.parquet")
    made = run_cli(
        daemon, "export", "create", "--source", str(daemon.sources / "n.parquet"),
        "--to", str(daemon.exports), "--dataset", "n", "--where", "note = '?'",
        "--wait", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    export = json.loads(made.stdout)
    got = json.loads(run_cli(daemon, "export", "get", export["id"], "--json").stdout)
    assert got["values_forgotten"] is False
    assert got["spec"]["query"]["where"] == "note = '?'"
    assert "forgotten" not in run_cli(daemon, "export", "get", export["id"]).stdout

    assert run_cli(daemon, "export", "delete", export["id"]).returncode == 0
    got = json.loads(run_cli(daemon, "export", "get", export["id"], "--json").stdout)
    assert (got["state"], got["values_forgotten"]) == ("deleted", True)
    assert got["spec"]["query"]["where"] == "note = ?"
