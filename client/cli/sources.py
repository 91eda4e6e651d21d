"""`sluice source list` and `sluice template list`: the named sources the server offers
(names, descriptions, the columns they mark and their schemas) and its export templates
(what each sets), for `sluice export create --source-name` and `--template`."""

from __future__ import annotations

import click
from google.protobuf.json_format import MessageToDict

from sluice.client.cli.context import cli_state
from sluice.client.cli.output import print_json, stdout


@click.group("source")
def source_group() -> None:
    """Named sources configured on the server ([sources.NAME])."""


@source_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_sources(as_json: bool) -> None:
    """List the server's named sources with their columns; never where they are."""
    with cli_state().client() as sluice:
        sources = sluice.sources()
    if as_json:
        print_json([MessageToDict(s, preserving_proto_field_name=True) for s in sources])
        return
    out = stdout()
    if not sources:
        out.print("no named sources are configured on this server")
    for source in sources:
        out.print(f"[bold]{source.name}[/bold]  {source.description}".rstrip())
        marked = [
            f"{what}: {column}"
            for what, column in (
                ("time", source.time_column),
                ("subject", source.subject_column),
                ("id", source.id_column),
            )
            if column
        ]
        if marked:
            out.print("  " + ", ".join(marked))
        if source.error:
            out.print(f"  {source.error}")
        for column in source.columns:
            out.print(f"  {column.name}: {column.type}", markup=False, highlight=False)


@click.group("template")
def template_group() -> None:
    """Export templates the server offers (built-in and [templates.NAME])."""


@template_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_templates(as_json: bool) -> None:
    """List the server's templates and what each sets (secrets by name only)."""
    with cli_state().client() as sluice:
        found = sluice.templates()
    if as_json:
        print_json([MessageToDict(t, preserving_proto_field_name=True) for t in found])
        return
    out = stdout()
    for template in found:
        kind = "built-in" if template.builtin else "configured"
        out.print(f"[bold]{template.name}[/bold] ({kind})  {template.description}".rstrip())
        for key, value in sorted(template.sets.items()):
            out.print(f"  {key} = {value}", markup=False, highlight=False)
