"""What an encrypted, unredacted export stores in the clear beside its sealed chunks,
through a real daemon: manifest.json, report.html and report.pdf hold a `where`'s and a
database query's shape with every literal masked, never the person it selects; the
chunks still hold the selected rows, and a keyed chain of such exports still continues
and diffs."""

from __future__ import annotations

import html
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli

pytestmark = pytest.mark.integration

SENTINEL = "ann.sentinel@example.com"
WHERE = f"email = '{SENTINEL}' OR id > 2"
MASKED_WHERE = "email = ? OR id > ?"
PASSPHRASE = "a long passphrase for people"


class TomlTable(dict[str, str]):
    """Renders as a TOML inline table where tests.daemon writes settings with str()."""

    def __str__(self) -> str:
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in self.items()) + " }"


def _daemon(daemon_factory: Any, tmp_path: Path) -> Daemon:
    secret = tmp_path / "pp"
    secret.write_text(PASSPHRASE + "\n")
    daemon: Daemon = daemon_factory(
        "main",
        batch_rows=2048,
        age_scrypt_work_factor=10,
        secrets=TomlTable(pp=f"file:{secret}"),
    )
    daemon.start()
    return daemon


def _people(daemon: Daemon, emails: list[str]) -> Path:
    path = daemon.sources / "people.parquet"
    pl.DataFrame(
        {
            "id": list(range(1, len(emails) + 1)),
            "email": emails,
            "updated_at": [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, len(emails) + 1)],
        }
    ).write_parquet(path)
    return path


def _identity(daemon: Daemon, tmp_path: Path) -> tuple[Path, str]:
    key_file = tmp_path / "identity.txt"
    made = run_cli(None, "keygen", "-o", str(key_file))
    assert made.returncode == 0, made.stderr
    return key_file, made.stdout.strip()


def _stored_text(folder: Path) -> dict[str, str]:
    """What a reader without any key reads: the manifest, and both reports as text."""
    pdf = subprocess.run(
        ["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, check=True, text=True
    ).stdout
    return {
        "manifest.json": (folder / "manifest.json").read_text(),
        "report.html": (folder / "report.html").read_text(),
        "report.pdf": pdf,
    }


def _folder(done: pb.Export) -> Path:
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    return Path(done.manifest_uri.removeprefix("file://")).parent


@pytest.mark.parametrize(
    "encryption",
    [
        pytest.param("recipient", id="age-recipient"),
        pytest.param({"passphrase_secret": "pp"}, id="age-passphrase"),
        pytest.param({"compression": "zip", "zip_password_secret": "pp"}, id="aes-zip"),
    ],
)
def test_an_encrypted_exports_where_is_masked_in_the_manifest_and_reports(
    daemon_factory: Any, tmp_path: Path, encryption: str | dict[str, str]
) -> None:
    daemon = _daemon(daemon_factory, tmp_path)
    source = _people(daemon, [SENTINEL, "u2@x.io", "u3@x.io"])
    key_file, recipient = _identity(daemon, tmp_path)
    options = {"encrypt_to": [recipient]} if encryption == "recipient" else encryption
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="people",
        where=WHERE,
        report=True,
        **options,  # type: ignore[arg-type]
    )
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=180)
    folder = _folder(done)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["output"]["encryption"]["scheme"] != "none"
    assert manifest["query"]["where"] == MASKED_WHERE
    for name, text in _stored_text(folder).items():
        assert SENTINEL not in text and "ann.sentinel" not in text, name
    # The reports still say what was selected, in its masked shape.
    assert MASKED_WHERE in _stored_text(folder)["report.pdf"]
    assert f"<td>{html.escape(MASKED_WHERE)}</td>" in (folder / "report.html").read_text()
    # The filter itself ran as sent: the sealed chunks hold the rows it selected.
    assert done.progress.records == 2
    if encryption == "recipient":
        read = run_cli(daemon, "export", "read", done.manifest_uri, "--identity", str(key_file))
        assert read.returncode == 0, read.stderr
        emails = pl.read_ndjson(io.BytesIO(read.stdout.encode()))["email"].to_list()
        assert emails == [SENTINEL, "u3@x.io"]


def test_an_encrypted_database_query_is_recorded_with_its_literals_masked(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = _daemon(daemon_factory, tmp_path)
    _, recipient = _identity(daemon, tmp_path)
    path = daemon.sources / "people.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people (id BIGINT PRIMARY KEY, email VARCHAR)")
        con.executemany("INSERT INTO people VALUES (?, ?)", [(1, SENTINEL), (2, "u2@x.io")])
    query = f"SELECT id, email FROM people WHERE email = '{SENTINEL}' -- u2@x.io"
    spec = ExportClient.build_spec(
        source=f"duckdb://{path}",
        query=query,
        order_by=["id"],
        to=str(daemon.exports),
        dataset="people",
        encrypt_to=[recipient],
        report=True,
    )
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=180)
    folder = _folder(done)
    assert done.progress.records == 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["query"] == "SELECT id, email FROM people WHERE email = ? "
    for name, text in _stored_text(folder).items():
        assert "ann.sentinel" not in text and "u2@x.io" not in text, name


def test_a_keyed_chain_of_encrypted_filtered_exports_continues_and_diffs(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """Neither an increment nor `export diff` reads the recorded SQL: masking it keeps
    the chain (parent, key index, changes), across a job store rebuilt from manifests,
    and the record-level diff working."""
    daemon = _daemon(daemon_factory, tmp_path)
    key_file, recipient = _identity(daemon, tmp_path)
    emails = [SENTINEL, "u2@x.io", "u3@x.io", "u4@x.io"]
    _people(daemon, emails)

    def export(mode: str) -> pb.Export:
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "people.parquet"),
            to=str(daemon.exports),
            dataset="people",
            where=WHERE,
            encrypt_to=[recipient],
            incremental=pb.Incremental(mode=mode, key=["id"]),
            report=True,
        )
        with ExportClient(daemon.address) as client:
            return client.wait(client.create(spec).id, timeout=180)

    full = export("full")
    # Storage is the source of truth: a lost job store rebuilt from the manifests knows
    # the masked `where` only, and the chain continues from it all the same.
    assert daemon.stop() == 0
    (daemon.state_dir / "jobs.sqlite3").write_bytes(b"")
    daemon.start(args=["--recover-job-store"])
    with ExportClient(daemon.address) as client:
        assert client.get(full.id).spec.query.where == MASKED_WHERE
    # id 3 changes its e-mail, id 4 leaves, id 5 arrives; the sentinel's row is unchanged.
    _people(daemon, [SENTINEL, "u2@x.io", "changed@x.io"])
    frame = pl.read_parquet(daemon.sources / "people.parquet")
    frame.vstack(
        pl.DataFrame(
            {"id": [5], "email": ["u5@x.io"], "updated_at": [datetime(2026, 1, 9, tzinfo=UTC)]}
        ),
        in_place=True,
    )
    frame.write_parquet(daemon.sources / "people.parquet")
    child = export("incremental")

    child_folder = _folder(child)
    manifest = json.loads((child_folder / "manifest.json").read_text())
    assert manifest["parent_export_id"] == full.id
    assert manifest["query"]["where"] == MASKED_WHERE
    assert manifest["incremental"]["changes"] == {
        "inserted": 1,
        "updated": 1,
        "deleted": 1,
        "unchanged": 1,
    }
    for folder in (_folder(full), child_folder):
        for name, text in _stored_text(folder).items():
            assert "ann.sentinel" not in text, (folder.name, name)

    diffed = run_cli(daemon, "export", "diff", full.id, child.id, "--json")
    assert diffed.returncode == 0, diffed.stderr
    lines = [json.loads(line) for line in diffed.stdout.splitlines()]
    summary = lines[-1]["summary"]
    assert (summary["added"], summary["removed"], summary["changed"], summary["unchanged"]) == (
        1,
        1,
        1,
        1,
    )
    # The increment's sealed records are the changed and the inserted rows.
    read = run_cli(daemon, "export", "read", child.manifest_uri, "--identity", str(key_file))
    assert read.returncode == 0, read.stderr
    emails_sent = sorted(pl.read_ndjson(io.BytesIO(read.stdout.encode()))["email"].to_list())
    assert emails_sent == ["changed@x.io", "u5@x.io"]
