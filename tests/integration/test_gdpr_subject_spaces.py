"""A GDPR package for an e-mail subject finds the rows whose subject column holds the
address with spaces around it (as a form stored it), in a file source (the pipeline's
match) and in SQLite and PostgreSQL (the pushed-down match) alike, through a real daemon
and the CLI; an id that is not e-mail-shaped still matches exactly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.daemon import Daemon, run_cli
from tests.integration.helpers import manifest_path
from tests.integration.test_gdpr_package_subject_rows import GDPR
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration
SUBJECT = "alice@example.com"
OWNERS = [
    SUBJECT,
    " alice@example.com",
    "ALICE@example.com  ",
    "bob@example.com",
    " 42 ",
    # ASCII whitespace (a tab, a carriage return) is taken off in every engine alike; a
    # no-break space is not (SQLite's and the pipeline's trims never took it off).
    "\talice@example.com\r",
    "\u00a0alice@example.com",
]


def _records(folder: Path, source: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"part-*.{source}.json")):
        records += json.loads(path.read_text())["data"]
    return records


def test_an_email_subject_finds_its_rows_with_spaces_around_the_value(
    daemon_factory,
    postgres_server: PostgresServer,  # type: ignore[no-untyped-def]
) -> None:
    rows = list(enumerate(OWNERS, start=1))
    daemon: Daemon = daemon_factory("subject-spaces")
    sources = daemon.sources
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "logs.jsonl").write_text(
        "".join(json.dumps({"id": i, "user": owner}) + "\n" for i, owner in rows)
    )
    with sqlite3.connect(sources / "app.db") as db:
        db.execute("CREATE TABLE applications (id INTEGER PRIMARY KEY, email TEXT)")
        db.executemany("INSERT INTO applications VALUES (?, ?)", rows)
    database = postgres_server.new_database()
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE TABLE messages (id int8 PRIMARY KEY, sender text)")
        with con.cursor() as cursor:
            cursor.executemany("INSERT INTO messages VALUES (%s, %s)", rows)
    daemon.settings.update(
        gdpr=GDPR,
        templates={"unsealed": {"description": "none"}},
        source_profiles={
            "pg": {
                "kind": "postgresql",
                "hosts": [f"127.0.0.1:{postgres_server.port}"],
                "user": postgres_server.user,
            }
        },
        sources={
            "logs": {"uri": str(sources / "logs.jsonl"), "subject_column": "user"},
            "applications": {
                "uri": f"sqlite://{sources / 'app.db'}",
                "table": "applications",
                "subject_column": "email",
            },
            "messages": {
                "uri": f"postgresql://127.0.0.1:{postgres_server.port}/"
                + database.rsplit("/", 1)[1],
                "profile": "pg",
                "table": "public.messages",
                "subject_column": "sender",
            },
        },
    )
    daemon.start(timeout=90)

    def package(subject: str) -> Path:
        result = run_cli(
            daemon, "gdpr", "package", "--subject", subject, "--to", str(daemon.exports),
            "--template", "unsealed", "--compression", "none", "--wait", "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + daemon.log_tail()
        return manifest_path(json.loads(result.stdout)["manifest_uri"]).parent

    folder = package(SUBJECT)
    for source in ("logs", "applications", "messages"):
        assert [r["id"] for r in _records(folder, source)] == [1, 2, 3, 6], source
    # Other ids match exactly, as before: " 42 " is not "42".
    folder = package("42")
    for source in ("logs", "applications", "messages"):
        assert _records(folder, source) == [], source
