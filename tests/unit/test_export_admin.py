"""Verify, diff, delete and retention by export id or manifest URI, confined to roots."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from sluice.client.demo_data import generate
from sluice.server.committed.retention import RetentionPolicy
from sluice.server.errors import FailedPrecondition, InvalidArgument, NotFound
from sluice.server.jobs.model import JobState, NewJob
from sluice.server.jobs.recovery import recover_jobs
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.principals import ANONYMOUS
from sluice.server.service.export_admin import ExportAdmin
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink, open_sink
from tests.unit.exporting import export_to


@pytest.fixture
def admin(tmp_path: Path) -> ExportAdmin:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [tmp_path / "out"]}, environ={}
    )
    return ExportAdmin(settings, SQLiteJobStore(":memory:"), open_sink)


@pytest.fixture
def exported(tmp_path: Path) -> list[str]:
    source = generate(tmp_path / "src" / "events.parquet", 2_000, seed=9)
    sink = LocalSink(tmp_path / "out")
    export_to(sink, tmp_path, source, "20260101T000000Z-a")
    export_to(sink, tmp_path, source, "20260102T000000Z-b", parent_export_id="20260101T000000Z-a")
    base = f"file://{tmp_path}/out/events"
    return [f"{base}/20260101T000000Z-a/manifest.json", f"{base}/20260102T000000Z-b/manifest.json"]


def test_verify_by_manifest_uri(admin: ExportAdmin, exported: list[str], tmp_path: Path) -> None:
    assert admin.verify(exported[0], principal=ANONYMOUS).ok
    (tmp_path / "out/events/20260101T000000Z-a/part-000001.jsonl.zst").write_bytes(b"x")
    report = admin.verify(exported[0], principal=ANONYMOUS)
    assert [(c.mismatch, c.path) for c in report.corrupt] == [("size", "part-000001.jsonl.zst")]
    assert not (report.missing or report.extra or report.temporaries)


def test_an_export_id_is_located_from_its_job_record(exported: list[str], tmp_path: Path) -> None:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [tmp_path / "out"]}, environ={}
    )
    store = SQLiteJobStore(":memory:")
    assert recover_jobs(store, (tmp_path / "out",)) == 2
    admin = ExportAdmin(settings, store, open_sink)
    location = admin.locate("20260102T000000Z-b", principal=ANONYMOUS)
    assert (location.destination, location.dataset, location.export_id) == (
        str((tmp_path / "out").resolve()),
        "events",
        "20260102T000000Z-b",
    )
    assert location.manifest_key == "events/20260102T000000Z-b/manifest.json"
    assert admin.verify("20260102T000000Z-b", principal=ANONYMOUS).ok
    assert admin.delete("20260102T000000Z-b", principal=ANONYMOUS) == 3
    assert store.get("20260102T000000Z-b").state == JobState.DELETED
    with pytest.raises(FailedPrecondition, match="deleted"):
        admin.locate("20260102T000000Z-b", principal=ANONYMOUS)


def test_paths_outside_the_roots_and_odd_refs_are_refused(
    admin: ExportAdmin, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument, match="outside the export roots this server allows"):
        admin.verify(f"file://{tmp_path}/elsewhere/events/x/manifest.json", principal=ANONYMOUS)
    with pytest.raises(InvalidArgument):
        admin.verify("manifest.json", principal=ANONYMOUS)
    with pytest.raises(InvalidArgument):
        admin.verify("", principal=ANONYMOUS)


def test_diff_and_chain(admin: ExportAdmin, exported: list[str], tmp_path: Path) -> None:
    diff, record_note = admin.diff(exported[0], exported[1], principal=ANONYMOUS)
    assert diff.unchanged == 2 and not diff.added and not diff.removed
    assert "no key index" in record_note
    chain = admin.chain(str(tmp_path / "out"), "events", principal=ANONYMOUS)
    assert [e.parent_export_id for e in chain] == [None, "20260101T000000Z-a"]


def test_delete_refuses_a_parent_and_removes_a_leaf(
    admin: ExportAdmin, exported: list[str], tmp_path: Path
) -> None:
    with pytest.raises(FailedPrecondition, match="parent of 20260102T000000Z-b"):
        admin.delete(exported[0], principal=ANONYMOUS)
    assert admin.delete(exported[1], principal=ANONYMOUS) == 3  # two chunks and the manifest
    assert not (tmp_path / "out" / "events" / exported[1]).exists()
    assert [
        e.export_id for e in admin.chain(str(tmp_path / "out"), "events", principal=ANONYMOUS)
    ] == ["20260101T000000Z-a"]


def test_retention_dry_run_changes_nothing(
    admin: ExportAdmin, exported: list[str], tmp_path: Path
) -> None:
    source = generate(tmp_path / "src" / "events.parquet", 2_000, seed=9)
    export_to(LocalSink(tmp_path / "out"), tmp_path, source, "20260103T000000Z-c")
    plan = admin.retain(
        str(tmp_path / "out"),
        "events",
        RetentionPolicy(keep_last=1),
        dry_run=True,
        principal=ANONYMOUS,
    )
    assert plan.keep == ("20260103T000000Z-c",)
    assert set(plan.delete) == {"20260101T000000Z-a", "20260102T000000Z-b"}
    assert len(admin.chain(str(tmp_path / "out"), "events", principal=ANONYMOUS)) == 3
    admin.retain(
        str(tmp_path / "out"),
        "events",
        RetentionPolicy(keep_last=1),
        dry_run=False,
        principal=ANONYMOUS,
    )
    assert [
        e.export_id for e in admin.chain(str(tmp_path / "out"), "events", principal=ANONYMOUS)
    ] == ["20260103T000000Z-c"]


@pytest.mark.parametrize("outside_reader", [False, True])
def test_retention_forgets_the_request_values_of_the_exports_it_deletes(
    exported: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture, outside_reader: bool
) -> None:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [tmp_path / "out"]}, environ={}
    )
    source = generate(tmp_path / "src" / "events.parquet", 2_000, seed=9)
    export_to(LocalSink(tmp_path / "out"), tmp_path, source, "20260103T000000Z-c")
    # The jobs as CreateExport stores a request and a run ends it (recovery rebuilds only
    # what a manifest says: no `where`), for the two exports retention removes.
    recovered = SQLiteJobStore(":memory:")
    assert recover_jobs(recovered, (tmp_path / "out",)) == 3
    store = SQLiteJobStore(tmp_path / "state" / "jobs.sqlite3")
    for export_id in ("20260101T000000Z-a", "20260102T000000Z-b"):
        job = recovered.get(export_id)
        asked = replace(job.spec, query=replace(job.spec.query, where="email = 'a@example.com'"))
        store.create(NewJob(export_id, asked, "", asked.fingerprint()))
        store.transition(export_id, {JobState.QUEUED}, JobState.RUNNING)
        store.transition(
            export_id, {JobState.RUNNING}, JobState.SUCCEEDED, manifest_uri=job.manifest_uri
        )
    # A backup tool's read transaction keeps the WAL from being emptied: retention empties
    # it once for the batch, without waiting for the reader (busy_timeout per export).
    reader = sqlite3.connect(tmp_path / "state" / "jobs.sqlite3", isolation_level=None)
    if outside_reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchall()
        store.save_progress("20260101T000000Z-a", store.get("20260101T000000Z-a").progress)
    admin = ExportAdmin(settings, store, open_sink)
    with caplog.at_level(logging.WARNING, logger="sluice.server.jobs.sqlite_forgetting"):
        admin.retain(
            str(tmp_path / "out"), "events", RetentionPolicy(keep_last=1), dry_run=False,
            principal=ANONYMOUS,
        )  # fmt: skip
    not_emptied = [r for r in caplog.records if "WAL could not be emptied" in r.message]
    assert len(not_emptied) == (1 if outside_reader else 0)
    for export_id in ("20260101T000000Z-a", "20260102T000000Z-b"):
        deleted = store.get(export_id)
        assert (deleted.state, deleted.spec.query.where) == (JobState.DELETED, "email = ?")
    reader.close()
    store.close()
    assert all(b"a@example.com" not in p.read_bytes() for p in (tmp_path / "state").iterdir())


@pytest.mark.parametrize(
    "path",
    [
        "events/20260101T000000Z-a/./manifest.json",
        "./20260101T000000Z-a/manifest.json",
        "events/20260101T000000Z-a/../20260101T000000Z-a/manifest.json",
        "events/../../x/manifest.json",
        "events/../manifest.json",
    ],
)
def test_dot_segments_in_a_manifest_uri_are_invalid_argument_naming_the_field(
    admin: ExportAdmin, exported: list[str], tmp_path: Path, path: str
) -> None:
    """'.' and '..' as a dataset or export id reached the sink's key check and came back
    as an INTERNAL ValueError; they are a malformed manifest URI."""
    uri = f"file://{tmp_path}/out/{path}"
    for call in (
        lambda: admin.verify(uri, principal=ANONYMOUS),
        lambda: admin.delete(uri, principal=ANONYMOUS),
        lambda: admin.diff(exported[0], uri, principal=ANONYMOUS),
    ):
        with pytest.raises(InvalidArgument) as caught:
            call()
        assert [v.field for v in caught.value.violations] in (["export"], ["other"])
    with pytest.raises(InvalidArgument) as caught:
        admin.diff(uri, exported[0], principal=ANONYMOUS)
    assert [v.field for v in caught.value.violations] == ["base"]
    assert admin.verify(exported[0], principal=ANONYMOUS).ok


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/x/manifest.json", "relative/events/x/manifest.json", "events/x/manifest.json"],
)
def test_a_relative_or_scheme_mangled_destination_is_refused_with_the_format(
    admin: ExportAdmin, uri: str
) -> None:
    """s3://bucket/x/manifest.json left 's3:/' as the destination, and a relative one
    was resolved against the daemon's working folder, which the error then showed."""
    with pytest.raises(InvalidArgument) as caught:
        admin.verify(uri, principal=ANONYMOUS)
    assert "<destination>/<dataset>/<export_id>/manifest.json" in caught.value.message
    assert "outside" not in caught.value.message and str(Path.cwd()) not in caught.value.message


def test_deleting_a_manifest_uri_of_nothing_is_not_found_and_left_overs_stay_deletable(
    admin: ExportAdmin, exported: list[str], tmp_path: Path
) -> None:
    """A manifest URI naming no export was "deleted export NOSUCH: 0 objects removed"."""
    with pytest.raises(NotFound):
        admin.delete(f"file://{tmp_path}/out/events/NOSUCH/manifest.json", principal=ANONYMOUS)
    # A delete cut short after the manifest: its chunks can still be removed.
    (tmp_path / "out/events/20260102T000000Z-b/manifest.json").unlink()
    assert admin.delete(exported[1], principal=ANONYMOUS) == 2
    with pytest.raises(NotFound):
        admin.delete(exported[1], principal=ANONYMOUS)


@pytest.mark.parametrize("dataset", ["../..", "", "events/../events", "."])
def test_retention_and_chains_refuse_a_dataset_that_is_not_one_folder(
    admin: ExportAdmin, exported: list[str], tmp_path: Path, dataset: str
) -> None:
    destination = f"file://{tmp_path}/out"
    with pytest.raises(InvalidArgument) as caught:
        admin.retain(
            destination, dataset, RetentionPolicy(keep_last=1), dry_run=True, principal=ANONYMOUS
        )
    assert [v.field for v in caught.value.violations] == ["dataset"]
    with pytest.raises(InvalidArgument) as caught:
        admin.chain(destination, dataset, principal=ANONYMOUS)
    assert [v.field for v in caught.value.violations] == ["dataset"]
