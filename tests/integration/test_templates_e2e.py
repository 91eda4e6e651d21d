"""Export templates through a real daemon: the built-in backup, analysis and sharing, a
configured one, request fields overriding them, the manifest recording the name, and
backup refused when the server has no recipients."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.client import ExportClient, FailedPreconditionError, InvalidArgumentError
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, manifest_path, read_export
from tests.unit.test_age_format import need

pytestmark = pytest.mark.integration
SHARING_PASSWORD = "share pass 42"
EMAILS = ["ada@example.com", "bob@example.org", "ada@example.com", "eve@example.net"]


class World:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        (root / "sharing").write_text(SHARING_PASSWORD + "\n")
        (root / "hash.key").write_bytes(b"k" * 32)
        self.identity = root / "identity.txt"
        self.recipient = run_cli(None, "keygen", "-o", str(self.identity)).stdout.strip()
        sources = root / "daemon" / "sources"
        sources.mkdir(parents=True)
        self.frame = pl.DataFrame(
            {
                "id": [1, 2, 3, 4],
                "email": EMAILS,
                "note": [f"write to {e} or call +44 20 7946 0958" for e in EMAILS],
            }
        )
        self.frame.write_parquet(sources / "people.parquet")
        self.daemon = Daemon(
            root=root / "daemon",
            settings={
                "backup_recipients": [self.recipient],
                "secrets": {"sharing": f"file:{root / 'sharing'}"},
                "hash_keys": {"default": f"file:{root / 'hash.key'}"},
                "sources": {"people": {"uri": str(sources / "people.parquet")}},
                "templates": {
                    "nightly": {
                        "description": "Nightly for the warehouse",
                        "source_name": "people",
                        "format": "json",
                        "compression": "gzip",
                        "redaction_level": "moderate",
                        "labels": {"team": "data"},
                    }
                },
            },
        )
        self.daemon.start()

    def export(self, template: str, **options: Any) -> Path:
        with ExportClient(self.daemon.address) as client:
            if "source_name" not in options and template != "nightly":
                options["source_name"] = "people"
            spec = ExportClient.build_spec(
                to=str(self.daemon.exports), dataset=template, template=template, **options
            )
            finished = client.wait(client.create(spec).id, timeout=60)
        assert finished.manifest_uri, finished
        return manifest_path(finished.manifest_uri)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("templates"))
    yield made
    made.daemon.stop(timeout=20)


def test_template_list_shows_what_each_sets_and_no_recipient(world: World) -> None:
    result = run_cli(world.daemon, "template", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {t["name"]: t for t in json.loads(result.stdout)}
    assert list(listed) == ["backup", "analysis", "sharing", "gdpr", "nightly"]
    assert listed["backup"]["sets"]["encryption"] == "age to 1 recipient"
    assert listed["sharing"]["sets"]["encryption"] == "AES-256 zip, password from secret sharing"
    rules = listed["analysis"]["sets"]["redaction.rules"]
    assert rules.startswith("column=email:hash, column=*email*:hash")
    assert rules.endswith("pattern=EMAIL:hash, pattern=PHONE:hash")
    assert listed["nightly"]["sets"] == {
        "source.name": "people",
        "output.format": "json",
        "output.compression": "gzip",
        "redaction.level": "moderate",
        "labels.team": "data",
    }
    assert listed["backup"]["builtin"] is True and "builtin" not in listed["nightly"]
    text = run_cli(world.daemon, "template", "list")
    for output in (result.stdout, text.stdout):
        assert world.recipient not in output and SHARING_PASSWORD not in output


def test_backup_is_parquet_age_encrypted_to_the_backup_recipients(world: World) -> None:
    age = need("age")
    manifest_file = world.export("backup")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["source"]["template"] == "backup"
    assert (manifest["output"]["format"], manifest["output"]["compression"]) == ("parquet", "zstd")
    assert manifest["output"]["encryption"]["scheme"] == "age"
    assert len(manifest["output"]["encryption"]["recipients"]) == 1
    [chunk] = manifest["chunks"]
    plaintext = subprocess.run(
        [age, "-d", "-i", str(world.identity), str(manifest_file.parent / chunk["path"])],
        capture_output=True,
        check=True,
    ).stdout
    assert pl.read_parquet(io.BytesIO(plaintext)).equals(world.frame)


def test_analysis_pseudonymises_emails_consistently(world: World) -> None:
    manifest_file = world.export("analysis")
    exported = read_export(f"file://{manifest_file}")
    assert load_manifest(f"file://{manifest_file}")["redaction"]["level"] == "moderate"
    emails = exported["email"].to_list()
    assert not set(emails) & set(EMAILS)
    # The same person, the same pseudonym: joins on it still work.
    assert emails[0] == emails[2] and len(set(emails)) == 3
    assert all("@" not in note for note in exported["note"].to_list())


def test_sharing_is_a_strictly_redacted_csv_in_an_aes_zip(world: World, tmp_path: Path) -> None:
    seven = need("7z")
    manifest_file = world.export("sharing")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["output"]["encryption"]["scheme"] == "zip-aes-256"
    assert manifest["redaction"]["level"] == "strict"
    [chunk] = manifest["chunks"]
    assert chunk["path"].endswith(".csv.zip")
    subprocess.run(
        [
            seven,
            "x",
            "-y",
            f"-p{SHARING_PASSWORD}",
            f"-o{tmp_path}",
            str(manifest_file.parent / chunk["path"]),
        ],
        capture_output=True,
        check=True,
    )
    text = (tmp_path / chunk["path"].removesuffix(".zip")).read_text()
    assert text.startswith("id,email,note\n")
    assert not any(e in text for e in EMAILS)


def test_a_configured_template_with_request_overrides(world: World) -> None:
    manifest_file = world.export("nightly", format="jsonl", labels={"run": "7"})
    manifest = json.loads(manifest_file.read_text())
    # The request's format wins; the template's compression, source, redaction, labels stay.
    assert (manifest["output"]["format"], manifest["output"]["compression"]) == ("jsonl", "gzip")
    assert manifest["source"]["name"] == "people"
    assert manifest["source"]["template"] == "nightly"
    assert manifest["redaction"]["level"] == "moderate"
    assert manifest["labels"] == {"run": "7", "team": "data"}
    assert read_export(f"file://{manifest_file}")["id"].to_list() == [1, 2, 3, 4]


def test_a_request_redaction_replaces_the_templates(world: World) -> None:
    from sluice.v1 import export_pb2 as pb

    manifest_file = world.export("analysis", redaction=pb.Redaction(level="none"))
    assert read_export(f"file://{manifest_file}")["email"].to_list() == EMAILS


def test_unknown_template_is_invalid_and_backup_without_recipients_refused(
    world: World, tmp_path: Path
) -> None:
    with ExportClient(world.daemon.address) as client:
        spec = ExportClient.build_spec(
            source_name="people", to=str(world.daemon.exports), dataset="x", template="nope"
        )
        with pytest.raises(InvalidArgumentError) as refused:
            client.create(spec)
    assert [v.field for v in refused.value.violations] == ["spec.template"]
    bare = Daemon(root=tmp_path / "bare")
    bare.start()
    try:
        pl.DataFrame({"id": [1]}).write_parquet(bare.sources / "t.parquet")
        with ExportClient(bare.address) as client:
            spec = ExportClient.build_spec(
                source=str(bare.sources / "t.parquet"),
                to=str(bare.exports),
                dataset="x",
                template="backup",
            )
            with pytest.raises(FailedPreconditionError) as no_recipients:
                client.create(spec)
            assert "backup_recipients" in str(no_recipients.value)
            # With encryption of its own, the request may still use the template.
            spec.encryption.age_recipients.append(world.recipient)
            finished = client.wait(client.create(spec).id, timeout=60)
        assert load_manifest(finished.manifest_uri)["output"]["format"] == "parquet"
    finally:
        bare.stop(timeout=20)
