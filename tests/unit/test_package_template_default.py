"""A subject package naming no template takes `gdpr` when it is accepted (CreateExport,
CreateSchedule), not what was accepted before that default: a schedule stored without a
template runs as stored (and the daemon says at start which ones), and a retried
CreateExport of a package stored without one returns its export. Errors the template
causes on spec.encryption say that the request set none, and what works instead."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.server.errors import InvalidArgument, PermissionDenied
from sluice.server.jobs import Job, NewJob, SQLiteJobStore
from sluice.server.jobs.recovery import open_job_store
from sluice.server.jobs.schedules import Schedule
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import EncryptionSpec, ExportSpec, OutputSpec
from sluice.server.planning.subject_package import build_export_plan
from sluice.server.principals import ANONYMOUS, Principal, Scope
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService, new_export_id
from sluice.server.service.schedule_service import NewSchedule, ScheduleService
from sluice.server.service.scheduler import Scheduler
from sluice.server.settings import Settings
from tests.unit.test_subject_package_plan import _settings, _spec

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AGE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
BOB = Principal("bob", frozenset({Scope.CREATE, Scope.READ}), secrets=())


def _zstd(spec: ExportSpec) -> ExportSpec:
    return replace(spec, output=OutputSpec("", "zstd"))


class _Runner:
    def submit(self, job_id: str) -> None:
        pass


def _with_secret(root: Path) -> Settings:
    (root / "gdpr-password").write_text("correct horse battery staple\n")
    return _settings(root, secrets={"gdpr": f"file:{root / 'gdpr-password'}"})


def _service(settings: Settings) -> tuple[ExportService, JobStore]:
    store = open_job_store(settings)
    return ExportService(settings, store, _Runner(), EventHub()), store  # type: ignore[arg-type]


def _as_main_stored_it(store: JobStore, name: str, spec: ExportSpec) -> None:
    """A schedule as CreateSchedule stored it before the default: its spec as sent."""
    store.create_schedule(
        Schedule(
            name=name,
            spec=spec,
            cron="* * * * *",
            timezone="UTC",
            uid=secrets.token_hex(6),
            created_at=START,
            next_tick=START + timedelta(minutes=1),
        )
    )


def test_a_package_schedule_stored_without_a_template_runs_as_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each tick went through CreateExport's default, so a stored package schedule with
    its own compression zstd (or on a server without the gdpr secret, as here) failed
    every tick from the upgrade on. It runs as it ran; the daemon names it at start."""
    settings = _settings(tmp_path)  # no gdpr secret
    service, store = _service(settings)
    now = [START]
    scheduler = Scheduler(store, store, service.create_scheduled, clock=lambda: now[0])
    zstd = _zstd(_spec(tmp_path, "42", "events"))
    _as_main_stored_it(store, "dsar", zstd)
    _as_main_stored_it(store, "dsar-plain", _spec(tmp_path, "42", "events"))
    with caplog.at_level(logging.WARNING, logger="sluice.scheduler"):
        scheduler.start()  # no tick is due yet
        scheduler.stop()
    warnings = [r for r in caplog.records if r.name == "sluice.scheduler"]
    # One per schedule, by its name: each one an operator acts on, none its subject.
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "schedule dsar",
        "schedule dsar-plain",
    ]
    assert not [r for r in warnings if "42" in r.getMessage()]

    now[0] += timedelta(minutes=1, seconds=1)
    started = scheduler.run_due()
    assert sorted(job.spec.output.compression for job in started) == ["", "zstd"]
    assert {job.spec.template for job in started} == {""}
    for name in ("dsar", "dsar-plain"):
        assert store.get_schedule(name).last_error == "", name


def test_a_package_schedule_created_now_stores_and_runs_gdpr(tmp_path: Path) -> None:
    settings = _with_secret(tmp_path)
    service, store = _service(settings)
    now = [START]
    scheduler = Scheduler(store, store, service.create_scheduled, clock=lambda: now[0])
    schedules = ScheduleService(
        store,
        store,
        scheduler,
        lambda spec: build_export_plan(spec, settings, new_export_id(), owner=""),
        lambda: now[0],
    )
    schedules.create(NewSchedule("dsar", _spec(tmp_path, "42", "events"), "* * * * *"), ANONYMOUS)
    now[0] += timedelta(minutes=1, seconds=1)
    [job] = scheduler.run_due()
    assert job.spec.template == "gdpr"


def test_a_retry_of_a_package_accepted_before_the_default_returns_its_export(
    tmp_path: Path,
) -> None:
    """Stored without a template (and its fingerprint so); the retry was compared as
    naming gdpr: "already used for a different export request". Also by a principal
    without the gdpr secret, whose package was accepted then."""
    service, store = _service(_with_secret(tmp_path))
    sent = _spec(tmp_path, "42", "events")
    old, _ = store.create(NewJob("old-1", sent, "req-old", sent.fingerprint()))
    assert service.create(sent, "req-old", principal=ANONYMOUS).id == old.id
    bobs, _ = store.create(NewJob("old-2", sent, "req-bob", sent.fingerprint(), "bob"))
    assert service.create(sent, "req-bob", principal=BOB).id == bobs.id
    # Another request under the id is still refused, and a new one takes gdpr.
    with pytest.raises(InvalidArgument):
        service.create(_spec(tmp_path, "7", "events"), "req-old", principal=ANONYMOUS)
    assert service.create(sent, "req-new", principal=ANONYMOUS).spec.template == "gdpr"
    again = service.create(sent, "req-new", principal=ANONYMOUS)
    assert again.spec.template == "gdpr" and again.id != old.id


def _refused(settings: Settings, spec: ExportSpec, principal: Principal = ANONYMOUS) -> str:
    service, _ = _service(settings)
    with pytest.raises((InvalidArgument, PermissionDenied)) as caught:
        service.create(spec, principal=principal)
    return caught.value.message


def test_errors_the_gdpr_template_causes_say_what_works(tmp_path: Path) -> None:
    """The request set no encryption field: the message says the template set it and
    what works (compression zip or unset, own encryption, another template), without
    two parenthesised parts in a row; the same for a principal without the secret."""
    with_secret = _with_secret(tmp_path)
    zstd = _refused(with_secret, _zstd(_spec(tmp_path, "42", "events")))
    other = tmp_path / "other"
    missing = _refused(_settings(other), _spec(other, "42", "events"))
    denied = _refused(with_secret, _spec(tmp_path, "42", "events"), BOB)
    for message in (zstd, missing, denied):
        assert message.startswith("spec.encryption.zip_password_ref: "), message
        assert "the request sets no encryption, so template 'gdpr' makes each file a zip" in (
            message
        )
        assert "compression zip or unset" in message
        assert "bring the request's own encryption or name another template" in message
        assert ") (" not in message
    assert "not zstd" in zstd and "may not use this secret" in denied
    # Own encryption: no hint, the request works.
    age = replace(
        _spec(tmp_path, "42", "events", encryption=EncryptionSpec(age_recipients=(AGE,))),
        output=OutputSpec("", "none"),
    )
    service, _ = _service(with_secret)
    assert service.create(age, principal=ANONYMOUS).spec.encryption == age.encryption


def test_another_principal_learns_nothing_from_a_guessed_request(tmp_path: Path) -> None:
    """A retry compared as sent (before the default) is only for the caller who may see
    the export: another principal without the gdpr secret gets the same refusal whether
    its guess matches a stored request, does not, or names an unused request id."""
    service, store = _service(_with_secret(tmp_path))
    alice = _spec(tmp_path, "alice@example.com", "events")
    store.create(NewJob("old-a", alice, "req-alice", alice.fingerprint(), "alice"))
    mallory = Principal("mallory", frozenset({Scope.CREATE, Scope.READ}), secrets=())
    answers = set()
    for guess in ("bob@example.com", "alice@example.com"):
        for request_id in ("req-alice", "req-unused"):
            with pytest.raises(PermissionDenied) as refused:
                service.create(_spec(tmp_path, guess, "events"), request_id, principal=mallory)
            answers.add(refused.value.message)
    assert len(answers) == 1


def test_package_schedules_are_named_once_the_store_can_be_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job store that cannot be read at start (here its schedules table is set aside
    by another connection): the check is not dropped silently but made on a later
    scheduler pass, once the store reads again."""
    path = tmp_path / "state" / "jobs.sqlite3"
    store = SQLiteJobStore(path)
    _as_main_stored_it(store, "dsar", _spec(tmp_path, "42", "events"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("ALTER TABLE schedules RENAME TO schedules_aside")
    scheduler = Scheduler(store, store, _no_export, clock=lambda: START, poll_seconds=0.05)
    named: list[str] = []
    try:
        with caplog.at_level(logging.WARNING, logger="sluice.scheduler"):
            scheduler.start()
            # Said once while the store stays unreadable: each pass logs its own ERROR.
            failed_passes: list[str] = []
            deadline = time.monotonic() + 30
            while len(failed_passes) < 3 and time.monotonic() < deadline:
                failed_passes = [
                    r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
                ]
                time.sleep(0.02)
            assert len(failed_passes) >= 3
            [unreadable] = [
                r.getMessage() for r in caplog.records if r.getMessage().startswith("schedules:")
            ]
            assert "checking again on the next pass" in unreadable
            other.execute("ALTER TABLE schedules_aside RENAME TO schedules")
            other.close()
            deadline = time.monotonic() + 30
            while not named and time.monotonic() < deadline:
                named = [
                    r.getMessage()
                    for r in caplog.records
                    if r.getMessage().startswith("schedule dsar: ")
                ]
                time.sleep(0.02)
    finally:
        scheduler.stop()
        store.close()
    assert len(named) == 1 and "42" not in named[0]


def _no_export(spec: ExportSpec, request_id: str) -> Job:
    raise AssertionError("no tick is due")
