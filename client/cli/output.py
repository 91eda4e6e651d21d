"""How the CLI prints: errors, JSON, numbers, and exports as lines and tables."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from sluice.client._convert import export_to_dict, state_name, timestamp_datetime
from sluice.v1 import export_pb2

#: Exit status when a waited-for export ends failed or cancelled (1 is "the command
#: itself failed", 2 is click's usage error).
EXIT_EXPORT_FAILED = 3

_STATE_STYLES = {
    "queued": "cyan",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "deleted": "magenta",
}


class CliError(click.ClickException):
    """An expected failure: one line on stderr, no traceback, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"sluice: error: {self.format_message()}", file=file or sys.stderr)


class CliUsageError(CliError):
    """A bad argument found past click's own parsing: one line on stderr, exit status 2
    (click's for usage errors)."""

    exit_code = 2


#: Widest a table gets: wider than any sane terminal, narrower than runaway labels.
PIPE_WIDTH = 240


def stdout() -> Console:
    # highlight=False: rich would otherwise colour numbers and ids inside plain lines.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, PIPE_WIDTH))
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(value: Any, *, compact: bool = False) -> None:
    text = json.dumps(value, separators=(",", ":")) if compact else json.dumps(value, indent=2)
    click.echo(text)


def fmt_bytes(n: float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def fmt_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def styled_state(export: export_pb2.Export) -> str:
    name = state_name(export.state)
    return f"[{_STATE_STYLES.get(name, 'white')}]{name}[/]"


def summary_line(export: export_pb2.Export) -> str:
    """One line saying how an export ended (or stands), for the end of a wait/watch."""
    p = export.progress
    text = (
        f"export {export.id} {state_name(export.state)}: {plural(p.records, 'record')} "
        f"in {plural(p.chunks, 'chunk')}, {fmt_bytes(p.stored_bytes)} stored"
    )
    started = timestamp_datetime(export, "started_at")
    finished = timestamp_datetime(export, "finished_at")
    if started and finished:
        text += f" in {fmt_duration((finished - started).total_seconds())}"
    if export.manifest_uri:
        text += f"; manifest {export.manifest_uri}"
    if export.error.code or export.error.message:
        text += f"; error {export.error.code}: {export.error.message}"
    return text


def print_export(export: export_pb2.Export, *, as_json: bool) -> None:
    if as_json:
        print_json(export_to_dict(export))
        return
    data = export_to_dict(export)
    spec = export.spec
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("id", export.id),
        ("state", styled_state(export)),
        ("dataset", spec.destination.dataset),
        ("source", spec.source.uri),
        ("destination", spec.destination.uri),
        ("output", f"{spec.output.format or 'jsonl'} / {spec.output.compression or 'zstd'}"),
        ("records", fmt_count(export.progress.records)),
        ("chunks", fmt_count(export.progress.chunks)),
        ("stored", fmt_bytes(export.progress.stored_bytes)),
    ]
    rows += [
        (key.removesuffix("_at"), data[key])
        for key in ("created_at", "started_at", "finished_at")
        if data[key]
    ]
    if export.request_id:
        rows.append(("request id", export.request_id))
    if export.replica:
        rows.append(("replica", export.replica))
    if export.manifest_uri:
        rows.append(("manifest", export.manifest_uri))
    if data["error"]:
        err = data["error"]
        kind = "transient" if err["transient"] else "permanent"
        rows.append(("error", f"[red]{err['code']}[/]: {err['message']} ({kind})"))
    if empty := empty_package(export):
        rows.append(("warning", f"[yellow]{empty}[/]"))
    if export.values_forgotten:
        # Not the caller's "?": the daemon forgot the values when the export was deleted.
        rows.append(("values", "forgotten at delete: each personal value shows as ?"))
    if spec.labels:
        rows.append(("labels", ", ".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))))
    # As the job store keeps them: a deleted export's with their literals as `?`.
    if spec.query.where:
        rows.append(("where", escape(spec.query.where)))
    if spec.query.ids:
        rows.append(("ids", f"{len(spec.query.ids)} ({escape(spec.query.id_column or 'id')})"))
    for attempt in data["attempts"]:
        rows.append(("attempt", escape(attempt_line(attempt))))
    for delivery in data["notifications"]:
        # The delivery id tells apart targets shown alike (two webhooks on one host) and
        # is the Sluice-Delivery-Id header the receiver logs.
        line = (
            f"{delivery['target']}: {delivery['state']}, {delivery['attempts']} attempt(s), "
            f"delivery {delivery['delivery_id']}"
        )
        if delivery["last_error"]:
            line += f" (last: {delivery['last_error']})"
        rows.append(("notify", escape(line)))
    for key, value in rows:
        table.add_row(key, value)
    print_wide(stdout(), table)


def empty_package(export: export_pb2.Export) -> str:
    """What a committed GDPR subject package that holds no record says ("" for any other
    export): a succeeded package of 0 records is an answer to the person only if the
    operator sees it is one (a mistyped id finds nothing too)."""
    if (
        not export.spec.HasField("subject")
        or export.state != export_pb2.EXPORT_STATE_SUCCEEDED
        or export.progress.records
    ):
        return ""
    return "no records: no row of its sources has the subject id in its subject_column"


def attempt_line(attempt: dict[str, Any]) -> str:
    """One run of an export in a line: "#1 on replica-a: retried (UNAVAILABLE: ...)"."""
    line = f"#{attempt['number']} on {attempt['replica']}: {attempt['outcome']}"
    if attempt["error"]:
        line += f" ({attempt['error']['code']}: {attempt['error']['message']})"
    if attempt["retry_at"]:
        line += f"; next attempt from {attempt['retry_at']}"
    return line


def print_wide(console: Console, table: Table) -> None:
    """Prints at the table's natural width even on a narrow terminal: letting the terminal
    wrap long lines keeps ids and paths whole, where rich would fold them mid-word."""
    natural = Measurement.get(console, console.options.update_width(PIPE_WIDTH), table).maximum
    if natural > console.width:
        # Console.print caps its width at the console's, so a wider one is needed.
        console = Console(
            highlight=False,
            width=natural,
            force_terminal=console.is_terminal,
            stderr=console.stderr,
        )
    console.print(table)


def print_export_table(exports: list[export_pb2.Export]) -> None:
    if not exports:
        click.echo("no exports")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    columns: list[tuple[str, JustifyMethod]] = [
        ("ID", "left"),
        ("STATE", "left"),
        ("DATASET", "left"),
        ("RECORDS", "right"),
        ("STORED", "right"),
        ("CREATED", "left"),
        ("LABELS", "left"),
    ]
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for export in exports:
        created = timestamp_datetime(export, "created_at")
        table.add_row(
            export.id,
            styled_state(export),
            export.spec.destination.dataset,
            fmt_count(export.progress.records),
            fmt_bytes(export.progress.stored_bytes),
            created.strftime("%Y-%m-%d %H:%M") if created else "",
            ",".join(f"{k}={v}" for k, v in sorted(export.spec.labels.items())),
        )
    print_wide(stdout(), table)
