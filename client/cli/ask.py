"""`sluice ask "..."`: a plain-language request, read by the server's deterministic
parser (PlanFromText), shown as the exact `sluice export create` command and the spec;
run only after confirmation (`--yes` for scripts) and only when every word was
understood."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import click
from google.protobuf.json_format import MessageToDict

from sluice.client._convert import timestamp_datetime
from sluice.client.cli.context import cli_state
from sluice.client.cli.output import CliError, print_json
from sluice.v1 import export_pb2


def export_command(
    plan: export_pb2.PlanFromTextResponse, destination: str, name: str = "", time_zone: str = ""
) -> list[str]:
    """The argv that does what the plan says: `sluice export create`, or for a request
    that asked for a schedule ("every night at 2"), `sluice schedule create` with the
    same export options, its cron read in `time_zone` (the zone the request was read in;
    "": the schedule's default, UTC)."""
    spec = plan.spec
    if plan.schedule_cron:
        argv = ["sluice", "schedule", "create", "--name", name or schedule_name(plan)]
        argv += ["--cron", plan.schedule_cron]
        if time_zone:
            argv += ["--timezone", time_zone]
    else:
        argv = ["sluice", "export", "create"]
    argv += ["--source-name", plan.source_name or "SOURCE"]
    argv += ["--to", destination or "DEST", "--dataset", plan.source_name or "DATASET"]
    if plan.template:
        argv += ["--template", plan.template]
    if spec.output.format:
        argv += ["--format", spec.output.format]
    if plan.report:
        argv += ["--report"]  # report.html and report.pdf, whichever was asked for
    since = timestamp_datetime(spec.query.time_range, "since")
    until = timestamp_datetime(spec.query.time_range, "until")
    if since is not None:
        argv += ["--since", since.isoformat()]
    if until is not None:
        argv += ["--until", until.isoformat()]
    if spec.redaction.level:
        argv += ["--redact", spec.redaction.level]
    for recipient in spec.encryption.age_recipients:
        argv += ["--encrypt-to", recipient]
    if spec.encryption.age_passphrase_ref:
        argv += ["--passphrase-secret", spec.encryption.age_passphrase_ref]
    return argv


def schedule_name(plan: export_pb2.PlanFromTextResponse) -> str:
    """A schedule name from what the request exports: `<source>-nightly` style."""
    return f"{plan.source_name or 'export'}-{_CADENCE.get(plan.schedule_cron, 'scheduled')}"


_CADENCE = {"@daily": "daily", "@weekly": "weekly", "@monthly": "monthly", "@hourly": "hourly"}


def plan_to_dict(
    plan: export_pb2.PlanFromTextResponse, destination: str, time_zone: str = ""
) -> dict[str, Any]:
    return {
        "command": shlex.join(export_command(plan, destination, time_zone=time_zone)),
        "source_name": plan.source_name,
        "template": plan.template,
        "report": plan.report,
        "encryption": plan.encryption,
        "schedule_cron": plan.schedule_cron,
        "understood": list(plan.understood),
        "unparsed_words": list(plan.unparsed_words),
        "spec": MessageToDict(plan.spec),
    }


@click.command("ask")
@click.argument("text")
@click.option("--to", "destination", default="", metavar="DEST", help="Where the export goes.")
@click.option(
    "--time-zone",
    default="",
    metavar="ZONE",
    help='IANA zone "last month" and a schedule\'s hours are meant in (e.g. Europe/Madrid) '
    "[default: the server's for ranges, UTC for schedules].",
)
@click.option("--yes", is_flag=True, help="Run the plan without asking (scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON; run nothing.")
def ask(text: str, destination: str, time_zone: str, yes: bool, as_json: bool) -> None:
    """Turn a plain-language request into an export, e.g.
    sluice ask "my job applications from last month as CSV" --to ./out

    Shows the exact `sluice export create` command and names every word it did not
    understand; runs only after you confirm (or with --yes), and never with words left
    unexplained."""
    with cli_state().client() as sluice:
        plan = sluice.plan_from_text(text, time_zone=time_zone)
    shown = plan_to_dict(plan, destination, time_zone)
    if as_json:
        print_json(shown)
        return
    click.echo(f"understood: {', '.join(shown['understood']) or '(nothing)'}")
    if plan.source_name:
        click.echo(f"source:     {plan.source_name}")
    if plan.schedule_cron:
        # The cron's hours are read in --time-zone, UTC without one (as the command runs it).
        click.echo(f"schedule:   {plan.schedule_cron} ({time_zone or 'UTC'})")
    click.echo(f"spec:       {json.dumps(MessageToDict(plan.spec), ensure_ascii=False)}")
    click.echo(f"command:    {shown['command']}")
    if plan.unparsed_words:
        words = ", ".join(f"'{word}'" for word in plan.unparsed_words)
        raise CliError(f"not understood: {words}; rephrase, or run the command yourself")
    if not plan.source_name:
        raise CliError("which data? name one of the server's named sources")
    if not destination:
        raise CliError("give --to DEST to run it")
    if plan.schedule_cron and plan.spec.query.HasField("time_range"):
        # A fixed window ("last month" as of today) would be wrong at every later tick.
        raise CliError(
            "a schedule repeats: a time range read as of today would be stale at its next "
            "tick; ask without one (incremental schedules send only what changed)"
        )
    if not yes and not (sys.stdin.isatty() and click.confirm("run it?", default=False)):
        click.echo("not run (confirm, or pass --yes)")
        return
    from sluice.client.cli.main import cli  # the root group, to run the printed command

    _, group_name, command_name, *args = export_command(plan, destination, time_zone=time_zone)
    group = cli.commands[group_name]
    assert isinstance(group, click.Group)
    # The leaf command itself, with this invocation's state (server, TLS, token).
    group.commands[command_name].main(
        args, prog_name=f"sluice {group_name} {command_name}", standalone_mode=False,
        obj=cli_state(),
    )  # fmt: skip
