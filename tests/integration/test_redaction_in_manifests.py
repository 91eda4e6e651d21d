"""What a redacted export records beside its records, through a real daemon: no cursor
watermark of a column redaction rewrites, and no `where` or database query literal in
clear, in the manifest or the report."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

EMAILS = ["alice.sentinel@example.com", "u2@x.io", "u3@x.io"]


def _people(daemon: Daemon) -> Path:
    path = daemon.sources / "people.parquet"
    pl.DataFrame(
        {
            "id": [1, 2, 3],
            "email": EMAILS,
            "birth_date": [date(1970, 1, d) for d in (4, 5, 6)],
            "updated_at": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
        }
    ).write_parquet(path)
    return path


def _spec(daemon: Daemon, level: str, **options: object) -> pb.ExportSpec:
    rules = options.pop("rules", [])
    return ExportClient.build_spec(
        source=str(_people(daemon)),
        to=str(daemon.exports),
        dataset="people",
        redaction=pb.Redaction(level=level, rules=rules),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def _manifest(daemon: Daemon, export: pb.Export) -> Any:
    return json.loads((daemon.exports / "people" / export.id / "manifest.json").read_text())


def _stored(daemon: Daemon, export: pb.Export) -> str:
    folder = daemon.exports / "people" / export.id
    return (folder / "manifest.json").read_text() + (folder / "report.html").read_text()


@pytest.mark.parametrize(("level", "cursor"), [("moderate", "email"), ("strict", "birth_date")])
def test_a_cursor_that_redaction_rewrites_is_refused(
    daemon: Daemon, level: str, cursor: str
) -> None:
    with ExportClient(daemon.address) as client:
        for mode in ("full", "incremental"):
            incremental = pb.Incremental(mode=mode, cursor=cursor)
            with pytest.raises(InvalidArgumentError) as refused:
                client.create(_spec(daemon, level, incremental=incremental))
            assert refused.value.violations[0].field == "spec.incremental.cursor"
            assert repr(cursor) in str(refused.value)
            assert "sentinel" not in str(refused.value) and "1970" not in str(refused.value)


def test_a_cursor_redaction_keeps_still_records_its_watermark(daemon: Daemon) -> None:
    keep_email = [pb.RedactionRule(column="email", action="keep")]
    with ExportClient(daemon.address) as client:
        for cursor, rules in (("updated_at", []), ("email", keep_email)):
            spec = _spec(
                daemon,
                "moderate",
                rules=rules,
                incremental=pb.Incremental(cursor=cursor),
                report=True,
            )
            done = client.wait(client.create(spec).id, timeout=120)
            assert _manifest(daemon, done)["watermark"]["column"] == cursor


def test_where_literals_are_masked_in_the_manifest_and_report(daemon: Daemon) -> None:
    where = "email = 'alice.sentinel@example.com' OR id > 2"
    with ExportClient(daemon.address) as client:
        masked = client.wait(
            client.create(_spec(daemon, "moderate", where=where, report=True)).id, timeout=120
        )
        clear = client.wait(
            client.create(_spec(daemon, "none", where=where, report=True)).id, timeout=120
        )
    assert "alice.sentinel" not in _stored(daemon, masked)
    assert _manifest(daemon, masked)["query"]["where"] == "email = ? OR id > ?"
    # Without redaction the request is recorded as it was.
    assert _manifest(daemon, clear)["query"]["where"] == where


@pytest.mark.parametrize(
    ("where", "recorded"),
    [
        (
            "email = 'ëëëëëëëë' OR email = 'alice.sentinel@example.com'",
            "email = ? OR email = ?",
        ),
        (
            "email = CAST(0x616c6963652e73656e74696e656c406578616d706c652e636f6d AS VARCHAR)"
            " OR id > 2",
            "email = CAST(? AS VARCHAR) OR id > ?",
        ),
    ],
)
def test_non_ascii_text_and_hex_literals_do_not_unmask_a_where(
    daemon: Daemon, where: str, recorded: str
) -> None:
    with ExportClient(daemon.address) as client:
        done = client.wait(
            client.create(_spec(daemon, "moderate", where=where, report=True)).id, timeout=120
        )
    assert _manifest(daemon, done)["query"]["where"] == recorded
    stored = _stored(daemon, done)
    assert "alice.s" not in stored and "616c6963652e73656e" not in stored


def test_a_database_query_is_recorded_with_its_literals_masked(daemon: Daemon) -> None:
    path = daemon.sources / "people.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people (id BIGINT PRIMARY KEY, email VARCHAR)")
        con.executemany("INSERT INTO people VALUES (?, ?)", list(enumerate(EMAILS)))
    query = "SELECT id, email FROM people WHERE email <> 'alice.sentinel@example.com' -- u2@x.io"
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}",
        query=query,
        order_by=["id"],
        to=str(daemon.exports),
        dataset="people",
        redaction=pb.Redaction(level="moderate"),
        report=True,
    )
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=120)
    stored = _stored(daemon, done)
    assert "alice.sentinel" not in stored and "u2@x.io" not in stored
    assert (
        _manifest(daemon, done)["source"]["query"]
        == "SELECT id, email FROM people WHERE email <> ? "
    )


def test_a_sqlite_double_quoted_string_is_masked(daemon: Daemon) -> None:
    """SQLite reads `"…"` naming no column as a string; DuckDB's tokenizer, as a name."""
    path = daemon.sources / "people.sqlite"
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?)", list(enumerate(EMAILS)))
    con.commit()
    con.close()
    query = 'SELECT id, "email" FROM people WHERE email <> "alice.sentinel@example.com"'
    spec = ExportClient.build_spec(
        source=f"sqlite://{path}",
        query=query,
        order_by=["id"],
        to=str(daemon.exports),
        dataset="people",
        redaction=pb.Redaction(level="moderate"),
        report=True,
    )
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=120)
    assert done.progress.records == 2
    assert "alice.sentinel" not in _stored(daemon, done)
    assert (
        _manifest(daemon, done)["source"]["query"]
        == 'SELECT id, "email" FROM people WHERE email <> ?'
    )


@pytest.mark.parametrize(
    "redaction",
    [
        {"level": "moderate"},
        {"level": "none", "rules": [pb.RedactionRule(pattern="EMAIL", action="redact")]},
    ],
)
def test_a_where_is_masked_when_redaction_binds_no_exported_column(
    daemon: Daemon, redaction: dict[str, Any]
) -> None:
    """Masking follows the redaction requested, not the columns its rules fall on."""
    where = "email = 'alice.sentinel@example.com'"
    spec = _spec(daemon, columns=["id"], where=where, report=True, **redaction)
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=120)
    assert done.progress.records == 1
    assert "alice.sentinel" not in _stored(daemon, done)
    assert _manifest(daemon, done)["query"]["where"] == "email = ?"
