"""`sluice ask` and PlanFromText through a real daemon: the plan, the command, unknown
words named (and nothing run), refusals as INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client.demo_data import generate
from tests.daemon import Daemon, run_cli

pytestmark = [pytest.mark.integration]


RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


@pytest.fixture
def daemon(daemon_factory) -> Daemon:  # type: ignore[no-untyped-def]
    d: Daemon = daemon_factory("ask", backup_recipients=[RECIPIENT])
    d.start()
    return d


def test_plan_from_text_over_grpc(daemon: Daemon) -> None:
    with ExportClient(daemon.address) as client:
        plan = client.plan_from_text(
            "backup everything encrypted as parquet from the last 7 days every night at 2",
            time_zone="Europe/Madrid",
        )
        assert (plan.template, plan.encryption, plan.spec.output.format) == (
            "backup",
            "recipients",
            "parquet",
        )
        assert plan.schedule_cron == "0 2 * * *"
        since = plan.spec.query.time_range.since.ToDatetime(tzinfo=UTC)
        assert abs(since - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=5)
        assert list(plan.unparsed_words) == []
        # "encrypted": the daemon's backup recipients; a passphrase it has not configured.
        assert list(plan.spec.encryption.age_recipients) == [RECIPIENT]
        with pytest.raises(InvalidArgumentError) as caught:
            client.plan_from_text("orders encrypted with a passphrase")
        assert "backup_passphrase_secret" in caught.value.message
        with pytest.raises(InvalidArgumentError) as caught:
            client.plan_from_text("orders as csv", time_zone="Mars/Olympus")
        assert [v.field for v in caught.value.violations] == ["time_zone"]
        with pytest.raises(InvalidArgumentError) as caught:
            client.plan_from_text("delete all my orders")
        assert [v.field for v in caught.value.violations] == ["text"]


def test_ask_prints_the_plan_and_names_unknown_words(daemon: Daemon) -> None:
    shown = run_cli(daemon, "ask", "orders as CSV sanitized in 2025", "--json")
    assert shown.returncode == 0, shown.stderr
    plan = json.loads(shown.stdout)
    assert plan["understood"] == ["as csv", "sanitized", "in 2025"]
    # No named sources on this daemon: "orders" is not understood, and said so.
    assert plan["unparsed_words"] == ["orders"]
    assert "--format csv" in plan["command"] and "--redact moderate" in plan["command"]
    encrypted = json.loads(run_cli(daemon, "ask", "orders encrypted", "--json").stdout)
    assert f"--encrypt-to {RECIPIENT}" in encrypted["command"]

    refused = run_cli(daemon, "ask", "orders as CSV pronto", "--to", str(daemon.exports), "--yes")
    assert refused.returncode == 1
    assert "not understood: 'orders', 'pronto'" in refused.stderr
    assert "command:    sluice export create" in refused.stdout
    # The spec is JSON, as --json and the API show it (it was a Python dict's repr).
    (spec_line,) = [line for line in refused.stdout.splitlines() if line.startswith("spec:")]
    assert json.loads(spec_line.removeprefix("spec:"))["output"]["format"] == "csv"

    wrong = run_cli(daemon, "ask", "erase the orders")
    assert wrong.returncode == 1
    assert "INVALID_ARGUMENT" in wrong.stderr and "only exports" in wrong.stderr


def test_ask_refuses_a_text_past_its_length_bound_in_one_line(daemon: Daemon) -> None:
    """The tokenizer takes about a microsecond a character: a READ caller's 64 MiB text
    would keep the daemon busy a minute. The text is bounded on arrival (2048 characters,
    request_bounds), the value never echoed."""
    text = "orders " + "x" * 5000
    refused = run_cli(daemon, "ask", text)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "sluice: error: INVALID_ARGUMENT: text: is 5007 characters long; at most 2048 allowed"
    )
    assert run_cli(daemon, "ask", "orders " + "x" * 2000, "--json").returncode == 0


def test_ask_runs_an_export_or_creates_a_schedule_of_a_named_source(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """With named sources the seed's requests run: "my job applications as CSV" exports
    the `applications` source, and "… every night at 2" creates a schedule instead."""
    d: Daemon = daemon_factory("ask-named")
    applications = generate(d.sources / "applications.parquet", 300, seed=4)
    d.settings["sources"] = {
        "applications": {
            "uri": str(applications),
            "description": "Job applications the user submitted",
        }
    }
    d.start()
    ran = run_cli(d, "ask", "my job applications as CSV", "--to", str(d.exports), "--yes")
    assert ran.returncode == 0, ran.stderr
    assert "command:    sluice export create --source-name applications" in ran.stdout
    with ExportClient(d.address) as client:
        (export,) = client.list()
        done = client.wait(export.id, timeout=60)
        assert done.spec.source.name == "applications" and done.spec.output.format == "csv"
        assert done.progress.records == 300

    nightly = run_cli(
        d, "ask", "my job applications as parquet every night at 2", "--to", str(d.exports), "--yes"
    )
    assert nightly.returncode == 0, nightly.stderr
    assert "sluice schedule create --name applications-scheduled --cron '0 2 * * *'" in (
        nightly.stdout
    )
    assert "schedule:   0 2 * * * (UTC)\n" in nightly.stdout
    with ExportClient(d.address) as client:
        (schedule,) = client.list_schedules()
        assert (schedule.name, schedule.cron) == ("applications-scheduled", "0 2 * * *")
        assert schedule.spec.source.name == "applications"
        assert schedule.spec.output.format == "parquet"

    stale = run_cli(
        d, "ask", "my job applications from last month every night at 2", "--to", "x", "--yes"
    )
    assert stale.returncode == 1 and "a schedule repeats" in stale.stderr


def test_ask_for_a_schedule_keeps_the_time_zone(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """ "every night at 2" asked in Europe/Madrid runs at 2 in Madrid: the command (printed
    and run) passes the zone on, where it created the schedule in UTC."""
    d: Daemon = daemon_factory("ask-zone")
    applications = generate(d.sources / "applications.parquet", 30, seed=4)
    d.settings["sources"] = {
        "applications": {"uri": str(applications), "description": "Job applications"}
    }
    d.start()
    asked = ["my job applications every night at 2", "--to", str(d.exports)]
    planned = run_cli(d, "ask", *asked, "--time-zone", "Europe/Madrid", "--json")
    assert planned.returncode == 0, planned.stderr
    assert "--timezone Europe/Madrid" in json.loads(planned.stdout)["command"]
    ran = run_cli(d, "ask", *asked, "--time-zone", "Europe/Madrid", "--yes")
    assert ran.returncode == 0, ran.stderr
    assert "--cron '0 2 * * *' --timezone Europe/Madrid" in ran.stdout
    assert "schedule:   0 2 * * * (Europe/Madrid)\n" in ran.stdout
    with ExportClient(d.address) as client:
        (schedule,) = client.list_schedules()
        assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "Europe/Madrid")


def test_ask_runs_nothing_it_could_not_read_nor_a_gdpr_request_without_a_subject(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Words in other scripts were dropped unread: "people as csv без личных данных"
    ("without personal data") ran with no redaction, e-mails in the clear. "For a GDPR
    request" ran template gdpr over everyone's rows, keeping their e-mail columns; the
    server refuses that template outside a subject package whoever asks."""
    d: Daemon = daemon_factory("ask-words")
    people = d.sources / "people.parquet"
    people.parent.mkdir(parents=True)
    pl.DataFrame({"id": [1, 2], "email": ["alice@example.com", "bob@example.com"]}).write_parquet(
        people
    )
    d.settings["sources"] = {
        "people": {"uri": str(people), "subject_column": "email", "description": "People"}
    }
    # The gdpr template's zip password: without it the template is refused for that.
    (d.root / "gdpr-password").write_text("pw\n")
    d.settings["secrets"] = {"gdpr": f"file:{d.root / 'gdpr-password'}"}
    d.start()
    for text, words in [
        ("people as csv без личных данных", "'без', 'личных', 'данных'"),
        ("people as csv 匿名化して", "'匿名化して'"),
        ("people as csv ohne persönliche Daten", "'ohne', 'persönliche', 'daten'"),
        ("people as csv 🙈", "'🙈'"),
    ]:
        refused = run_cli(d, "ask", text, "--to", str(d.exports), "--yes")
        assert refused.returncode == 1, (text, refused.stdout)
        assert f"not understood: {words};" in refused.stderr
    gdpr = run_cli(d, "ask", "people for gdpr request as csv", "--to", str(d.exports), "--yes")
    assert gdpr.returncode == 1
    assert "INVALID_ARGUMENT" in gdpr.stderr and "sluice gdpr package --subject" in gdpr.stderr
    direct = run_cli(
        d, "export", "create", "--source-name", "people", "--to", str(d.exports), "--dataset", "p",
        "--template", "gdpr", "--format", "csv",
    )  # fmt: skip
    assert direct.returncode == 1
    assert "INVALID_ARGUMENT" in direct.stderr and "spec.template" in direct.stderr
    assert "subject package" in direct.stderr
    with ExportClient(d.address) as client:
        assert list(client.list()) == []
