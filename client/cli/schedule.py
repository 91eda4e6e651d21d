"""`sluice schedule ...`: exports run by the daemon on a cron, in a time zone."""

from __future__ import annotations

from typing import Any

import click
from google.protobuf.json_format import MessageToDict
from rich.table import Table

from sluice.client._convert import export_to_dict, state_name, timestamp_text
from sluice.client.cli.context import cli_state
from sluice.client.cli.export import spec_from_options, spec_options
from sluice.client.cli.output import print_json, print_wide, stdout
from sluice.v1 import export_pb2

JSON_HELP = "Print JSON instead of text."


@click.group("schedule")
def schedule_group() -> None:
    """Run exports on a cron (nightly syncs without an external cron job)."""


def schedule_to_dict(schedule: export_pb2.Schedule) -> dict[str, Any]:
    """The JSON shape of a schedule, the same in every `schedule` command."""
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "concurrency": schedule.concurrency,
        "catch_up": schedule.catch_up,
        "paused": schedule.paused,
        "created_at": timestamp_text(schedule, "created_at"),
        "next_tick": timestamp_text(schedule, "next_tick"),
        "last_tick": timestamp_text(schedule, "last_tick"),
        "last_export_id": schedule.last_export_id,
        "last_export_state": state_name(schedule.last_export_state)
        if schedule.last_export_id
        else None,
        "skipped_ticks": schedule.skipped_ticks,
        "last_skipped_tick": timestamp_text(schedule, "last_skipped_tick"),
        "last_error": schedule.last_error,
        "spec": MessageToDict(schedule.spec),
    }


def _print(schedule: export_pb2.Schedule, as_json: bool) -> None:
    shown = schedule_to_dict(schedule)
    if as_json:
        print_json(shown)
        return
    for key, value in shown.items():
        if key != "spec" and value not in (None, ""):
            click.echo(f"{key + ':':<19}{value}")


@schedule_group.command("create")
@click.option(
    "--name",
    required=True,
    metavar="NAME",
    help="1-63 lowercase letters, digits, '.', '_', '-' (e.g. nightly-orders).",
)
@click.option(
    "--cron",
    required=True,
    metavar="EXPR",
    help='Five fields (minute hour day month weekday), e.g. "0 2 * * *", or @hourly, '
    "@daily, @weekly, @monthly.",
)
@click.option(
    "--timezone",
    default="",
    metavar="ZONE",
    help="IANA time zone the cron is read in, e.g. Europe/Madrid. Default: UTC.",
)
@click.option(
    "--concurrency",
    type=click.Choice(["forbid", "allow"]),
    default=None,
    help="A tick while the previous export is unfinished: skip it (forbid, default) or run.",
)
@click.option(
    "--catch-up",
    type=click.Choice(["skip", "latest"]),
    default=None,
    help="Ticks missed while no daemon ran: skip them (default) or run the latest once.",
)
@click.option("--paused", is_flag=True, help="Create it paused (`schedule resume` starts it).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def create(
    name: str,
    cron: str,
    timezone: str,
    concurrency: str | None,
    catch_up: str | None,
    paused: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Create a schedule: the usual `export create` options say what each tick exports
    (with --mode incremental each export continues from the previous one)."""
    spec = spec_from_options(**options)
    with cli_state().client() as sluice:
        schedule = sluice.create_schedule(
            name,
            spec,
            cron=cron,
            timezone=timezone,
            concurrency=concurrency or "",
            catch_up=catch_up or "",
            paused=paused,
        )
    _print(schedule, as_json)


create.params.extend(spec_options())


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of schedules.")
def list_schedules(as_json: bool) -> None:
    """Every schedule, by name, with its next tick and last export."""
    with cli_state().client() as sluice:
        schedules = sluice.list_schedules()
    if as_json:
        print_json([schedule_to_dict(s) for s in schedules])
        return
    table = Table("NAME", "CRON", "TIMEZONE", "NEXT TICK", "LAST EXPORT", "STATE", "SKIPPED")
    for schedule in schedules:
        shown = schedule_to_dict(schedule)
        table.add_row(
            shown["name"] + (" (paused)" if shown["paused"] else ""),
            shown["cron"],
            shown["timezone"],
            shown["next_tick"] or "-",
            shown["last_export_id"] or "-",
            shown["last_export_state"] or "-",
            str(shown["skipped_ticks"]),
        )
    print_wide(stdout(), table)


@schedule_group.command("get")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def get(name: str, as_json: bool) -> None:
    """Show a schedule: its last and next tick, last export and its state."""
    with cli_state().client() as sluice:
        _print(sluice.get_schedule(name), as_json)


@schedule_group.command("pause")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def pause(name: str, as_json: bool) -> None:
    """Stop creating exports (running ones continue)."""
    with cli_state().client() as sluice:
        _print(sluice.pause_schedule(name), as_json)


@schedule_group.command("resume")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def resume(name: str, as_json: bool) -> None:
    """Tick again from now on (ticks missed while paused do not run)."""
    with cli_state().client() as sluice:
        _print(sluice.resume_schedule(name), as_json)


@schedule_group.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Remove a schedule; its exports stay."""
    with cli_state().client() as sluice:
        sluice.delete_schedule(name)
    click.echo(f"deleted schedule {name}")


@schedule_group.command("trigger")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the export's JSON.")
def trigger(name: str, as_json: bool) -> None:
    """Create the schedule's export now; prints its id."""
    with cli_state().client() as sluice:
        export = sluice.trigger_schedule(name)
    if as_json:
        print_json(export_to_dict(export))
    else:
        click.echo(export.id)
