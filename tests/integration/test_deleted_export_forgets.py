"""A deleted export's personal values leave the job store, through a real daemon and the
CLI: an export with a `where` holding an e-mail, `--ids` and an incremental cursor, and a
GDPR package for an e-mail subject, are deleted with `sluice export delete`; then the
job store's files (jobs.sqlite3 and its WAL, read as bytes: SQLite keeps freed bytes and
old page versions unless told not to) hold none of those values, nor any chunk's largest
cursor, while `export get` still shows the job with its `where` masked. A retried create
with the export's request id gets the deleted export back, not a new one."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.daemon import Daemon, run_cli

pytestmark = pytest.mark.integration

#: Values only the requests hold (no row of the source has them).
WHERE_EMAIL = "zed.forgotten@example.org"
SUBJECT = "ana.forgotten@example.org"
#: A custom redaction rule's pattern: someone's value too (a built-in entity's is not).
RULE = r"zed\.rule@example\.org"
#: A label's value built per person.
LABEL = "lea.label@example.org"
#: Ids the export selects: rows of the source, so its chunks have cursors.
IDS = [f"cust-7f3a{n:04d}e2" for n in range(6)]


def _source(path: Path) -> None:
    start = datetime(2031, 7, 13, 4, 5, 6, 123457, tzinfo=UTC)
    ids = [*IDS, *(f"other-{n}" for n in range(6))]
    pl.DataFrame(
        {
            "id": ids,
            "email": [*(f"p{n}@example.com" for n in range(11)), SUBJECT],
            "amount": list(range(len(ids))),
            "updated_at": [start + timedelta(seconds=97 * n) for n in range(len(ids))],
        }
    ).write_parquet(path)


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    (tmp_path / "gdpr-password").write_text("forget me not\n")
    made = Daemon(
        root=tmp_path / "d",
        settings={
            "secrets": {"gdpr": f"file:{tmp_path / 'gdpr-password'}"},
            "gdpr": {
                "controller": "Example Ltd",
                "contact": "privacy@example.com",
                "purposes": "Testing.",
                "retention": "None.",
                "recipients": "None.",
            },
            "sources": {
                "people": {
                    "uri": str(tmp_path / "d" / "sources" / "people.parquet"),
                    "subject_column": "email",
                }
            },
        },
    )
    (made.sources).mkdir(parents=True)
    _source(made.sources / "people.parquet")
    made.start()
    yield made
    made.stop(timeout=20)


def _cli(daemon: Daemon, *args: str) -> dict[str, Any]:
    result = run_cli(daemon, *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr + daemon.log_tail()
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _store_bytes(daemon: Daemon) -> bytes:
    """Every byte of the job store's files: the database, its WAL and shared memory."""
    files = sorted(daemon.state_dir.glob("jobs.sqlite3*"))
    assert files, list(daemon.state_dir.iterdir())
    return b"".join(path.read_bytes() for path in files)


def _rows(daemon: Daemon, export_id: str) -> tuple[str, list[str]]:
    """The job's stored spec and its chunks' cursor_max, as the store's rows hold them."""
    db = sqlite3.connect(f"file:{daemon.state_dir / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        (spec,) = db.execute("SELECT spec_json FROM jobs WHERE id = ?", (export_id,)).fetchone()
        cursors = [
            row[0]
            for row in db.execute(
                "SELECT cursor_max_json FROM chunks WHERE job_id = ? ORDER BY idx", (export_id,)
            )
        ]
    finally:
        db.close()
    return spec, cursors


def test_a_deleted_export_forgets_its_where_ids_and_cursors(daemon: Daemon) -> None:
    where = f"email <> '{WHERE_EMAIL}' AND amount >= 0"
    made = _cli(
        daemon, "export", "create", "--source", str(daemon.sources / "people.parquet"),
        "--to", str(daemon.exports), "--dataset", "people", "--where", where,
        "--ids", ",".join(IDS), "--cursor", "updated_at", "--chunk-rows", "2",
        "--compression", "none", "--request-id", "forget-1", "--wait",
        "--redact-rule", f"pattern={RULE}:redact", "--redact-rule", "pattern=EMAIL:mask",
        "--label", f"subject={LABEL}",
    )  # fmt: skip
    assert (made["state"], made["records"]) == ("succeeded", 6), made
    spec, cursors = _rows(daemon, made["id"])
    cursor_values = [json.loads(c) for c in cursors]
    assert len(cursor_values) == 3 and all(isinstance(v, str) for v in cursor_values)
    # The pattern as the stored spec (JSON) holds it.
    secrets = [WHERE_EMAIL, json.dumps(RULE)[1:-1], LABEL, *IDS, *cursor_values]
    before = _store_bytes(daemon)
    assert [s for s in secrets if s.encode() not in before] == []  # the test can fail

    deleted = run_cli(daemon, "export", "delete", made["id"])
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr

    after = _store_bytes(daemon)
    assert [s for s in secrets if s.encode() in after] == []
    spec, cursors = _rows(daemon, made["id"])
    assert json.loads(spec)["query"]["where"] == "email <> ? AND amount >= ?"
    assert json.loads(spec)["query"]["ids"] == ["?"] * len(IDS)
    assert cursors == ["null"] * 3
    rules = json.loads(spec)["redaction"]["rules"]
    assert [r["pattern"] for r in rules] == ["?", "EMAIL"]
    # The source's folder (which may name a person) is cut to its root.
    assert str(daemon.sources) not in spec
    by_label = run_cli(daemon, "export", "list", "--label", f"subject={LABEL}", "--json")
    assert json.loads(by_label.stdout) == [], by_label.stderr

    shown = _cli(daemon, "export", "get", made["id"])
    assert shown["state"] == "deleted"
    assert shown["spec"]["query"]["where"] == "email <> ? AND amount >= ?"
    assert shown["spec"]["query"]["ids"] == ["?"] * len(IDS)
    assert (shown["records"], shown["manifest_uri"]) == (6, made["manifest_uri"])
    table = run_cli(daemon, "export", "get", made["id"]).stdout
    assert "email <> ? AND amount >= ?" in table
    assert f"{len(IDS)} (id)" in table

    # The same request again: the deleted export, not a new one exporting it all again.
    retried = _cli(
        daemon, "export", "create", "--source", str(daemon.sources / "people.parquet"),
        "--to", str(daemon.exports), "--dataset", "people", "--where", where,
        "--ids", ",".join(IDS), "--cursor", "updated_at", "--chunk-rows", "2",
        "--compression", "none", "--request-id", "forget-1",
    )  # fmt: skip
    assert (retried["id"], retried["state"]) == (made["id"], "deleted")
    # Another request with its id gets it too (its request is forgotten), and the CLI
    # says on stderr that nothing new was queued: its id alone on stdout would not.
    other = run_cli(
        daemon, "export", "create", "--source", str(daemon.sources / "people.parquet"),
        "--to", str(daemon.exports), "--dataset", "other", "--request-id", "forget-1",
    )  # fmt: skip
    assert other.returncode == 0, other.stdout + other.stderr
    assert other.stdout.strip() == made["id"]
    note = " ".join(other.stderr.split())
    assert f"used before, by export {made['id']}, which is deleted" in note, other.stderr
    assert "nothing new was queued" in note
    listed = run_cli(daemon, "export", "list", "--json")
    assert [e["id"] for e in json.loads(listed.stdout)] == [made["id"]]


def test_a_deleted_subject_package_forgets_the_subject(daemon: Daemon) -> None:
    made = _cli(
        daemon, "gdpr", "package", "--subject", SUBJECT, "--to", str(daemon.exports),
        "--sources", "people", "--wait",
    )  # fmt: skip
    assert made["state"] == "succeeded", made
    assert SUBJECT.encode() in _store_bytes(daemon)  # the test can fail

    deleted = run_cli(daemon, "export", "delete", made["id"])
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr

    assert [s for s in [SUBJECT] if s.encode() in _store_bytes(daemon)] == []
    shown = _cli(daemon, "export", "get", made["id"])
    assert shown["state"] == "deleted"
    assert shown["spec"]["subject"]["subjectId"] == "?"
    assert shown["spec"]["subject"]["sources"] == ["people"]
