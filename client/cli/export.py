"""`sluice export ...`: create, observe and control exports on a running daemon."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any, Literal

import click
from rich.markup import escape

from sluice.client._client import ExportClient
from sluice.client._convert import (
    FINAL_STATES,
    STATE_NAMES,
    event_to_dict,
    export_to_dict,
    state_name,
)
from sluice.client._errors import ExportFailedError
from sluice.client.cli.context import cli_state
from sluice.client.cli.history import STORAGE_PROFILE, print_dataset_history
from sluice.client.cli.incremental import build_incremental, incremental_options
from sluice.client.cli.manifest import load_manifest, render_manifest
from sluice.client.cli.output import (
    EXIT_EXPORT_FAILED,
    empty_package,
    print_export,
    print_export_table,
    print_json,
    stderr,
    stdout,
    summary_line,
)
from sluice.client.cli.params import (
    INT32_MAX,
    INT64_MAX,
    LABEL,
    LIST,
    SCHEMA,
    SECRET_NAME,
    SIZE,
    TIME,
    FieldInt,
    split_list,
)
from sluice.client.cli.paths import absolute_uri, daemon_destination, export_ref
from sluice.client.cli.progress import describe_event, wait_with_bar
from sluice.client.cli.redaction import build_redaction, redaction_options
from sluice.v1 import export_pb2

JSON_HELP = "Print JSON instead of text (the same export shape in every command)."

FollowMode = Literal["bar", "lines", "quiet", "events-json", "export-json"]


@click.group("export")
def export_group() -> None:
    """Create, inspect, follow, cancel and resume exports."""


def _follow(sluice: ExportClient, export_id: str, mode: FollowMode) -> None:
    """Waits for the export to finish, printing as `mode` says; exit 3 if it failed."""
    try:
        try:
            if mode == "bar":
                final = wait_with_bar(sluice, export_id, stdout())
            elif mode == "lines":
                final = sluice.wait(export_id, on_event=_print_event_line)
            elif mode == "events-json":
                final = sluice.wait(
                    export_id, on_event=lambda e: print_json(event_to_dict(e), compact=True)
                )
            else:
                final = sluice.wait(export_id)
        except ExportFailedError as exc:
            _print_final(exc.export, mode)
            raise click.exceptions.Exit(EXIT_EXPORT_FAILED) from exc
    except KeyboardInterrupt:
        # Only this client stops waiting; the export itself keeps running.
        stderr().print(
            f"stopped following; export {export_id} continues on the server "
            f"(`sluice export cancel {export_id}` stops it)"
        )
        raise click.exceptions.Exit(130) from None
    _print_final(final, mode)


def _print_event_line(event: export_pb2.ExportEvent) -> None:
    line = describe_event(event)
    if line is not None:
        click.echo(line)


def _print_final(export: export_pb2.Export, mode: FollowMode) -> None:
    if empty := empty_package(export):
        # On stderr: stdout stays the export's id or JSON, which scripts read.
        click.echo(f"warning: package {export.id} holds {empty}", err=True)
    if mode == "export-json":
        print_json(export_to_dict(export))
    elif mode != "events-json":  # the finished event already carried the export
        click.echo(summary_line(export))


@export_group.command("create")
@click.option(
    "--source",
    default="",
    metavar="URI",
    help="File, glob, s3:// or az:// URL, or a database file: sqlite:///ABS/PATH.db, "
    "duckdb:///ABS/PATH.duckdb. Relative paths are taken from this shell's folder. "
    "Either this or --source-name.",
)
@click.option(
    "--report",
    is_flag=True,
    help="Also store report.html and report.pdf beside the manifest (for people).",
)
@click.option(
    "--template",
    default="",
    metavar="NAME",
    help="A server template (backup, analysis, sharing, or configured; `sluice template "
    "list`): a partial request; every option given here wins over what it sets.",
)
@click.option(
    "--source-name",
    default="",
    metavar="NAME",
    help="A source configured on the server ([sources.NAME]; `sluice source list`) "
    "instead of --source: the server knows where it is and how to read it.",
)
@click.option(
    "--table", default="", metavar="[SCHEMA.]NAME", help="Database source: the table to read."
)
@click.option(
    "--query",
    "source_query",
    default="",
    metavar="SQL",
    help='Database source: one read-only SELECT to export, e.g. "SELECT * FROM t WHERE x > 1".',
)
@click.option(
    "--order-by",
    multiple=True,
    metavar="COLS",
    help="Database source: unique columns that order the rows (default: the table's primary "
    "key; required with --query), so a resumed export continues exactly.",
)
@click.option(
    "--to",
    required=True,
    metavar="DEST",
    help="Destination folder or URL. Relative paths are taken from this shell's folder.",
)
@click.option("--dataset", required=True, metavar="NAME", help="Dataset name (folder under DEST).")
@click.option(
    "--storage-profile",
    default="",
    metavar="NAME",
    help="Server storage profile (credentials) for an s3:// or az:// DEST.",
)
@click.option(
    "--source-profile",
    default="",
    metavar="NAME",
    help="Server storage profile (credentials) for an s3:// or az:// source.",
)
@click.option(
    "--source-format",
    default="",
    metavar="F",
    help="parquet|csv|ndjson|jsonl|arrow|ipc. Default: from the extension.",
)
@click.option(
    "--on-bad-rows",
    type=click.Choice(["fail", "skip"]),
    default=None,
    help="A source row that cannot be read (a file's row that cannot be parsed, a "
    "database row holding a value the export cannot hold): fail the export (default) or "
    "skip it (counted in the manifest's source.skipped_rows).",
)
@click.option(
    "--schema",
    "source_schema",
    type=SCHEMA,
    multiple=True,
    help="CSV or NDJSON column types instead of inferred ones, e.g. "
    "id:int64,zip:str,card:str (keeps leading zeros and card numbers as text; NDJSON: "
    "also columns its first 100 lines lack, and a struct's field by its quoted path, "
    '\'"user"."email":str\'); repeatable.',
)
@click.option(
    "--format", "fmt", default="", metavar="F", help="parquet|jsonl|csv|json|arrow. Default: jsonl."
)
@click.option(
    "--compression",
    default="",
    metavar="C",
    help="zstd|gzip|zip|none. Default: zstd. zip: one zip archive (deflate) per chunk.",
)
@click.option(
    "--level",
    type=FieldInt(-INT32_MAX - 1, INT32_MAX),
    default=None,
    metavar="N",
    help="Compression level (zstd 1-22, gzip 1-9).",
)
@click.option(
    "--columns", type=LIST, default=None, help="Columns to export, in order. Default: all."
)
@click.option("--where", default="", metavar="EXPR", help='SQL boolean filter, e.g. "amount > 10".')
@click.option(
    "--time-column", default="", metavar="C", help="Date/Datetime column for --since/--until."
)
@click.option(
    "--since", type=TIME, default=None, help="Inclusive ISO-8601 lower bound (naive = UTC)."
)
@click.option(
    "--until", type=TIME, default=None, help="Exclusive ISO-8601 upper bound (naive = UTC)."
)
@click.option(
    "--ids",
    multiple=True,
    metavar="1,2,3",
    help="Export only rows whose --id-column is one of these. Comma list; repeatable.",
)
@click.option("--id-column", default="", metavar="C", help="Column matched by --ids. Default: id.")
@click.option(
    "--chunk-bytes",
    type=SIZE,
    default=None,
    help="Target chunk size before compression: 123, 64MiB (=64M), 1GB. Default: server's.",
)
@click.option(
    "--chunk-rows",
    type=FieldInt(min=0, max=INT64_MAX),
    default=None,
    metavar="N",
    help="Most records per chunk. Default: server's.",
)
@click.option("--label", "labels", type=LABEL, multiple=True, help="Label KEY=VALUE; repeatable.")
@click.option(
    "--encrypt-to",
    "encrypt_to",
    multiple=True,
    metavar="age1...",
    help="Encrypt every chunk (age format, .age) to this age recipient; repeatable.",
)
@click.option(
    "--passphrase-secret",
    type=SECRET_NAME,
    default=None,
    metavar="NAME",
    help="Encrypt with age to the passphrase in the server secret NAME (its `secrets`).",
)
@click.option(
    "--passphrase-env",
    type=SECRET_NAME,
    default=None,
    metavar="VAR",
    help="Same as --passphrase-secret, naming the server secret configured as env:VAR.",
)
@click.option(
    "--zip-password-secret",
    type=SECRET_NAME,
    default=None,
    metavar="NAME",
    help="AES-256 zip encryption (needs --compression zip) with the server secret NAME.",
)
@click.option(
    "--zip-password-env",
    type=SECRET_NAME,
    default=None,
    metavar="VAR",
    help="Same as --zip-password-secret, naming the server secret configured as env:VAR.",
)
@redaction_options
@incremental_options
@click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="URL|NAME",
    help="Tell this webhook (https:// URL, or a [notifications.NAME] of the server) when "
    "the export ends; repeatable.",
)
@click.option(
    "--request-id",
    default="",
    metavar="ID",
    help="Idempotency key: retrying with the same ID returns the same export.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the export finishes (live progress on a terminal); exit 3 if it fails.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def create(request_id: str, wait: bool, as_json: bool, **options: Any) -> None:
    """Queue a new export; prints its id (or its JSON).

    Secrets never travel: --passphrase-secret/--zip-password-secret name secrets the
    server has configured; the *-env forms name the one configured as env:VAR.
    """
    submit(spec_from_options(**options), request_id, wait=wait, as_json=as_json)


def submit(spec: export_pb2.ExportSpec, request_id: str, *, wait: bool, as_json: bool) -> None:
    """Create the export; print its id (or JSON), or with `wait` follow it to the end."""
    with cli_state().client() as sluice:
        export = sluice.create(spec, request_id=request_id)
        if not wait:
            if export.state in FINAL_STATES:
                # Only a request id seen before returns an ended export: nothing was
                # queued, and a bare id on stdout would not say so.
                stderr().print(
                    escape(
                        f"note: request id '{request_id}' was used before, by export "
                        f"{export.id}, which is {state_name(export.state)}; nothing new was "
                        "queued (a new export needs another --request-id)"
                    )
                )
            if as_json:
                print_json(export_to_dict(export))
            else:
                click.echo(export.id)
            return
        if as_json:
            _follow(sluice, export.id, "export-json")
        else:
            _follow(sluice, export.id, "bar" if stdout().is_terminal else "quiet")


#: `export create` options that are not part of the spec (`schedule create` reuses the rest).
_NOT_SPEC_OPTIONS = frozenset({"request_id", "wait", "as_json"})


def spec_options() -> list[click.Parameter]:
    """The options of `export create` that describe the export itself."""
    return [param for param in create.params if param.name not in _NOT_SPEC_OPTIONS]


def spec_from_options(
    *,
    source: str,
    report: bool,
    template: str,
    source_name: str,
    table: str,
    source_query: str,
    order_by: tuple[str, ...],
    to: str,
    dataset: str,
    storage_profile: str,
    source_profile: str,
    source_format: str,
    on_bad_rows: str | None,
    source_schema: tuple[list[tuple[str, str]], ...],
    fmt: str,
    compression: str,
    level: int | None,
    columns: list[str] | None,
    where: str,
    time_column: str,
    since: datetime | None,
    until: datetime | None,
    ids: tuple[str, ...],
    id_column: str,
    chunk_bytes: int | None,
    chunk_rows: int | None,
    labels: tuple[tuple[str, str], ...],
    encrypt_to: tuple[str, ...],
    passphrase_secret: str | None,
    passphrase_env: str | None,
    zip_password_secret: str | None,
    zip_password_env: str | None,
    redact: str | None,
    redact_policy: str,
    redact_rules: tuple[str, ...],
    mode: str,
    cursor: str,
    lookback: int,
    key: str,
    notify: tuple[str, ...],
) -> export_pb2.ExportSpec:
    """The export spec the `export create` options ask for (relative paths resolved
    against this shell's folder)."""
    if source and source_name:
        raise click.UsageError("give --source URI or --source-name NAME, not both")
    if not (source or source_name or template):
        raise click.UsageError("give --source URI or --source-name NAME")
    if (since or until) and not time_column and not source_name:
        raise click.UsageError("--since/--until need --time-column")
    passphrase = _secret_name(passphrase_secret, passphrase_env, "--passphrase")
    zip_password = _secret_name(zip_password_secret, zip_password_env, "--zip-password")
    return ExportClient.build_spec(
        # The user's relative paths, not the daemon's working directory.
        source=absolute_uri(source) if source else "",
        source_name=source_name,
        template=template,
        report=report,
        to=absolute_uri(to),
        dataset=dataset,
        source_format=source_format,
        format=fmt,
        compression=compression,
        level=level,
        columns=columns or (),
        where=where,
        time_column=time_column,
        since=since,
        until=until,
        ids=split_list(ids),
        id_column=id_column,
        chunk_bytes=chunk_bytes,
        chunk_rows=chunk_rows,
        labels=dict(labels),
        redaction=build_redaction(redact, redact_policy, redact_rules),
        encrypt_to=encrypt_to,
        passphrase_secret=passphrase,
        zip_password_secret=zip_password,
        storage_profile=storage_profile,
        source_profile=source_profile,
        incremental=build_incremental(mode, cursor, lookback, key),
        on_bad_rows=on_bad_rows or "",
        source_schema=[pair for pairs in source_schema for pair in pairs],
        table=table,
        query=source_query,
        order_by=split_list(order_by),
        notify=notify,
    )


def _secret_name(name: str | None, env_var: str | None, option: str) -> str | None:
    """The secret's name the options give; None when neither was given (SECRET_NAME has
    refused empty values already)."""
    if name and env_var:
        raise click.UsageError(f"give {option}-secret or {option}-env, not both")
    return name or (f"env:{env_var}" if env_var else None)


@export_group.command("get")
@click.argument("export", metavar="ID|MANIFEST_URI|FOLDER")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def get(export: str, as_json: bool) -> None:
    """Show one export: by id, or by its manifest.json or folder (whose name is the id)."""
    with cli_state().client() as sluice:
        print_export(sluice.get(export_ref(export).export_id), as_json=as_json)


@export_group.command("watch")
@click.argument("export_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print every event as one JSON line.")
def watch(export_id: str, as_json: bool) -> None:
    """Follow an export until it finishes.

    Shows a live progress bar on a terminal, event lines otherwise. Exits with status 3
    when the export ends failed or cancelled.
    """
    with cli_state().client() as sluice:
        if as_json:
            mode: FollowMode = "events-json"
        else:
            mode = "bar" if stdout().is_terminal else "lines"
        _follow(sluice, export_id, mode)


@export_group.command("cancel")
@click.argument("export_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def cancel(export_id: str, as_json: bool) -> None:
    """Stop a queued or running export.

    Chunks already committed stay recorded, so `sluice export resume` continues after them.
    """
    with cli_state().client() as sluice:
        _print_changed(sluice.cancel(export_id), as_json)


@export_group.command("resume")
@click.argument("export_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def resume(export_id: str, as_json: bool) -> None:
    """Requeue a failed or cancelled export.

    It continues after its last committed chunk.
    """
    with cli_state().client() as sluice:
        _print_changed(sluice.resume(export_id), as_json)


def _print_changed(export: export_pb2.Export, as_json: bool) -> None:
    if as_json:
        print_json(export_to_dict(export))
    else:
        click.echo(summary_line(export))


@export_group.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATE_NAMES, case_sensitive=False),
    help="Only exports in this state; repeatable.",
)
@click.option(
    "--label", "labels", type=LABEL, multiple=True, help="Only exports with KEY=VALUE; repeatable."
)
@click.option(
    "--limit",
    # Clamped: a number past the largest shows every export (one too long for an int,
    # past 4300 digits, is click's own "Invalid value").
    type=FieldInt(min=1, max=INT32_MAX, clamp=True),
    default=50,
    show_default=True,
    metavar="N",
    help="Show at most N exports (newest first).",
)
@click.option(
    "--dataset",
    default="",
    metavar="NAME",
    help="Instead: the dataset's committed exports (its chain), read from --to.",
)
@click.option("--to", "destination", default="", metavar="DEST", help="Destination of --dataset.")
@STORAGE_PROFILE
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of exports.")
def list_exports(
    states: tuple[str, ...],
    labels: tuple[tuple[str, str], ...],
    limit: int,
    dataset: str,
    destination: str,
    storage_profile: str,
    as_json: bool,
) -> None:
    """List exports, newest first; with --dataset, a dataset's chain from storage."""
    if dataset:
        if not destination:
            raise click.UsageError("--dataset needs --to DEST")
        print_dataset_history(
            daemon_destination(destination),
            dataset,
            as_json=as_json,
            storage_profile=storage_profile,
        )
        return
    with cli_state().client() as sluice:
        found = sluice.list(states=states, labels=dict(labels), page_size=min(limit, 500))
        exports = list(itertools.islice(found, limit))
    if as_json:
        print_json([export_to_dict(e) for e in exports])
    else:
        print_export_table(exports)


@export_group.command("manifest")
@click.argument("target", metavar="ID|MANIFEST_URI|FOLDER")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest itself.")
def manifest(target: str, as_json: bool) -> None:
    """Summarise an export's manifest.

    ID_OR_PATH is a manifest.json path, its folder, a file:// URL, or an export id whose
    manifest is on local storage.
    """
    loaded = load_manifest(target, cli_state().client)
    if as_json:
        print_json(loaded.document)
    else:
        render_manifest(loaded.manifest, loaded.where, stdout())
