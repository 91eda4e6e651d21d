"""GDPR subject packages through a real daemon: one request for subject 42 across three
named sources (a Parquet glob, a SQLite table, a PostgreSQL table) makes one committed
export whose files hold exactly subject 42's rows (JSON and CSV, read back after 7-Zip or
age opened them), with other people's e-mails, phones and names redacted and the
subject's own kept, and a README.html (sealed like the files) whose counts and [gdpr]
texts a parser finds. A package requested through the API without a template is sealed
by the gdpr template as the CLI's is; one naming another template takes that one's. Bad
requests are INVALID_ARGUMENT naming the field, and a one-line CLI error."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import html5lib
import polars as pl
import psycopg
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import decompress, manifest_path
from tests.servers.postgres import PostgresServer
from tests.unit.test_age_format import need

pytestmark = pytest.mark.integration

PASSWORD = "gdpr zip pass 7"
SUBJECT = 42
OTHER_EMAIL = "mallory@other.example"
OTHER_PHONE = "+44 20 7946 0958"
OWN_NAME = "Ana Garcia"
FIRST_BODY = (
    f"Please forward to {OTHER_EMAIL} or {OTHER_PHONE}. I told Maria Lopez and Dr. Smith. "
    f"Regards, {OWN_NAME}"
)
GDPR = {
    "controller": "Example Jobs Ltd, 1 High Street",
    "contact": "privacy@example.com",
    "purposes": "Matching <job seekers> & employers.",
    "retention": "Two years after your last visit.",
    "recipients": "Employers you applied to.",
}
DESCRIPTIONS = {
    "events": "What you did on the site",
    "applications": "Job applications you submitted",
    "messages": "Messages you sent",
}


class World:
    """Three sources with rows of subjects 41, 42 and 43, and a daemon naming them."""

    def __init__(self, root: Path, postgres: PostgresServer) -> None:
        self.root = root
        (root / "gdpr-password").write_text(PASSWORD + "\n")
        self.identity = root / "identity.txt"
        self.recipient = run_cli(None, "keygen", "-o", str(self.identity)).stdout.strip()
        sources = root / "daemon" / "sources"
        (sources / "events").mkdir(parents=True)
        self.events = pl.DataFrame(
            {
                "event_id": list(range(12)),
                "user_id": [41, 42, 43] * 4,
                "kind": ["login", "search", "apply", "logout"] * 3,
            }
        )
        self.events.slice(0, 6).write_parquet(sources / "events" / "2024-01.parquet")
        self.events.slice(6).write_parquet(sources / "events" / "2024-02.parquet")
        self.applications = [
            (1, 42, "me@subject.example", OWN_NAME, FIRST_BODY),
            (2, 41, "someone@else.example", "Maria Lopez", "Not yours"),
            (3, 42, "me@subject.example", OWN_NAME, "Second application, no one else named"),
            (4, 43, "third@else.example", "John Smith", "Also not yours"),
        ]
        with sqlite3.connect(sources / "jobs.db") as db:
            db.execute(
                "CREATE TABLE applications "
                "(app_id INTEGER PRIMARY KEY, user_id INT, email TEXT, full_name TEXT, body TEXT)"
            )
            db.executemany("INSERT INTO applications VALUES (?, ?, ?, ?, ?)", self.applications)
        database = postgres.new_database()
        self.messages = [(i, 40 + i % 4, "+1 555 0100", f"message {i}") for i in range(1, 9)]
        with psycopg.connect(database, autocommit=True) as con:
            con.execute(
                "CREATE TABLE messages (id int8 PRIMARY KEY, sender_id int8, phone text, body text)"
            )
            with con.cursor() as cursor:
                cursor.executemany("INSERT INTO messages VALUES (%s, %s, %s, %s)", self.messages)
        name = database.rsplit("/", 1)[1]
        self.daemon = Daemon(
            root=root / "daemon",
            settings={
                "secrets": {"gdpr": f"file:{root / 'gdpr-password'}"},
                "gdpr": GDPR,
                # Sets nothing: a package naming it is stored unencrypted.
                "templates": {"unsealed": {"description": "Packages left unencrypted"}},
                "source_profiles": {
                    "pg": {
                        "kind": "postgresql",
                        "hosts": [f"127.0.0.1:{postgres.port}"],
                        "user": postgres.user,
                    }
                },
                "sources": {
                    "events": {
                        "uri": str(sources / "events" / "*.parquet"),
                        "subject_column": "user_id",
                        "description": DESCRIPTIONS["events"],
                    },
                    "applications": {
                        "uri": f"sqlite://{sources / 'jobs.db'}",
                        "table": "applications",
                        "subject_column": "user_id",
                        "description": DESCRIPTIONS["applications"],
                    },
                    "messages": {
                        "uri": f"postgresql://127.0.0.1:{postgres.port}/{name}",
                        "profile": "pg",
                        "table": "public.messages",
                        "subject_column": "sender_id",
                        "description": DESCRIPTIONS["messages"],
                    },
                    "catalog": {"uri": str(sources / "events" / "*.parquet")},
                },
            },
        )
        self.daemon.start()

    def package(self, *args: str) -> dict[str, Any]:
        """`sluice gdpr package ... --wait --json`: the finished export."""
        result = run_cli(
            self.daemon, "gdpr", "package", "--to", str(self.daemon.exports), *args,
            "--wait", "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + self.daemon.log_tail()
        finished: dict[str, Any] = json.loads(result.stdout)
        return finished


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("gdpr"), postgres_server)
    yield made
    made.daemon.stop(timeout=20)


def _open_zip(path: Path, into: Path) -> bytes:
    subprocess.run(
        [need("7z"), "x", "-y", f"-p{PASSWORD}", f"-o{into}", str(path)],
        capture_output=True,
        check=True,
    )
    return (into / path.name.removesuffix(".zip")).read_bytes()


def _records(data: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "json":
        document = json.loads(data)
        assert document["metadata"]["format"] == "sluice-json-v1"
        return list(document["data"])
    return list(csv.DictReader(io.StringIO(data.decode())))


def _files(manifest: dict[str, Any], folder: Path, opener: Any) -> dict[tuple[str, str], list[Any]]:
    """(source, format) -> the records of its files, opened by `opener`."""
    found: dict[tuple[str, str], list[Any]] = {}
    for part in manifest["subject_package"]["parts"]:
        rows: list[Any] = []
        for index in part["chunks"]:
            chunk = manifest["chunks"][index]
            assert chunk["path"].startswith(f"part-{index:06d}.{part['source']}.{part['format']}")
            stored = (folder / chunk["path"]).read_bytes()
            assert hashlib.sha256(stored).hexdigest() == chunk["sha256"]
            rows += _records(opener(folder / chunk["path"]), part["format"])
        assert len(rows) == part["records"]
        found[(part["source"], part["format"])] = rows
    return found


def test_a_package_holds_exactly_the_subjects_rows_of_every_source(
    world: World, tmp_path: Path
) -> None:
    finished = world.package("--subject", str(SUBJECT))
    manifest_file = manifest_path(finished["manifest_uri"])
    manifest = json.loads(manifest_file.read_text())
    # The manifest is in the clear beside the sealed files: a keyed digest, not the id.
    assert "subject_id" not in manifest["subject_package"]
    assert manifest["subject_package"]["subject_digest"].startswith("hmac-sha256:")
    # One committed export: every file (and the README) listed, sized and hashed.
    verified = run_cli(world.daemon, "export", "verify", finished["id"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ": ok, 7 chunks" in verified.stdout  # 3 sources x (JSON, CSV), and README.html
    assert manifest["output"]["encryption"]["scheme"] == "zip-aes-256"
    assert manifest["source"]["template"] == "gdpr"
    # Every named source with a subject_column, by name; JSON then CSV each.
    assert [(p["source"], p["format"]) for p in manifest["subject_package"]["parts"]] == [
        (source, fmt)
        for source in ("applications", "events", "messages")
        for fmt in ("json", "csv")
    ]
    files = _files(manifest, manifest_file.parent, lambda path: _open_zip(path, tmp_path))

    expected_events = world.events.filter(pl.col("user_id") == SUBJECT).to_dicts()
    assert files[("events", "json")] == expected_events
    assert files[("events", "csv")] == [
        {k: str(v) for k, v in row.items()} for row in expected_events
    ]
    assert [r["app_id"] for r in files[("applications", "json")]] == [1, 3]
    assert [r["id"] for r in files[("messages", "json")]] == [
        i for i, sender, _, _ in world.messages if sender == SUBJECT
    ]
    assert [r["sender_id"] for r in files[("messages", "csv")]] == ["42", "42"]
    # No row of anyone else anywhere.
    for (source, _), rows in files.items():
        column = "sender_id" if source == "messages" else "user_id"
        assert {str(r[column]) for r in rows} == {"42"}, source


def test_other_peoples_email_phone_and_name_are_redacted_the_subjects_own_kept(
    world: World, tmp_path: Path
) -> None:
    manifest_file = manifest_path(world.package("--subject", "42")["manifest_uri"])
    manifest = json.loads(manifest_file.read_text())
    files = _files(manifest, manifest_file.parent, lambda path: _open_zip(path, tmp_path))
    for fmt in ("json", "csv"):
        first, second = files[("applications", fmt)]
        assert first["email"] == "me@subject.example"  # the subject's own column
        assert OTHER_EMAIL not in first["body"] and "[EMAIL]" in first["body"]
        assert OTHER_PHONE not in first["body"] and "[PHONE]" in first["body"]
        # Other people's names go; the subject's own (its full_name column) stays.
        assert first["full_name"] == OWN_NAME
        assert first["body"].endswith(
            "I told [PERSON_NAME] and [PERSON_NAME]. Regards, Ana Garcia"
        ), first["body"]
        assert second["body"] == "Second application, no one else named"
        # In CSV behind an apostrophe: a spreadsheet would read "+1 555 0100" as a formula.
        phone = "+1 555 0100" if fmt == "json" else "'+1 555 0100"
        assert {r["phone"] for r in files[("messages", fmt)]} == {phone}


def test_the_readme_shows_categories_counts_and_the_gdpr_texts(
    world: World, tmp_path: Path
) -> None:
    manifest_file = manifest_path(world.package("--subject", "42")["manifest_uri"])
    manifest = json.loads(manifest_file.read_text())
    [document] = manifest["documents"]
    # It names the subject: sealed like the files (its own AES zip, the same password).
    assert (document["path"], document["media_type"]) == ("README.html.zip", "application/zip")
    assert not (manifest_file.parent / "README.html").exists()
    stored = (manifest_file.parent / "README.html.zip").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == document["sha256"]
    assert b"<html" not in stored
    body = _open_zip(manifest_file.parent / "README.html.zip", tmp_path)
    tree = html5lib.parse(body, namespaceHTMLElements=False)
    rows = {
        cells[0]: cells
        for row in tree.iter("tr")
        if (cells := ["".join(td.itertext()) for td in row.findall("td")])
    }
    records = {p["source"]: p["records"] for p in manifest["subject_package"]["parts"]}
    assert records == {"applications": 2, "events": 4, "messages": 2}
    for source, description in DESCRIPTIONS.items():
        assert rows[source][1] == description
        assert int(rows[source][2]) == records[source]
    text = "".join(tree.find("body").itertext())  # type: ignore[union-attr]
    for value in GDPR.values():
        assert value in text  # escaped in the page, read back as written
    assert b"<job seekers>" not in body
    for element in tree.iter():
        for attribute in ("src", "href"):
            assert "//" not in element.get(attribute, ""), element.tag


def _api_package(world: World, template: str) -> tuple[dict[str, Any], Path]:
    """A package of subject 42's events created over gRPC (not the CLI, which names the
    gdpr template itself): its manifest and folder."""
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(world.daemon.exports), dataset="gdpr-api"),
        subject=pb.SubjectPackage(subject_id=str(SUBJECT), sources=["events"]),
        template=template,
    )
    with ExportClient(world.daemon.address) as client:
        finished = client.wait(client.create(spec).id, timeout=120)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error.message
    manifest_file = manifest_path(finished.manifest_uri)
    return json.loads(manifest_file.read_text()), manifest_file.parent


def test_a_package_requested_without_a_template_is_sealed_by_the_gdpr_template(
    world: World, tmp_path: Path
) -> None:
    """The CLI names the gdpr template by default; the server did not, so the same request
    through the API stored the subject's rows and README.html in the clear."""
    manifest, folder = _api_package(world, "")
    stored = sorted(p.name for p in folder.iterdir() if p.name.startswith("part-"))
    assert stored and all(name.endswith(".zip") for name in stored), stored
    assert manifest["output"]["encryption"]["scheme"] == "zip-aes-256"
    assert "subject_id" not in manifest["subject_package"]
    assert manifest["source"]["template"] == "gdpr"  # as the stored request names it
    [document] = manifest["documents"]
    assert document["path"] == "README.html.zip"
    assert not (folder / "README.html").exists()
    files = _files(manifest, folder, lambda path: _open_zip(path, tmp_path))
    expected = world.events.filter(pl.col("user_id") == SUBJECT).to_dicts()
    assert files[("events", "json")] == expected


def test_a_package_naming_another_template_takes_that_one(world: World) -> None:
    manifest, folder = _api_package(world, "unsealed")
    assert manifest["source"]["template"] == "unsealed"
    assert manifest["output"]["encryption"]["scheme"] == "none"
    assert manifest["subject_package"]["subject_id"] == str(SUBJECT)
    assert (folder / "README.html").exists()


def test_an_age_encrypted_package_opens_with_the_age_cli(world: World) -> None:
    age = need("age")
    finished = world.package(
        "--subject", "42", "--sources", "events", "--encrypt-to", world.recipient,
        "--compression", "none",
    )  # fmt: skip
    manifest_file = manifest_path(finished["manifest_uri"])
    manifest = json.loads(manifest_file.read_text())
    assert manifest["output"]["encryption"]["scheme"] == "age"
    assert "subject_id" not in manifest["subject_package"]

    def decrypt(path: Path) -> bytes:
        return subprocess.run(
            [age, "-d", "-i", str(world.identity), str(path)], capture_output=True, check=True
        ).stdout

    files = _files(manifest, manifest_file.parent, decrypt)
    assert sorted(files) == [("events", "csv"), ("events", "json")]
    assert files[("events", "json")] == world.events.filter(pl.col("user_id") == 42).to_dicts()
    [document] = manifest["documents"]
    assert document["path"] == "README.html.age"
    assert not (manifest_file.parent / "README.html").exists()
    sealed = manifest_file.parent / "README.html.age"
    assert hashlib.sha256(sealed.read_bytes()).hexdigest() == document["sha256"]
    assert decrypt(sealed).startswith(b"<!DOCTYPE html>")


def test_an_encrypted_packages_labels_are_sealed_in_its_manifest(world: World) -> None:
    """The manifest lies in the clear beside the sealed files: labels (a case number
    naming the person) are sealed for the daemon, as an encrypted export's."""
    label = "dsar-for-ann.subject@example.com"
    spec = ExportClient.build_spec(
        to=str(world.daemon.exports), dataset="sealed-labels", encrypt_to=[world.recipient],
        compression="none", labels={"case": label},
    )  # fmt: skip
    spec.ClearField("source")
    spec.subject.subject_id = "42"
    spec.subject.sources.append("events")
    with ExportClient(world.daemon.address) as client:
        finished = client.wait(client.create(spec).id, timeout=180)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
        assert dict(client.get(finished.id).spec.labels) == {"case": label}
    stored = manifest_path(finished.manifest_uri).read_bytes()
    assert label.encode() not in stored
    manifest = json.loads(stored)
    assert manifest["labels"] == {} and manifest["sealed_labels"]
    verified = run_cli(world.daemon, "export", "verify", finished.id)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--subject", "42", "--sources", "nowhere"), "spec.subject.sources[0]"),
        (("--subject", "42", "--sources", "events,catalog"), "spec.subject.sources[1]"),
        (("--subject", ""), "spec.subject.subject_id"),
        (("--subject", "not-a-number", "--sources", "events"), "spec.subject.subject_id"),
    ],
)
def test_bad_packages_are_invalid_argument_naming_the_field(
    world: World, args: tuple[str, ...], field: str
) -> None:
    result = run_cli(world.daemon, "gdpr", "package", "--to", str(world.daemon.exports), *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "INVALID_ARGUMENT" in lines[0] or "invalid" in lines[0].lower(), lines[0]
    assert field in lines[0]


def test_a_server_without_a_gdpr_table_refuses_packages(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory(
        "plain", sources={"events": {"uri": "x.parquet", "subject_column": "user_id"}}
    )
    daemon.start()
    result = run_cli(daemon, "gdpr", "package", "--subject", "1", "--to", str(daemon.exports))
    assert result.returncode != 0
    assert "[gdpr]" in result.stderr and len(result.stderr.strip().splitlines()) == 1


RESUME_ROWS = 30_000
RESUME_CHUNK_ROWS = 1_000


@pytest.mark.slow
def test_a_package_killed_mid_way_resumes_in_its_part_exactly_once(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL once the CSV part has begun: the restarted daemon continues the CSV part
    after its last journalled chunk; every file holds each record once."""
    daemon: Daemon = daemon_factory("resume", batch_rows=500, pipeline_queue_depth=2)
    daemon.sources.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {
            "id": list(range(RESUME_ROWS)),
            "user_id": [42] * RESUME_ROWS,
            "note": ["x" * 40] * RESUME_ROWS,
        }
    )
    frame.write_parquet(daemon.sources / "big.parquet")
    daemon.settings.update(
        gdpr=GDPR,
        sources={"big": {"uri": str(daemon.sources / "big.parquet"), "subject_column": "user_id"}},
        templates={"unsealed": {"description": "Packages left unencrypted"}},
    )
    daemon.start()
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        output=pb.Output(compression="zstd", level=15),
        chunking=pb.Chunking(max_rows=RESUME_CHUNK_ROWS),
        template="unsealed",  # read back without a password
    )
    spec.subject.subject_id = "42"
    per_part = RESUME_ROWS // RESUME_CHUNK_ROWS
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= per_part + 1:
                break
            assert not event.HasField("finished"), "finished before the kill"
    daemon.kill()
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert "resumes after chunk" in daemon.log_tail(400)
    manifest_file = manifest_path(finished.manifest_uri)
    manifest = json.loads(manifest_file.read_text())
    assert [c["index"] for c in manifest["chunks"]] == list(range(2 * per_part))
    files = _files(
        manifest, manifest_file.parent, lambda path: decompress(path.read_bytes(), "zstd", "")
    )
    assert [r["id"] for r in files[("big", "json")]] == list(range(RESUME_ROWS))
    assert [int(r["id"]) for r in files[("big", "csv")]] == list(range(RESUME_ROWS))
