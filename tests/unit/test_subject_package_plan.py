"""A subject package planned into parts (one per source and format, in a fixed order, each
selecting the subject by its source's subject_column), and where a resumed package
continues: after the last journalled chunk, in the part that wrote it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.execution.package_manifest import (
    build_package_manifest,
    part_starts,
    subject_digest,
)
from sluice.server.jobs.model import ChunkRecord
from sluice.server.jobs.recovery import open_job_store
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.planning.subject_package import (
    PackagePlan,
    build_package_plan,
    resolved_specs,
    with_resolved_sources,
)
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.settings import Settings, load_settings

GDPR = {"controller": "Example Ltd", "contact": "privacy@example.com"}


def _settings(root: Path, **extra: object) -> Settings:
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(exist_ok=True)
    pl.DataFrame({"id": [1, 2, 3], "user_id": [42, 7, 42]}).write_parquet(sources / "e.parquet")
    with sqlite3.connect(sources / "a.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS apps (app_id INTEGER PRIMARY KEY, owner TEXT)")
        db.executemany("INSERT OR REPLACE INTO apps VALUES (?, ?)", [(1, "42"), (2, "7")])
    return load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [sources],
            "sources": {
                "events": {"uri": str(sources / "e.parquet"), "subject_column": "user_id"},
                "apps": {
                    "uri": f"sqlite://{sources / 'a.db'}",
                    "table": "apps",
                    "subject_column": "owner",
                    "description": "Applications",
                },
                "plain": {"uri": str(sources / "e.parquet")},
            },
            "gdpr": GDPR,
            **extra,
        },
        environ={},
    )


def _spec(root: Path, subject: str = "42", *sources: str, **fields: object) -> ExportSpec:
    fields.setdefault("source", SourceSpec(""))
    return ExportSpec(
        destination=DestinationSpec(str(root / "exports"), "gdpr"),
        subject=SubjectSpec(subject, tuple(sources)),
        # As a request arrives: a package's format unset (spec_from_proto).
        output=OutputSpec(format="", compression=""),
        **fields,  # type: ignore[arg-type]
    )


def _plan(tmp_path: Path, *sources: str) -> PackagePlan:
    return build_package_plan(_spec(tmp_path, "42", *sources), _settings(tmp_path), "x1", owner="")


def test_parts_are_each_source_with_a_subject_column_in_json_then_csv(tmp_path: Path) -> None:
    package = _plan(tmp_path)
    assert [(p.source_name, p.format) for p in package.parts] == [
        ("apps", "json"), ("apps", "csv"), ("events", "json"), ("events", "csv"),
    ]  # fmt: skip
    apps = package.parts[0].plan
    # The database reads only the subject's rows (the id converted to the column's type).
    assert apps.source.database is not None
    assert (apps.source.database.id_column, apps.source.database.ids) == ("owner", ("42",))
    assert apps.spec.source.name == "apps" and package.parts[0].description == "Applications"
    assert apps.pipeline.chunk_name(0) == "part-000000.apps.json.zst"
    assert package.parts[3].plan.pipeline.chunk_name(5) == "part-000005.events.csv.zst"
    # The package's own redaction: e-mail and phone columns are kept, text scanned.
    assert apps.redactor.describe()["level"] == "moderate"


def _chunk(package: PackagePlan, part: int, index: int, end: int) -> ChunkRecord:
    return ChunkRecord(
        index=index,
        path=package.parts[part].plan.pipeline.chunk_name(index),
        records=1,
        stored_bytes=10,
        sha256="0" * 64,
        content_digest="hmac-sha256:00",
        source_start=end - 1,
        source_end=end,
        committed_at=datetime.now(UTC),
    )


def test_a_resumed_package_continues_in_the_part_of_its_last_chunk(tmp_path: Path) -> None:
    package = _plan(tmp_path, "events", "apps")
    assert [n for n, _ in part_starts(package, [])] == [0, 1, 2, 3]
    chunks = [_chunk(package, 0, 0, 1), _chunk(package, 1, 1, 1), _chunk(package, 1, 2, 2)]
    starts = part_starts(package, chunks)
    # events as JSON is done; events as CSV continues after its row 2; apps follows.
    assert [n for n, _ in starts] == [1, 2, 3]
    assert starts[0][1].from_row == 2
    assert starts[1][1].from_row == 0


def test_a_chunk_of_no_part_is_refused(tmp_path: Path) -> None:
    package = _plan(tmp_path, "events")
    stray = _chunk(_plan(tmp_path, "apps"), 0, 0, 1)
    with pytest.raises(FailedPrecondition, match="sources changed"):
        part_starts(package, [stray])


@pytest.mark.parametrize(
    ("subject", "sources", "fields", "field"),
    [
        ("42", ("nowhere",), {}, "spec.subject.sources[0]"),
        ("42", ("events", "plain"), {}, "spec.subject.sources[1]"),
        ("42", ("events", "events"), {}, "spec.subject.sources[1]"),
        ("", (), {}, "spec.subject.subject_id"),
        ("abc", ("events",), {}, "spec.subject.subject_id"),
        ("42", (), {"report": True}, "spec.report"),
        ("42", (), {"source": SourceSpec("", name="events")}, "spec.source.name"),
    ],
)
def test_bad_packages_name_the_field(
    tmp_path: Path, subject: str, sources: tuple[str, ...], fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_package_plan(
            _spec(tmp_path, subject, *sources, **fields), _settings(tmp_path), "x", owner=""
        )
    assert caught.value.violations[0].field == field


def test_packages_need_the_gdpr_table(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"gdpr": None})
    with pytest.raises(FailedPrecondition, match=r"\[gdpr\]"):
        build_package_plan(_spec(tmp_path), settings, "x", owner="")


def test_access_is_checked_on_each_source_the_package_reads(tmp_path: Path) -> None:
    """resolved_specs gives the export service every location a package reads, so a
    principal's source roots apply to each (check_spec_access runs on every one)."""
    settings = _settings(tmp_path)
    found = resolved_specs(_spec(tmp_path, "42", "events", "apps"), settings)
    assert [s.source.uri for s in found] == [
        str(tmp_path / "sources" / "e.parquet"),
        f"sqlite://{tmp_path / 'sources' / 'a.db'}",
    ]
    assert all(s.destination.uri == str(tmp_path / "exports") for s in found)


_SUBJECT = "918273645"


def _manifest_json(tmp_path: Path, created_by: str = "", **fields: object) -> str:
    (tmp_path / "gdpr-password").write_text("correct horse battery staple\n")
    settings = _settings(tmp_path, secrets={"gdpr": f"file:{tmp_path / 'gdpr-password'}"})
    package = build_package_plan(_spec(tmp_path, _SUBJECT, **fields), settings, "x1", owner="")
    now = datetime.now(UTC)
    manifest = build_package_manifest(
        package,
        [],
        created_at=now,
        finished_at=now,
        digest_key_id="k1",
        digest_key=b"k" * 32,
        created_by=created_by,
    )
    return manifest.to_json().decode()


def test_an_encrypted_packages_manifest_holds_a_keyed_digest_not_the_subject_id(
    tmp_path: Path,
) -> None:
    text = _manifest_json(tmp_path, template="gdpr")
    assert '"zip-aes-256"' in text
    assert _SUBJECT not in text
    described = json.loads(text)["subject_package"]
    assert "subject_id" not in described
    assert described["subject_digest"] == subject_digest(_SUBJECT, b"k" * 32, "")
    assert subject_digest(_SUBJECT, b"other-key" * 4, "") != described["subject_digest"]


def test_packages_of_two_principals_for_one_subject_have_different_digests(
    tmp_path: Path,
) -> None:
    # Else a principal could confirm that another's sealed package is about a guessed
    # subject by making a package for that subject and comparing digests.
    digests = {
        json.loads(_manifest_json(tmp_path, created_by, template="gdpr"))["subject_package"][
            "subject_digest"
        ]
        for created_by in ("alice", "bob")
    }
    assert len(digests) == 2


def test_an_unencrypted_packages_manifest_names_the_subject(tmp_path: Path) -> None:
    described = json.loads(_manifest_json(tmp_path))["subject_package"]
    assert described["subject_id"] == _SUBJECT and "subject_digest" not in described


def _with_source(settings: Settings, root: Path, name: str | None, drop: str = "") -> Settings:
    sources = dict(settings.sources)
    if name is not None:
        sources[name] = sources["events"].model_copy(update={"description": "Added later"})
    sources.pop(drop, None)
    return settings.model_copy(update={"sources": sources})


def test_a_package_of_every_source_keeps_the_sources_it_was_created_with(
    tmp_path: Path,
) -> None:
    """At CreateExport the resolved sources are stored with the job's spec: a source
    configured between a crash and the resume is not silently left out of the package
    (nor half in it); the stored spec is still the same request for a retried request
    id."""
    settings = _settings(tmp_path)
    request = _spec(tmp_path)
    stored = with_resolved_sources(request, build_package_plan(request, settings, "x1", owner=""))
    assert stored.subject is not None and stored.subject.sources == ()
    assert stored.subject.resolved_sources == ("apps", "events")
    # As the job store keeps it, and still the request a retry is compared with.
    stored = ExportSpec.from_json(stored.to_json())
    assert stored.subject is not None and stored.subject.resolved_sources == ("apps", "events")
    assert stored.fingerprint() == request.fingerprint()
    # The config gains a source with a subject_column before the resume.
    later = _with_source(settings, tmp_path, "zz_added")
    resumed = build_package_plan(stored, later, "x1", owner="")
    assert [p.source_name for p in resumed.parts] == ["apps", "apps", "events", "events"]
    # A new request of every source does see it.
    fresh = build_package_plan(request, later, "x2", owner="")
    assert "zz_added" in {p.source_name for p in fresh.parts}


def test_a_package_whose_stored_source_is_gone_fails_its_resume(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    request = _spec(tmp_path)
    stored = with_resolved_sources(request, build_package_plan(request, settings, "x1", owner=""))
    with pytest.raises(FailedPrecondition, match="sources changed"):
        build_package_plan(
            stored, _with_source(settings, tmp_path, None, drop="apps"), "x1", owner=""
        )


def test_a_request_listing_its_sources_is_stored_as_it_is(tmp_path: Path) -> None:
    request = _spec(tmp_path, "42", "events")
    package = build_package_plan(request, _settings(tmp_path), "x1", owner="")
    assert with_resolved_sources(request, package) == request


def test_create_export_stores_the_resolved_sources_and_a_retry_still_matches(
    tmp_path: Path,
) -> None:
    class _Runner:
        def submit(self, job_id: str) -> None:
            pass

    (tmp_path / "gdpr-password").write_text("correct horse battery staple\n")
    settings = _settings(tmp_path, secrets={"gdpr": f"file:{tmp_path / 'gdpr-password'}"})
    store = open_job_store(settings)
    service = ExportService(settings, store, _Runner(), EventHub())  # type: ignore[arg-type]
    job = service.create(_spec(tmp_path), "req-1", principal=ANONYMOUS)
    stored = store.get(job.id).spec
    assert stored.subject is not None and stored.subject.resolved_sources == ("apps", "events")
    # A package request naming no template is stored with the one it takes (gdpr's).
    assert stored.template == "gdpr"
    again = service.create(_spec(tmp_path), "req-1", principal=ANONYMOUS)
    assert again.id == job.id
    with pytest.raises(InvalidArgument):
        service.create(_spec(tmp_path, "7"), "req-1", principal=ANONYMOUS)


def test_a_package_left_unsealed_by_a_missing_secret_is_refused_naming_the_template(
    tmp_path: Path,
) -> None:
    """Without the gdpr secret a package naming no template is refused (it is never
    stored unencrypted instead), and the error says the encryption is the template's:
    the caller set none."""

    class _Runner:
        def submit(self, job_id: str) -> None:
            pass

    settings = _settings(tmp_path)
    service = ExportService(settings, open_job_store(settings), _Runner(), EventHub())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as caught:
        service.create(_spec(tmp_path, "42", "events"), principal=ANONYMOUS)
    [violation] = caught.value.violations
    assert violation.field == "spec.encryption.zip_password_ref"
    assert "so template 'gdpr' makes each file a zip" in violation.description
