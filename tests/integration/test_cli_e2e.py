"""The real `sluice` command line against a real daemon: what scripts see on stdout, stderr
and in the exit status, checked against the manifest on disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sluice.client.demo_data import generate
from tests.daemon import REPO, Daemon, run_cli
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = pytest.mark.integration
ROWS = 6_000


def sluice(daemon: Daemon, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `sluice --server ADDR ARGS...` as a user's shell would, without SLUICE_* noise."""
    return run_cli(daemon, *args, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sluice: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def source(daemon: Daemon) -> Path:
    return generate(daemon.sources / "events.parquet", ROWS, seed=21)


def test_create_wait_json_then_get_list_and_manifest(daemon: Daemon, source: Path) -> None:
    created = ok_json(
        sluice(
            daemon,
            "export",
            "create",
            "--source",
            str(source),
            "--to",
            str(daemon.exports),
            "--dataset",
            "events",
            "--format",
            "jsonl",
            "--compression",
            "gzip",
            "--chunk-rows",
            "1000",
            "--label",
            "team=billing",
            "--request-id",
            "cli-e2e-1",
            "--wait",
            "--json",
        )
    )

    assert set(created) >= {"id", "state", "manifest_uri", "records", "chunks", "stored_bytes"}
    assert created["state"] == "succeeded"
    assert created["records"] == ROWS
    assert created["chunks"] == 6
    assert created["labels"] == {"team": "billing"}
    assert created["request_id"] == "cli-e2e-1"
    assert created["error"] is None
    export_id = created["id"]

    # The manifest on disk agrees with what the command printed.
    assert created["manifest_uri"].startswith("file://")
    path = manifest_path(created["manifest_uri"])
    assert path == daemon.exports.resolve() / "events" / export_id / "manifest.json"
    manifest = load_manifest(created["manifest_uri"])
    assert manifest["export_id"] == export_id
    assert manifest["totals"] == {
        "records": created["records"],
        "chunks": created["chunks"],
        "stored_bytes": created["stored_bytes"],
    }
    assert [c["records"] for c in manifest["chunks"]] == [1000] * 6
    for chunk in manifest["chunks"]:
        data = (path.parent / chunk["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"]
    assert read_export(created["manifest_uri"]).get_column("id").to_list() == list(range(ROWS))

    got = ok_json(sluice(daemon, "export", "get", export_id, "--json"))
    assert got["id"] == export_id
    assert got["state"] == "succeeded"
    assert (got["manifest_uri"], got["records"], got["chunks"], got["stored_bytes"]) == (
        created["manifest_uri"],
        created["records"],
        created["chunks"],
        created["stored_bytes"],
    )
    assert got["spec"]["output"]["compression"] == "gzip"

    listed = ok_json(sluice(daemon, "export", "list", "--json"))
    assert isinstance(listed, list)
    assert [e["id"] for e in listed] == [export_id]
    by_label = ok_json(sluice(daemon, "export", "list", "--label", "team=other", "--json"))
    assert by_label == []
    by_state = ok_json(sluice(daemon, "export", "list", "--state", "succeeded", "--json"))
    assert [e["id"] for e in by_state] == [export_id]

    printed = ok_json(sluice(daemon, "export", "manifest", export_id, "--json"))
    assert printed == manifest
    from_path = ok_json(sluice(daemon, "export", "manifest", str(path), "--json"))
    assert from_path == manifest

    # Retrying with the same request id returns the same export, not a new one.
    again = sluice(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        "events",
        "--format",
        "jsonl",
        "--compression",
        "gzip",
        "--chunk-rows",
        "1000",
        "--label",
        "team=billing",
        "--request-id",
        "cli-e2e-1",
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == export_id


def test_create_without_wait_prints_the_id(daemon: Daemon, source: Path) -> None:
    result = sluice(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        "plain",
    )
    assert result.returncode == 0, result.stderr
    (export_id,) = result.stdout.split()
    watched = sluice(daemon, "export", "watch", export_id, "--json")
    assert watched.returncode == 0, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert events[0]["type"] == "snapshot"
    assert events[-1]["type"] == "finished"
    assert events[-1]["finished"]["state"] == "succeeded"
    assert events[-1]["finished"]["records"] == ROWS
    assert all(e["export_id"] == export_id for e in events)


def test_bad_input_is_one_line_naming_the_field(daemon: Daemon, source: Path) -> None:
    result = sluice(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        "events",
        "--format",
        "toml",
        "--wait",
        "--json",
    )
    line = one_error_line(result)
    assert "INVALID_ARGUMENT" in line
    assert "spec.output.format" in line
    assert "toml" in line
    # Nothing was created.
    assert ok_json(sluice(daemon, "export", "list", "--json")) == []
    assert list(daemon.exports.iterdir()) == []


def test_unknown_id_is_one_line_not_found(daemon: Daemon) -> None:
    for command in ("get", "cancel", "resume", "manifest"):
        line = one_error_line(sluice(daemon, "export", command, "20990101T000000Z-000000000000"))
        assert "NOT_FOUND" in line, (command, line)
        assert "20990101T000000Z-000000000000" in line


def test_unreachable_server_is_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sluice.client.cli.main",
            "--server",
            "127.0.0.1:1",
            "export",
            "list",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = one_error_line(result)
    assert "cannot reach the Sluice server at 127.0.0.1:1" in line


@pytest.mark.parametrize(
    "flags",
    [
        ["--passphrase-secret", ""],
        ["--passphrase-env", " "],
        ["--compression", "zip", "--zip-password-secret", ""],
        ["--compression", "zip", "--zip-password-env", ""],
    ],
    ids=lambda f: f[-2],
)
def test_an_empty_secret_name_is_refused_not_exported_in_plaintext(
    daemon: Daemon, source: Path, flags: list[str]
) -> None:
    """`--passphrase-secret "$NAME"` with NAME unset: the export ran, unencrypted (exit 0),
    and a schedule stored no encryption for every tick. Now a usage error naming the flag."""
    spec = [str(source), "--to", str(daemon.exports), "--dataset", "events", *flags]
    created = sluice(daemon, "export", "create", "--source", *spec, "--wait", "--json")
    scheduled = sluice(
        daemon, "schedule", "create", "--name", "n", "--cron", "@daily", "--source", *spec
    )
    for result in (created, scheduled):
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert f"Invalid value for '{flags[-2]}'" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert ok_json(sluice(daemon, "export", "list", "--json")) == []
    assert ok_json(sluice(daemon, "schedule", "list", "--json")) == []
    assert list(daemon.exports.iterdir()) == []


def test_an_argument_that_is_not_utf8_is_one_line(daemon: Daemon, source: Path) -> None:
    """A non-UTF-8 byte (here 0xff, as the shell's $'\\xff' passes it) was a traceback."""
    not_utf8 = os.fsdecode(b"\xff")
    create = ["export", "create", "--source", str(source), "--to", str(daemon.exports)]
    for args in (
        [*create, "--dataset", "events", "--where", f"msg = '{not_utf8}'"],
        ["export", "get", f"a{not_utf8}"],
        ["ask", f"applications {not_utf8}", "--to", str(daemon.exports)],
    ):
        result = sluice(daemon, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr == (
            "sluice: error: an argument (or a path made from one) is not valid UTF-8\n"
        )
        assert result.stdout == ""
    assert ok_json(sluice(daemon, "export", "list", "--json")) == []
