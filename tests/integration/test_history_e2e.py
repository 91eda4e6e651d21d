"""Verify, diff, history, delete and retention through a real daemon, from storage."""

from __future__ import annotations

import json
import subprocess

import grpc
import pytest

from sluice.client import ExportClient, SluiceError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon, run_cli

pytestmark = pytest.mark.integration


def _export(client: ExportClient, daemon: Daemon, dataset: str = "events") -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset=dataset,
        chunk_rows=1_000,
    )
    return client.wait(client.create(spec).id, timeout=120)


def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()  # type: ignore[attr-defined,no-any-return]


def test_verify_diff_history_delete_and_retention(daemon: Daemon) -> None:
    generate(daemon.sources / "events.parquet", 3_000, seed=6)
    with ExportClient(daemon.address) as client, grpc.insecure_channel(daemon.address) as ch:
        stub = export_pb2_grpc.ExportServiceStub(ch)
        first, second = _export(client, daemon), _export(client, daemon)
        other = _export(client, daemon, dataset="other")

        verified = stub.VerifyExport(pb.VerifyExportRequest(export=first.id))
        assert (verified.ok, verified.chunks_checked, verified.export_id) == (True, 3, first.id)

        diff = stub.DiffExports(pb.DiffExportsRequest(base=first.id, other=second.manifest_uri))
        assert (diff.matched_by, diff.unchanged, len(diff.added)) == ("content_digest", 3, 0)

        history = stub.ListDatasetExports(
            pb.ListDatasetExportsRequest(destination=str(daemon.exports), dataset="events")
        )
        assert [e.export_id for e in history.exports] == [first.id, second.id]

        # Corrupt one chunk: verify names exactly that chunk.
        chunk = daemon.exports / "events" / first.id / "part-000001.jsonl.zst"
        chunk.write_bytes(chunk.read_bytes()[:-1] + b"\x00")
        verified = stub.VerifyExport(pb.VerifyExportRequest(export=first.id))
        assert not verified.ok
        assert [(c.path, c.mismatch) for c in verified.corrupt] == [
            ("part-000001.jsonl.zst", "sha256")
        ]

        plan = stub.ApplyRetention(
            pb.ApplyRetentionRequest(
                destination=str(daemon.exports),
                dataset="events",
                policy=pb.RetentionPolicy(keep_last=1),
                dry_run=True,
            )
        )
        assert (list(plan.kept), list(plan.deleted)) == ([second.id], [first.id])
        assert (daemon.exports / "events" / first.id / "manifest.json").exists()

        folder = daemon.exports / "events" / first.id
        stored = sorted(p.name for p in folder.iterdir())
        assert "manifest.json" in stored
        removed = stub.DeleteExport(pb.DeleteExportRequest(export=first.id))
        # Every object counts, the manifest included (it was left out), and the
        # emptied export folder goes with them (it was left behind).
        assert removed.objects_removed == len(stored) == 4
        assert not folder.exists()
        assert (daemon.exports / "events" / second.id / "manifest.json").exists()
        assert stub.GetExport(pb.GetExportRequest(id=first.id)).state == pb.EXPORT_STATE_DELETED
        deleted_again = _code(lambda: stub.DeleteExport(pb.DeleteExportRequest(export=first.id)))
        assert deleted_again == grpc.StatusCode.FAILED_PRECONDITION
        resumed = _code(lambda: stub.ResumeExport(pb.ResumeExportRequest(id=first.id)))
        assert resumed == grpc.StatusCode.FAILED_PRECONDITION

        # Bad input, each with its status.
        assert _code(lambda: stub.VerifyExport(pb.VerifyExportRequest(export="no-such"))) == (
            grpc.StatusCode.NOT_FOUND
        )
        missing = f"file://{daemon.exports}/events/nope/manifest.json"
        assert _code(lambda: stub.VerifyExport(pb.VerifyExportRequest(export=missing))) == (
            grpc.StatusCode.NOT_FOUND
        )
        assert (
            _code(lambda: stub.DiffExports(pb.DiffExportsRequest(base=second.id, other=second.id)))
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        assert (
            _code(lambda: stub.DiffExports(pb.DiffExportsRequest(base=second.id, other=other.id)))
            == grpc.StatusCode.FAILED_PRECONDITION
        )
        outside = f"file://{daemon.root}/elsewhere/events/x/manifest.json"
        assert _code(lambda: stub.VerifyExport(pb.VerifyExportRequest(export=outside))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        assert (
            _code(
                lambda: stub.ApplyRetention(
                    pb.ApplyRetentionRequest(destination=str(daemon.exports), dataset="events")
                )
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        assert daemon.healthy()


def _cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(daemon, "export", *args)


def test_cli_history_commands(daemon: Daemon) -> None:
    generate(daemon.sources / "events.parquet", 2_000, seed=6)
    with ExportClient(daemon.address) as client:
        first, second = _export(client, daemon), _export(client, daemon)

    listed = _cli(daemon, "list", "--dataset", "events", "--to", str(daemon.exports), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["export_id"] for e in json.loads(listed.stdout)] == [first.id, second.id]

    assert _cli(daemon, "verify", first.id).returncode == 0
    chunk = daemon.exports / "events" / first.id / "part-000000.jsonl.zst"
    chunk.write_bytes(b"broken")
    failed = _cli(daemon, "verify", first.id)
    assert failed.returncode == 1
    assert "corrupt  part-000000.jsonl.zst (size" in failed.stdout

    # An id this daemon's job store does not know (a lost state folder): the message says
    # how to name the export through storage instead, and that way works.
    unknown = _cli(daemon, "verify", "exp-not-in-this-store")
    assert unknown.returncode == 1
    assert "not in this daemon's job store" in unknown.stderr
    assert "manifest.json" in unknown.stderr
    by_manifest = _cli(daemon, "verify", second.manifest_uri)
    assert by_manifest.returncode == 0, by_manifest.stderr

    diffed = _cli(daemon, "diff", first.id, second.id, "--json")
    # Diff reads manifests only: both chunks match by content digest. Counts are JSON
    # numbers (the proto3 mapping would print int64 as strings), so arithmetic works.
    diff = json.loads(diffed.stdout)
    assert diff["unchanged"] + diff["added_bytes"] + diff["removed_bytes"] == 2

    dry = _cli(
        daemon,
        "retain",
        "--to",
        str(daemon.exports),
        "--dataset",
        "events",
        "--keep-last",
        "1",
        "--dry-run",
    )
    assert f"would delete {first.id}" in dry.stdout
    assert _cli(daemon, "delete", first.id).returncode == 0
    same = _cli(daemon, "diff", first.id, first.id)
    assert same.returncode == 1 and same.stderr.startswith("sluice: error:")


def test_retain_names_a_dataset_without_exports_and_fails(daemon: Daemon) -> None:
    """A misspelt --dataset printed nothing and exited 0: nothing kept, nothing deleted,
    no hint why. Now NOT_FOUND naming the dataset and the destination; the real one works."""
    generate(daemon.sources / "events.parquet", 2_000, seed=8)
    with ExportClient(daemon.address) as client:
        made = _export(client, daemon)
    retain = ("retain", "--to", str(daemon.exports), "--keep-last", "1")
    typo = _cli(daemon, *retain, "--dataset", "evnets")
    assert typo.returncode == 1, typo
    assert typo.stdout == ""
    assert typo.stderr.strip() == (
        "sluice: error: NOT_FOUND: dataset 'evnets' has no committed exports under "
        f"{daemon.exports}"
    )
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as caught:
        client.retain(str(daemon.exports), "evnets", keep_last=1, dry_run=True)
    assert caught.value.code == "NOT_FOUND"
    kept = _cli(daemon, *retain, "--dataset", "events")
    assert kept.returncode == 0, kept
    assert f"keep    {made.id}" in kept.stdout


def test_tampered_manifests_are_data_loss_or_an_unknown_version_not_internal(
    daemon: Daemon,
) -> None:
    """A manifest whose chunk path climbs out of its folder (`../../people/x`) reached
    the sink's key check, whose ValueError came back INTERNAL; a manifest of format
    version 99 with no export id and no chunks verified "ok"."""
    generate(daemon.sources / "events.parquet", 2_000, seed=7)
    with ExportClient(daemon.address) as client:
        good = _export(client, daemon)
    stored = json.loads((daemon.exports / "events" / good.id / "manifest.json").read_text())
    crafted = daemon.exports / "crafted"
    climbing, newer = (crafted / f"20260101T000000Z-00000000000{n}" for n in (1, 2))
    for folder in (climbing, newer):
        folder.mkdir(parents=True)
    stored["chunks"][0]["path"] = "../../events/x"
    (climbing / "manifest.json").write_text(json.dumps(stored))
    (newer / "manifest.json").write_text('{"format_version": 99, "chunks": []}')
    good_manifest = str(daemon.exports / "events" / good.id / "manifest.json")
    for args in (
        ("verify", str(climbing)),
        ("diff", str(climbing), good_manifest),
        ("delete", str(climbing)),
    ):
        result = _cli(daemon, *args)
        assert result.returncode == 1, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("sluice: error: DATA_LOSS: "), (args, lines[0])
        assert "manifest chunk 0 has an unexpected path or index" in lines[0], lines[0]
    assert (climbing / "manifest.json").exists()
    result = _cli(daemon, "verify", str(newer))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("sluice: error: FAILED_PRECONDITION: "), result.stderr
    assert "format_version 99 is not one this Sluice reads (1 or 2)" in result.stderr
    assert "unexpected error" not in daemon.log_path.read_text()
