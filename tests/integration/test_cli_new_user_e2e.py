"""What a new user hit, through the real `sluice` command and a real daemon whose working
directory (the repository) is not the user's: relative paths, export folders as
arguments, keygen into a new folder, delete and retention, date literals in --where, and
the text of timestamps in every text format."""

from __future__ import annotations

import json
import stat
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.client.demo_data import generate
from tests.daemon import Daemon, run_cli

pytestmark = pytest.mark.integration


def sluice(
    daemon: Daemon | None, *args: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`sluice [--server ADDR] ARGS...` run from `cwd`, as a user's shell would."""
    return run_cli(daemon, *args, cwd=cwd, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sluice: error: "), result.stderr
    return lines[0]


def create(daemon: Daemon, *args: str, cwd: Path) -> dict[str, Any]:
    created = ok_json(sluice(daemon, "export", "create", *args, "--wait", "--json", cwd=cwd))
    assert created["state"] == "succeeded", created
    return created


def test_relative_paths_and_export_folders_are_the_users(daemon: Daemon) -> None:
    generate(daemon.sources / "events.parquet", 3_000, seed=4)
    user = daemon.root  # the user's shell is here; the daemon runs in the repository
    first = create(
        daemon,
        *("--source", "sources/events.parquet", "--to", "./exports", "--dataset", "events"),
        *("--chunk-rows", "1000"),
        cwd=user,
    )
    folder = daemon.exports / "events" / first["id"]
    assert first["manifest_uri"] == f"file://{folder.resolve()}/manifest.json"
    assert first["spec"]["source"]["uri"] == str(daemon.sources / "events.parquet")
    assert (folder / "manifest.json").is_file()

    # The export's folder, or its manifest by a relative path, names it in every command.
    relative_folder = f"exports/events/{first['id']}"
    for ref in (relative_folder, f"{relative_folder}/", f"{relative_folder}/manifest.json"):
        assert (
            ok_json(sluice(daemon, "export", "get", ref, "--json", cwd=user))["id"] == first["id"]
        )
        report = ok_json(sluice(daemon, "export", "verify", ref, "--json", cwd=user))
        assert (report["ok"], report["export_id"], report["chunks_checked"]) == (
            True,
            first["id"],
            3,  # a JSON number, though int64 (protobuf's JSON mapping would print "3")
        )
    inside = ok_json(sluice(daemon, "export", "verify", ".", "--json", cwd=folder))
    assert inside["export_id"] == first["id"]
    manifest = ok_json(sluice(daemon, "export", "manifest", relative_folder, "--json", cwd=user))
    assert manifest["export_id"] == first["id"]
    chain = ok_json(
        sluice(
            daemon, "export", "list", "--dataset", "events", "--to", "exports", "--json", cwd=user
        )
    )
    assert [e["export_id"] for e in chain] == [first["id"]]

    # delete: every object counted, the folder gone, the job deleted in get and list.
    stored = sorted(p.name for p in folder.iterdir())
    deleted = ok_json(sluice(daemon, "export", "delete", relative_folder, "--json", cwd=user))
    assert deleted == {"export_id": first["id"], "objects_removed": len(stored)}
    assert len(stored) == 4  # three chunks and the manifest
    assert not folder.exists()
    assert (daemon.exports / "events").is_dir()
    got = ok_json(sluice(daemon, "export", "get", first["id"], "--json", cwd=user))
    assert got["state"] == "deleted"
    assert got["finished_at"] == first["finished_at"]
    listed = ok_json(sluice(daemon, "export", "list", "--state", "deleted", "--json", cwd=user))
    assert [e["id"] for e in listed] == [first["id"]]
    assert "deleted" in sluice(daemon, "export", "list", cwd=user).stdout
    again = error_line(sluice(daemon, "export", "verify", first["id"], cwd=user))
    assert "FAILED_PRECONDITION" in again and "deleted" in again
    resumed = error_line(sluice(daemon, "export", "resume", first["id"], cwd=user))
    assert "FAILED_PRECONDITION" in resumed


def test_retention_retires_an_old_chain_once_a_full_export_starts_a_new_one(
    daemon: Daemon,
) -> None:
    generate(daemon.sources / "events.parquet", 2_000, seed=5)
    user = daemon.root
    common = ("--source", "sources/events.parquet", "--to", "exports", "--dataset", "events")
    old_full = create(daemon, *common, "--mode", "full", "--cursor", "updated_at", cwd=user)
    old_incr = create(daemon, *common, "--mode", "incremental", "--cursor", "updated_at", cwd=user)

    refused = error_line(sluice(daemon, "export", "delete", old_full["id"], cwd=user))
    assert "FAILED_PRECONDITION" in refused and "--mode full" in refused

    retain = ("export", "retain", "--to", "exports", "--dataset", "events", "--keep-last", "1")
    dry = sluice(daemon, *retain, "--dry-run", cwd=user)
    assert dry.returncode == 0, dry.stderr
    assert f"keep    {old_full['id']}  (parent of {old_incr['id']})" in dry.stdout
    assert "start a new one with a full export" in dry.stdout
    assert "--mode full" in dry.stdout
    help_text = sluice(None, *retain[:2], "--help", cwd=user).stdout
    assert "--mode full" in help_text

    new_full = create(daemon, *common, "--mode", "full", "--cursor", "updated_at", cwd=user)
    plan = ok_json(sluice(daemon, *retain, "--json", cwd=user))
    assert plan["kept"] == [new_full["id"]]
    assert sorted(plan["deleted"]) == sorted([old_full["id"], old_incr["id"]])
    assert sorted(p.name for p in (daemon.exports / "events").iterdir()) == [new_full["id"]]
    for export_id in (old_full["id"], old_incr["id"]):
        got = ok_json(sluice(daemon, "export", "get", export_id, "--json", cwd=user))
        assert got["state"] == "deleted"


def test_keygen_creates_missing_folders_and_prints_json(tmp_path: Path) -> None:
    made = ok_json(sluice(None, "keygen", "-o", "keys/age/me.txt", "--json", cwd=tmp_path))
    key = tmp_path / "keys" / "age" / "me.txt"
    assert made["file"] == str(key)
    assert made["kind"] == "age" and made["recipient"].startswith("age1")
    assert made["recipient"] in key.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    signing = ok_json(
        sluice(None, "keygen", "--signing", "-o", "keys/sign/k.pem", "--json", cwd=tmp_path)
    )
    assert signing["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert signing["key_id"] and "PRIVATE" not in json.dumps(signing)
    assert (tmp_path / "keys" / "sign" / "k.pem").is_file()


def _dated_source(path: Path) -> Path:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456)
    pl.DataFrame(
        {
            "id": [1, 2],
            "naive": [moment, moment.replace(year=2023)],
            "utc": [moment.replace(tzinfo=UTC), moment.replace(year=2023, tzinfo=UTC)],
            "day": [date(2024, 5, 1), date(2023, 5, 1)],
        }
    ).with_columns(
        pl.col("utc").dt.convert_time_zone("Europe/Madrid").dt.cast_time_unit("ms").alias("madrid")
    ).write_parquet(path)
    return path


def test_where_date_literals_suggest_typed_ones(daemon: Daemon) -> None:
    _dated_source(daemon.sources / "dated.parquet")
    base = ("export", "create", "--source", "sources/dated.parquet", "--to", "exports")
    base += ("--dataset", "dated")
    for where, suggestion in (
        ("naive > '2024-01-01'", "naive > TIMESTAMP '2024-01-01'"),
        ("naive > 2024-01-01", "naive > TIMESTAMP '2024-01-01'"),  # was accepted: 2022
        ("utc >= '2024-01-01 00:00:00'", "utc > TIMESTAMPTZ '2024-01-01 00:00:00'"),
        ("utc > TIMESTAMP '2024-01-01'", "utc > TIMESTAMPTZ '2024-01-01'"),
        ("day = '2024-05-01'", "day >= DATE '2024-05-01'"),
    ):
        line = error_line(sluice(daemon, *base, "--where", where, cwd=daemon.root))
        assert "INVALID_ARGUMENT" in line and "spec.query.where" in line, line
        assert suggestion in line, line
    # The suggested literals work, and select what they say.
    for where in (
        "naive > TIMESTAMP '2024-01-01'",
        "utc > TIMESTAMPTZ '2024-01-01'",
        "day >= DATE '2024-01-01'",
        "CAST(madrid AS TIMESTAMPTZ) > TIMESTAMPTZ '2024-01-01'",
    ):
        made = create(daemon, *base[2:], "--where", where, "--compression", "none", cwd=daemon.root)
        assert made["records"] == 1, where


def test_timestamps_read_back_as_rfc3339_text_in_every_text_format(daemon: Daemon) -> None:
    _dated_source(daemon.sources / "dated.parquet")
    expected = {
        "id": 1,
        "naive": "2024-05-01T12:00:00.123456",
        "utc": "2024-05-01T12:00:00.123456Z",
        "day": "2024-05-01",
        "madrid": "2024-05-01T14:00:00.123+02:00",
    }
    common = ("--source", "sources/dated.parquet", "--to", "exports", "--compression", "none")
    for fmt in ("jsonl", "json", "csv"):
        made = create(daemon, *common, "--dataset", fmt, "--format", fmt, cwd=daemon.root)
        folder = daemon.exports / fmt / made["id"]
        text = (folder / f"part-000000.{fmt}").read_text()
        if fmt == "jsonl":
            first = json.loads(text.splitlines()[0])
        elif fmt == "json":
            first = json.loads(text)["data"][0]
        else:
            header, row = text.splitlines()[:2]
            assert header == "id,naive,utc,day,madrid"
            assert row == (
                "1,2024-05-01T12:00:00.123456,2024-05-01T12:00:00.123456Z,2024-05-01,"
                "2024-05-01T14:00:00.123+02:00"
            )
            first = {**expected}
        assert first == expected, fmt
    # Parquet keeps native types, and `export read` writes them as the text formats do.
    made = create(daemon, *common, "--dataset", "pq", "--format", "parquet", cwd=daemon.root)
    stored = pl.read_parquet(daemon.exports / "pq" / made["id"] / "part-000000.parquet")
    assert stored.schema["utc"] == pl.Datetime("us", "UTC")
    read = sluice(
        daemon, "export", "read", f"exports/pq/{made['id']}", "--format", "jsonl", cwd=daemon.root
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.splitlines()[0]) == expected
