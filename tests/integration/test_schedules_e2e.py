"""Schedules through a real daemon and the `sluice schedule` CLI: create one with the
usual export flags, trigger it, read the export back; an incremental schedule chains its
exports; bad input is INVALID_ARGUMENT naming the field; a reader who is not an admin
sees a schedule's spec without the people it names.

Ticks by the clock, policies and several schedulers on one PostgreSQL store are covered
with a controllable clock in tests/unit/test_schedules.py (a second daemon on one
PostgreSQL store is still refused at start until leases land)."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, FailedPreconditionError, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, read_export
from tests.integration.test_replicas import Replicas
from tests.python_stacks import python_threads
from tests.servers.postgres import PostgresServer
from tests.waiting import until

pytestmark = pytest.mark.integration


def _cli_json(daemon: Daemon, *args: str) -> dict[str, object]:
    result = run_cli(daemon, *args, "--json")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_a_schedule_created_from_the_cli_runs_its_export_on_trigger_and_chains(
    daemon: Daemon,
) -> None:
    source = generate(daemon.sources / "orders.parquet", 1_500, seed=5)
    created = _cli_json(
        daemon,
        "schedule", "create",
        "--name", "nightly-orders",
        "--cron", "0 2 * * *",
        "--timezone", "Europe/Madrid",
        "--source", str(source),
        "--to", str(daemon.exports),
        "--dataset", "orders",
        "--format", "jsonl",
        "--mode", "incremental",
        "--cursor", "updated_at",
        "--label", "team=sales",
    )  # fmt: skip
    assert created["timezone"] == "Europe/Madrid" and created["concurrency"] == "forbid"
    assert created["catch_up"] == "skip" and created["paused"] is False
    next_tick = str(created["next_tick"])
    # 02:00 in Madrid is 00:00 or 01:00 UTC, depending on the season.
    assert next_tick.endswith(("T00:00:00Z", "T01:00:00Z"))

    triggered = run_cli(daemon, "schedule", "trigger", "nightly-orders")
    assert triggered.returncode == 0, triggered.stderr
    first_id = triggered.stdout.strip()
    with ExportClient(daemon.address) as client:
        first = client.wait(first_id, timeout=120)
        assert dict(first.spec.labels) == {"team": "sales", "sluice.schedule": "nightly-orders"}
        assert read_export(first.manifest_uri).height == 1_500
        shown = _cli_json(daemon, "schedule", "get", "nightly-orders")
        assert shown["last_export_id"] == first_id
        assert shown["last_export_state"] == "succeeded"

        # 40 rows change after the first run: the next run sends only them.
        rows = pl.read_parquet(source)
        later = rows["updated_at"].max() + timedelta(hours=1)  # type: ignore[operator]
        changed = rows.with_columns(
            pl.when(pl.col("id") < rows["id"].min() + 40)  # type: ignore[operator]
            .then(pl.lit(later))
            .otherwise(pl.col("updated_at"))
            .alias("updated_at")
        )
        changed.write_parquet(source)
        second = client.wait(client.trigger_schedule("nightly-orders").id, timeout=120)
        assert read_export(second.manifest_uri).height == 40
        assert load_manifest(second.manifest_uri)["parent_export_id"] == first_id

        listed = run_cli(daemon, "schedule", "list")
        assert listed.returncode == 0 and "nightly-orders" in listed.stdout
        assert second.id in listed.stdout
        paused = _cli_json(daemon, "schedule", "pause", "nightly-orders")
        assert paused["paused"] is True and paused["next_tick"] is None
        resumed = _cli_json(daemon, "schedule", "resume", "nightly-orders")
        assert resumed["paused"] is False and resumed["next_tick"] == next_tick
        by_label = client.list(labels={"sluice.schedule": "nightly-orders"})
        assert {e.id for e in by_label} == {first_id, second.id}

        deleted = run_cli(daemon, "schedule", "delete", "nightly-orders")
        assert deleted.returncode == 0, deleted.stderr
        gone = run_cli(daemon, "schedule", "get", "nightly-orders")
        assert gone.returncode == 1 and "not found" in gone.stderr
        # Its exports stay.
        assert client.get(first_id).state == first.state


def test_bad_schedules_are_invalid_argument_naming_the_field(daemon: Daemon) -> None:
    source = generate(daemon.sources / "orders.parquet", 10, seed=5)
    spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="orders")
    cases = [
        ({"name": "Nightly Orders", "cron": "@daily"}, "name"),
        ({"name": "n", "cron": "0 25 * * *"}, "cron"),
        ({"name": "n", "cron": "@daily", "timezone": "Europe/Nowhere"}, "timezone"),
        ({"name": "n", "cron": "@daily", "concurrency": "maybe"}, "concurrency"),
        ({"name": "n", "cron": "@daily", "catch_up": "everything"}, "catch_up"),
    ]
    with ExportClient(daemon.address) as client:
        for arguments, field_name in cases:
            with pytest.raises(InvalidArgumentError) as caught:
                client.create_schedule(spec=spec, **arguments)  # type: ignore[arg-type]
            assert [v.field for v in caught.value.violations] == [field_name]
        bad_spec = ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset="orders", format="docx"
        )
        with pytest.raises(InvalidArgumentError) as caught:
            client.create_schedule("n", bad_spec, cron="@daily")
        assert [v.field for v in caught.value.violations] == ["spec.output.format"]
        assert client.list_schedules() == []

    cli = run_cli(
        daemon,
        "schedule", "create", "--name", "x", "--cron", "@sometimes",
        "--source", str(source), "--to", str(daemon.exports), "--dataset", "d",
    )  # fmt: skip
    assert cli.returncode == 1 and "cron" in cli.stderr


def test_a_schedule_is_refused_notify_targets_its_ticks_could_not_deliver(
    daemon: Daemon,
) -> None:
    """CreateSchedule checked the spec as CreateExport does, except its notify targets:
    a target the daemon cannot deliver (a URL without a scheme, plain http:// to another
    host, mailto: without [smtp]) was accepted, every tick then failed on spec.notify,
    and the schedule showed the token in the path whole."""
    source = generate(daemon.sources / "orders.parquet", 10, seed=5)
    targets = [
        "hooks.slack.com/services/T/B/SECRETX",
        "http://hooks.example.com/services/T/B/SECRETX",
        "mailto:ops@example.com",
    ]
    with ExportClient(daemon.address) as client:
        for target in targets:
            spec = ExportClient.build_spec(
                source=str(source), to=str(daemon.exports), dataset="orders", notify=[target]
            )
            with pytest.raises(InvalidArgumentError) as caught:
                client.create_schedule("nn", spec, cron="@daily")
            assert [v.field for v in caught.value.violations] == ["spec.notify"], target
            assert "SECRETX" not in str(caught.value), str(caught.value)
        assert client.list_schedules() == []
    cli = run_cli(
        daemon,
        "schedule", "create", "--name", "nn", "--cron", "@daily",
        "--source", str(source), "--to", str(daemon.exports), "--dataset", "d",
        "--notify", "hooks.slack.com/services/T/B/SECRETX",
    )  # fmt: skip
    assert cli.returncode == 1, cli.stderr
    assert "spec.notify" in cli.stderr and "SECRETX" not in cli.stderr, cli.stderr
    assert "an unknown target (not a URL or configured name" in cli.stderr, cli.stderr


def test_a_bad_cron_field_is_named_with_its_range(daemon: Daemon) -> None:
    """`0 25 * * *` was only "is not a valid cron expression": which of five fields, and
    what it may hold, was left to the reader."""
    source = generate(daemon.sources / "orders.parquet", 10, seed=5)
    cases = {
        "0 25 * * *": "hour '25' is out of range 0-23",
        "61 2 * * *": "minute '61' is out of range 0-59",
        "0 2 32 * *": "day of month '32' is out of range 1-31",
        "0 2 * 13 *": "month '13' is out of range 1-12",
        "0 2 * * 8": "day of week '8' is out of range 0-7",
        "*/0 2 * * *": "minute '*/0' is not valid",
        "0 2 * * MON-XYZ": "day of week 'MON-XYZ' is not valid",
    }
    for cron, said in cases.items():
        cli = run_cli(
            daemon,
            "schedule", "create", "--name", "x", "--cron", cron,
            "--source", str(source), "--to", str(daemon.exports), "--dataset", "d",
        )  # fmt: skip
        assert cli.returncode == 1, cli.stderr
        line = cli.stderr.strip()
        assert line == f"sluice: error: INVALID_ARGUMENT: cron: {said} in {cron!r}", line


@pytest.mark.parametrize("job_store", ["sqlite", "postgresql"])
def test_the_daemon_itself_fires_a_tick_once_even_across_a_restart(
    daemon_factory,  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest,
    job_store: str,
) -> None:
    """Waits for one real minute boundary (cron has minutes, no seconds). On PostgreSQL
    the daemon after the restart is another one (its own state folder) on the same
    store, as a replica taking over would be."""
    settings: dict[str, object] = {"schedule_poll_seconds": 0.2}
    if job_store == "postgresql":
        settings["job_store"] = request.getfixturevalue("postgres_server").new_database()
    daemon = daemon_factory("ticking", **settings)
    daemon.start()
    source = generate(daemon.sources / "orders.parquet", 200, seed=5)
    spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="orders")
    runs = {"sluice.schedule": "every-minute"}
    with ExportClient(daemon.address) as client:
        created = client.create_schedule("every-minute", spec, cron="* * * * *")
        deadline = time.monotonic() + 90
        while not list(client.list(labels=runs)):
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.2)
        (export,) = list(client.list(labels=runs))
        # Under "forbid" (the default) the export is named by the one it follows.
        assert export.request_id.endswith("/after-none")
        assert client.get_schedule("every-minute").last_tick == created.next_tick
        client.wait(export.id, timeout=60)
        client.pause_schedule("every-minute")  # no second tick while the test goes on
    daemon.stop()
    if job_store == "postgresql":
        daemon = daemon_factory("replica", **settings)
    daemon.start()
    # The tick is recorded in the store: still one export for it.
    with ExportClient(daemon.address) as client:
        shown = client.get_schedule("every-minute")
        assert shown.last_export_id == export.id
        assert shown.last_export_state == pb.EXPORT_STATE_SUCCEEDED
        assert shown.last_tick == created.next_tick
        assert len(list(client.list(labels=runs))) == 1


def _between_passes(daemon: Daemon) -> bool:
    """Whether the daemon's scheduler waits for its next pass right now."""
    assert daemon.process is not None
    threads = python_threads(daemon.process.pid)
    if threads is None:
        return False
    (scheduler,) = [t for t in threads if t.name == "scheduler"]
    return "Scheduler._loop" in scheduler.frames and "Scheduler.run_due" not in scheduler.frames


def test_three_daemons_on_one_store_fire_a_tick_once(
    daemon_factory,  # type: ignore[no-untyped-def]
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    """Three replicas polling one PostgreSQL store every 0.2 s through one real minute
    boundary: the tick is one export, whichever replica saw it first."""
    replicas = Replicas(daemon_factory, tmp_path, postgres_server.new_database())
    daemons = replicas.start(3, schedule_poll_seconds=0.2)
    source = generate(replicas.sources / "orders.parquet", 200, seed=6)
    spec = ExportClient.build_spec(source=str(source), to=str(replicas.exports), dataset="orders")
    runs = {"sluice.schedule": "every-minute"}
    with ExportClient(daemons[0].address) as client:
        created = client.create_schedule("every-minute", spec, cron="* * * * *")
        deadline = time.monotonic() + 90
        while not list(client.list(labels=runs)):
            assert time.monotonic() < deadline, daemons[0].log_tail()
            time.sleep(0.2)
        (export,) = list(client.list(labels=runs))
        client.wait(export.id, timeout=60)
        client.pause_schedule("every-minute")
        # The tick is recorded (its next tick moved on) once the schedule names its export.
        until(
            lambda: client.get_schedule("every-minute").last_export_id == export.id,
            "the tick was never recorded",
        )
    # A replica seen between two passes after that has ended any pass that found the
    # tick due before it was recorded: a second export for it would show by then.
    for daemon in daemons:
        until(partial(_between_passes, daemon), "a scheduler pass never ended", within=30)
    for daemon in daemons:
        with ExportClient(daemon.address) as client:
            assert [e.id for e in client.list(labels=runs)] == [export.id]
            assert client.get_schedule("every-minute").last_tick == created.next_tick


SENTINEL = "subject.sentinel@example.com"
BIRTH_DATE = "1990-04-01"


def _principal(name: str, token: str, scopes: list[str]) -> dict[str, object]:
    return {
        "name": name,
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "scopes": scopes,
    }


def test_a_reader_sees_a_schedules_spec_without_the_people_it_names(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """A schedule is readable with exports:read, but its exports are the server's
    (NOT_FOUND to a reader): the subject id of a scheduled GDPR package, the literals of
    a where and of a database query, ids, a mailto: notify target, and the last tick's
    error quoting a literal reached every reader in the clear. A reader or a creator
    without admin now gets them as "?" (ids: as many "?"; the error: its field and a
    sentence), through the API and `sluice schedule list/get` (JSON and text); an admin
    still sees the spec and error whole. Waits for one real minute boundary."""
    tokens = {name: secrets.token_urlsafe(24) for name in ("root", "reader", "bob")}
    (tmp_path / "gdpr-password").write_text("gdpr zip pass\n")
    daemon: Daemon = daemon_factory("private", schedule_poll_seconds=0.2)
    people = daemon.sources / "people.db"
    daemon.sources.mkdir(parents=True, exist_ok=True)
    births = daemon.sources / "births.parquet"
    pl.DataFrame({"id": [7], "dob": [BIRTH_DATE]}).write_parquet(births)
    with sqlite3.connect(people) as db:
        db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, amount INT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [(7, SENTINEL, 20), (8, "x@y.z", 5)])
    daemon.settings.update(
        auth={
            "principals": [
                _principal("root", tokens["root"], ["admin"]),
                _principal("reader", tokens["reader"], ["exports:read"]),
                _principal("bob", tokens["bob"], ["exports:create", "exports:read"]),
            ]
        },
        secrets={"gdpr": f"file:{tmp_path / 'gdpr-password'}"},
        gdpr={"controller": "Example Ltd", "contact": "privacy@example.com"},
        smtp={"host": "127.0.0.1", "from": "sluice@example.com"},  # nothing is sent
        sources={
            "people": {
                "uri": f"sqlite://{people}",
                "table": "people",
                "subject_column": "email",
            }
        },
    )
    daemon.start()
    package = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        subject=pb.SubjectPackage(subject_id=SENTINEL, sources=["people"]),
        template="gdpr",
    )
    selected = pb.ExportSpec(
        source=pb.Source(
            uri=f"sqlite://{people}",
            query=f"SELECT id, email, amount FROM people WHERE email <> '{SENTINEL}x'",
            order_by=["id"],
        ),
        destination=pb.Destination(uri=str(daemon.exports), dataset="people"),
        query=pb.Query(where=f"email = '{SENTINEL}' AND amount > 10", ids=["7", "8"]),
        notify=[f"mailto:{SENTINEL}"],
    )
    # Plans while dob is text; once it is a date, each tick's error repeats the literal.
    born = pb.ExportSpec(
        source=pb.Source(uri=str(births)),
        destination=pb.Destination(uri=str(daemon.exports), dataset="births"),
        query=pb.Query(where=f"dob = '{BIRTH_DATE}'"),
    )
    with ExportClient(daemon.address, token=tokens["root"], timeout=30) as root:
        root.create_schedule("dsar", package, cron="@daily", paused=True)
        root.create_schedule("selected", selected, cron="@daily", paused=True)
        root.create_schedule("born", born, cron="* * * * *")
        pl.DataFrame({"id": [7], "dob": [date.fromisoformat(BIRTH_DATE)]}).write_parquet(births)
        until(
            lambda: bool(root.get_schedule("born").last_error),
            "no tick recorded an error",
            within=120,
        )
        root.pause_schedule("born")
        assert BIRTH_DATE in root.get_schedule("born").last_error  # an admin's is whole
        # An admin sees the spec whole.
        whole = {s.name: s.spec for s in root.list_schedules()}
        assert whole["dsar"].subject.subject_id == SENTINEL
        got = root.get_schedule("selected").spec.query
        assert (got.where, list(got.ids)) == (selected.query.where, ["7", "8"])
        assert whole["selected"].source.query == selected.source.query

    for who in ("reader", "bob"):
        with ExportClient(daemon.address, token=tokens[who], timeout=30) as client:
            listed = {s.name: s for s in client.list_schedules()}
            shown = [listed["dsar"], listed["selected"]]
            shown += [client.get_schedule("dsar"), client.get_schedule("selected")]
        for schedule in shown:
            assert SENTINEL.encode() not in schedule.SerializeToString(), who
        dsar, masked = listed["dsar"].spec, listed["selected"].spec
        assert dsar.subject.subject_id == "?" and list(dsar.subject.sources) == ["people"]
        assert dsar.template == "gdpr"
        assert masked.query.where == "email = ? AND amount > ?"
        assert list(masked.query.ids) == ["?", "?"]
        assert masked.source.query == "SELECT id, email, amount FROM people WHERE email <> ?"
        # Locations keep their root, datasets and label values are "?" (maybe per person).
        root_folder = f"/{daemon.exports.parts[1]}/…"  # /tmp/…
        assert masked.destination.uri == root_folder
        assert masked.source.uri == f"sqlite://{root_folder}"
        assert masked.destination.dataset == "?"
        assert list(masked.notify) == ["mailto:?"]
        assert listed["born"].last_error.startswith("spec.query.where: ")
        assert BIRTH_DATE not in listed["born"].last_error

    reader = {"SLUICE_TOKEN": tokens["reader"]}
    for command in (("list",), ("get", "dsar"), ("get", "selected")):
        result = run_cli(daemon, "schedule", *command, "--json", env=reader)
        assert result.returncode == 0, result.stderr
        assert SENTINEL not in result.stdout, command
    listed_json = json.loads(run_cli(daemon, "schedule", "list", "--json", env=reader).stdout)
    by_name = {s["name"]: s["spec"] for s in listed_json}
    assert by_name["dsar"]["subject"]["subjectId"] == "?"
    assert by_name["selected"]["query"]["ids"] == ["?", "?"]
    text = run_cli(daemon, "schedule", "list", env=reader)
    assert text.returncode == 0 and "dsar" in text.stdout and SENTINEL not in text.stdout
    # Plain `get` prints last_error too.
    for name in ("dsar", "selected", "born"):
        got = run_cli(daemon, "schedule", "get", name, env=reader)
        assert got.returncode == 0, got.stderr
        assert SENTINEL not in got.stdout and BIRTH_DATE not in got.stdout, name
    got = run_cli(daemon, "schedule", "get", "born", env=reader)
    assert "last_error:" in got.stdout and "spec.query.where: " in got.stdout
    whole = run_cli(daemon, "schedule", "get", "born", env={"SLUICE_TOKEN": tokens["root"]})
    assert whole.returncode == 0 and BIRTH_DATE in whole.stdout


@pytest.mark.slow
def test_triggers_sent_to_three_replicas_at_once_start_one_export(
    daemon_factory,  # type: ignore[no-untyped-def]
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    """TriggerSchedule on a "forbid" schedule, to every replica at the same moment: one
    export starts, the others are FAILED_PRECONDITION (each replica checked that the last
    export had ended, then created its own, before the export was named by the one it
    follows)."""
    replicas = Replicas(daemon_factory, tmp_path, postgres_server.new_database())
    daemons = replicas.start(3)
    source = generate(replicas.sources / "orders.parquet", 2_000, seed=3)
    spec = ExportClient.build_spec(source=str(source), to=str(replicas.exports), dataset="o")
    with ExportClient(daemons[0].address) as admin:
        admin.create_schedule("by-hand", spec, cron="@yearly")
    clients = [ExportClient(d.address) for d in daemons]
    try:
        for _ in range(3):
            barrier = threading.Barrier(len(clients), timeout=30)
            answers: list[object] = [None] * len(clients)

            def trigger(
                i: int, barrier: threading.Barrier = barrier, answers: list[object] = answers
            ) -> None:
                barrier.wait()
                try:
                    answers[i] = clients[i].trigger_schedule("by-hand")
                except FailedPreconditionError as exc:
                    answers[i] = exc

            threads = [threading.Thread(target=trigger, args=(i,)) for i in range(len(clients))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            started = [a for a in answers if isinstance(a, pb.Export)]
            assert len(started) == 1, answers
            assert sum(isinstance(a, FailedPreconditionError) for a in answers) == 2, answers
            clients[0].wait(started[0].id, timeout=120)
        assert len(list(clients[0].list(labels={"sluice.schedule": "by-hand"}))) == 3
    finally:
        for client in clients:
            client.close()
