"""Schedules and the people their specs may name, through a real daemon (gRPC on
127.0.0.1) keeping its jobs in SQLite and in a real PostgreSQL:

- a reader without admin gets a schedule's spec without what may be built per person:
  a destination folder named for the subject, the dataset, label values, a source file
  named for a person, the subject's own age key (an admin still sees them whole);
- package schedules stored before packages took the `gdpr` template by default are named
  at start, one WARNING each, by schedule name and never by subject, and kept as stored:
  listed, unchanged, nothing dropped."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.schedules import Schedule
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec, SubjectSpec
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration

SUBJECT = "ana.private@example.org"
NAME = "ana-private"
#: An age public key (a subject's own, say).
AGE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
JOB_STORES = ["sqlite", "postgresql"]


def _principal(name: str, token: str, scopes: list[str]) -> dict[str, object]:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return {"name": name, "token_sha256": digest, "scopes": scopes}


def _daemon(
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
    server: PostgresServer,
    job_store: str,
    **settings: Any,
) -> Daemon:
    (tmp_path / "gdpr-password").write_text("gdpr zip pass\n")
    daemon = daemon_factory(f"private-{job_store}", **settings)
    daemon.settings.update(
        secrets={"gdpr": f"file:{tmp_path / 'gdpr-password'}"},
        gdpr={"controller": "Example Ltd", "contact": "privacy@example.com"},
        sources={
            "people": {"uri": str(daemon.sources / "people.parquet"), "subject_column": "email"}
        },
    )
    if job_store == "postgresql":
        daemon.settings["job_store"] = server.new_database()
    daemon.sources.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": [1], "email": [SUBJECT]}).write_parquet(daemon.sources / "people.parquet")
    pl.DataFrame({"id": [1]}).write_parquet(daemon.sources / f"{NAME}.parquet")
    return daemon


@pytest.mark.parametrize("job_store", JOB_STORES)
def test_a_reader_sees_no_location_dataset_label_or_recipient_built_per_person(
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
    postgres_server: PostgresServer,
    job_store: str,
) -> None:
    tokens = {name: secrets.token_urlsafe(24) for name in ("root", "reader")}
    daemon = _daemon(daemon_factory, tmp_path, postgres_server, job_store)
    daemon.settings["auth"] = {
        "principals": [
            _principal("root", tokens["root"], ["admin"]),
            _principal("reader", tokens["reader"], ["exports:read"]),
        ]
    }
    daemon.start()
    package = pb.ExportSpec(
        destination=pb.Destination(uri=f"{daemon.exports}/dsar/{SUBJECT}", dataset=NAME),
        subject=pb.SubjectPackage(subject_id=SUBJECT, sources=["people"]),
        labels={"subject": SUBJECT, "team": "privacy"},
    )
    sealed = pb.ExportSpec(
        source=pb.Source(uri=str(daemon.sources / f"{NAME}.parquet")),
        destination=pb.Destination(uri=f"{daemon.exports}/people/{NAME}", dataset=NAME),
        encryption=pb.Encryption(age_recipients=[AGE]),
        labels={"person": NAME},
    )
    with ExportClient(daemon.address, token=tokens["root"], timeout=30) as root:
        root.create_schedule("dsar", package, cron="@daily", paused=True)
        root.create_schedule("sealed", sealed, cron="@daily", paused=True)
        whole = {s.name: s.spec for s in root.list_schedules()}
    # An admin sees them whole, and the test can fail.
    assert whole["dsar"].destination.uri.endswith(SUBJECT)
    assert dict(whole["dsar"].labels)["subject"] == SUBJECT
    assert list(whole["sealed"].encryption.age_recipients) == [AGE]
    assert whole["sealed"].source.uri.endswith(f"{NAME}.parquet")

    with ExportClient(daemon.address, token=tokens["reader"], timeout=30) as reader:
        listed = {s.name: s for s in reader.list_schedules()}
        got = [reader.get_schedule("dsar"), reader.get_schedule("sealed")]
    for schedule in [*listed.values(), *got]:
        stored = schedule.SerializeToString()
        assert [v for v in (SUBJECT, NAME, AGE) if v.encode() in stored] == [], schedule.name
    root_folder = "/" + str(daemon.exports).split("/")[1] + "/…"
    dsar, sealed_shown = listed["dsar"].spec, listed["sealed"].spec
    assert (dsar.destination.uri, dsar.destination.dataset) == (root_folder, "?")
    assert dict(dsar.labels) == {"subject": "?", "team": "?"}
    assert dsar.template == "gdpr" and list(dsar.subject.sources) == ["people"]
    assert sealed_shown.source.uri == root_folder
    assert list(sealed_shown.encryption.age_recipients) == ["?"]

    env = {"SLUICE_TOKEN": tokens["reader"]}
    for command in (("list", "--json"), ("get", "dsar", "--json"), ("get", "sealed")):
        result = run_cli(daemon, "schedule", *command, env=env)
        assert result.returncode == 0, result.stderr
        assert [v for v in (SUBJECT, NAME, AGE) if v in result.stdout] == [], command


def _seed(store: JobStore, name: str, spec: ExportSpec) -> None:
    """A schedule as CreateSchedule stored it before packages took `gdpr` by default."""
    start = datetime.now(UTC)
    store.create_schedule(
        Schedule(
            name=name,
            spec=spec,
            cron="@yearly",
            timezone="UTC",
            uid=secrets.token_hex(6),
            paused=True,
            created_at=start,
            next_tick=None,
        )
    )


@pytest.mark.parametrize("job_store", JOB_STORES)
def test_package_schedules_stored_without_a_template_are_named_at_start_and_kept(
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
    postgres_server: PostgresServer,
    job_store: str,
) -> None:
    daemon = _daemon(daemon_factory, tmp_path, postgres_server, job_store)
    url = str(daemon.settings.get("job_store", ""))
    store: JobStore = (
        PostgresJobStore(url) if url else SQLiteJobStore(daemon.state_dir / "jobs.sqlite3")
    )
    destination = DestinationSpec(str(daemon.exports), "gdpr")
    package = ExportSpec(
        source=SourceSpec(""), destination=destination, subject=SubjectSpec(SUBJECT, ("people",))
    )
    try:
        _seed(store, "dsar-a", package)
        _seed(store, "dsar-b", package)
        _seed(store, "sealed", replace(package, template="gdpr"))
        _seed(
            store,
            "plain",
            ExportSpec(SourceSpec(str(daemon.sources / "people.parquet")), destination),
        )
    finally:
        store.close()

    daemon.start()
    with ExportClient(daemon.address, timeout=30) as client:
        kept = {s.name: s.spec for s in client.list_schedules()}
    log = daemon.log_path.read_text()
    warned = [
        match.groups()
        for line in log.splitlines()
        if "stored without a template" in line
        for match in [re.search(r" ([A-Z]+) sluice\.scheduler: (schedule [^:]+):", line)]
        if match
    ]
    assert warned == [("WARNING", "schedule dsar-a"), ("WARNING", "schedule dsar-b")], log
    assert SUBJECT not in daemon.log_path.read_text()
    # Kept as stored: nothing dropped, nothing changed behind the operator's back.
    assert sorted(kept) == ["dsar-a", "dsar-b", "plain", "sealed"]
    assert (kept["dsar-a"].template, kept["dsar-b"].template) == ("", "")


def test_a_reader_is_not_shown_the_servers_last_export(
    daemon_factory: Callable[..., Daemon], tmp_path: Path, postgres_server: PostgresServer
) -> None:
    # The schedule's exports are the server's: NOT_FOUND to a reader's GetExport, so
    # their ids and states are not in the reader's view of the schedule either.
    tokens = {name: secrets.token_urlsafe(24) for name in ("root", "reader")}
    daemon = _daemon(daemon_factory, tmp_path, postgres_server, "sqlite")
    daemon.settings["auth"] = {
        "principals": [
            _principal("root", tokens["root"], ["admin"]),
            _principal("reader", tokens["reader"], ["exports:read"]),
        ]
    }
    daemon.start()
    spec = ExportClient.build_spec(
        source=str(daemon.sources / f"{NAME}.parquet"), to=str(daemon.exports), dataset="d"
    )
    with ExportClient(daemon.address, token=tokens["root"], timeout=30) as root:
        root.create_schedule("nightly", spec, cron="@daily", paused=True)
        ran = root.wait(root.trigger_schedule("nightly").id, timeout=120)
        seen = root.get_schedule("nightly")
    assert (seen.last_export_id, seen.last_export_state) == (ran.id, ran.state)
    with ExportClient(daemon.address, token=tokens["reader"], timeout=30) as reader:
        shown = [reader.get_schedule("nightly"), *reader.list_schedules()]
    for schedule in shown:
        assert schedule.last_export_id == "" and not schedule.last_export_state
        assert ran.id.encode() not in schedule.SerializeToString()
