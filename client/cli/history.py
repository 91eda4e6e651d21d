"""`sluice export verify|diff|delete|retain`: committed exports, read from storage."""

from __future__ import annotations

import json
import sys

import click
from google.protobuf.message import Message
from rich.table import Table

from sluice.client._convert import message_dict
from sluice.client.cli.context import cli_state
from sluice.client.cli.output import fmt_bytes, plural, print_json, stdout
from sluice.client.cli.params import INT32_MAX, FieldInt
from sluice.client.cli.paths import daemon_destination, daemon_export_ref
from sluice.v1 import export_pb2

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _as_dict(message: Message) -> dict[str, object]:
    return message_dict(message, proto_names=True, with_defaults=True)


_EXPORT = "ID|MANIFEST_URI|FOLDER"
#: The storage profile that reaches a manifest URI or destination on s3:// or az://.
STORAGE_PROFILE = click.option(
    "--storage-profile",
    default="",
    metavar="NAME",
    help="Server storage profile (credentials) for an s3:// or az:// manifest or DEST "
    "(not needed for an export id: it is reached as it was written).",
)


@click.command("verify")
@click.argument("export", metavar=_EXPORT)
@STORAGE_PROFILE
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="On a daemon that signs manifests, report a manifest without manifest.json.sig "
    "(one made before it signed) as unsigned instead of corrupt.",
)
@_JSON
def verify(export: str, storage_profile: str, allow_unsigned: bool, as_json: bool) -> None:
    """Re-read every chunk from the destination and check its size and sha256.
    Exits 1 when anything is missing, corrupt or extra, or a crash left temporary files;
    on a daemon that signs manifests, also when manifest.json does not verify under its key.
    The export is named by id, by its manifest.json (path or URL) or by its folder."""
    with cli_state().client() as sluice:
        report = sluice.verify(
            daemon_export_ref(export).for_server,
            storage_profile=storage_profile,
            allow_unsigned=allow_unsigned,
        )
    if as_json:
        print_json(_as_dict(report))
    else:
        out = stdout()
        if report.unsigned:
            out.print(
                "unsigned manifest.json: no manifest.json.sig, although the server signs "
                "manifests (made before it signed?); the chunks are checked against it unproven"
            )
        for path in report.missing:
            out.print(f"missing  {path}")
        for chunk in report.corrupt:
            if chunk.mismatch == "signature":  # actual: what is wrong, in words
                out.print(f"corrupt  {chunk.path}: {chunk.actual} (key {chunk.expected})")
                continue
            out.print(
                f"corrupt  {chunk.path} ({chunk.mismatch} {chunk.actual} != {chunk.expected})"
            )
        for path in report.extra:
            out.print(f"extra    {path}")
        for path in report.temporaries:
            out.print(f"temporary {path}")
        verdict = "ok" if report.ok else "FAILED"
        out.print(
            f"export {report.export_id}: {verdict}, {report.chunks_checked} chunks, "
            f"{fmt_bytes(report.bytes_checked)} checked"
        )
    if not report.ok:
        sys.exit(1)


@click.command("diff")
@click.argument("base", metavar="A")
@click.argument("other", metavar="B")
@click.option("--chunks-only", is_flag=True, help="Skip the record-level diff.")
@STORAGE_PROFILE
@_JSON
def diff(base: str, other: str, chunks_only: bool, storage_profile: str, as_json: bool) -> None:
    """What changed from export A to export B (ids, manifests or folders): chunk by chunk, and
    record by record (keys by digest, with the changed columns) when both have a key
    index. --json prints JSON lines: the chunk diff, one line per changed key, and a
    final {"summary": ...}."""
    base, other = daemon_export_ref(base).for_server, daemon_export_ref(other).for_server
    with cli_state().client() as sluice:
        result = sluice.diff(base, other, storage_profile=storage_profile)
        _print_chunk_diff(result, as_json)
        if chunks_only:
            return
        if not result.record_level:
            if not as_json:
                stdout().print(f"records: not compared ({result.record_level_note})")
            return
        for event in sluice.diff_records(base, other, storage_profile=storage_profile):
            _print_record_event(event, as_json)


def _print_chunk_diff(result: export_pb2.DiffExportsResponse, as_json: bool) -> None:
    if as_json:
        print_json(_as_dict(result), compact=True)
        return
    out = stdout()
    for chunk in result.added:
        out.print(f"+ {chunk.path}  {chunk.records} records, {fmt_bytes(chunk.stored_bytes)}")
    for chunk in result.removed:
        out.print(f"- {chunk.path}  {chunk.records} records, {fmt_bytes(chunk.stored_bytes)}")
    out.print(
        f"{len(result.added)} added ({fmt_bytes(result.added_bytes)}), {len(result.removed)} "
        f"removed ({fmt_bytes(result.removed_bytes)}), {result.unchanged} unchanged "
        f"(matched by {result.matched_by})"
    )


_SIGNS = {"added": "+", "removed": "-", "changed": "~"}


def _print_record_event(event: export_pb2.RecordDiffEvent, as_json: bool) -> None:
    if event.HasField("summary"):
        summary = event.summary
        if as_json:
            print_json({"summary": _as_dict(summary)}, compact=True)
            return
        columns = ", ".join(f"{n} {c}" for n, c in sorted(summary.changed_columns.items()))
        stdout().print(
            f"records: {summary.added} added, {summary.removed} removed, {summary.changed} "
            f"changed, {summary.unchanged} unchanged"
            + (f" (columns: {columns})" if columns else "")
        )
        return
    lines = []
    for change in event.changes.changes:
        if as_json:
            record: dict[str, object] = {"change": change.change, "key_digest": change.key_digest}
            if change.change == "changed":
                record["columns"] = list(change.columns)
            lines.append(json.dumps(record, separators=(",", ":")))
        else:
            columns = f"  {', '.join(change.columns)}" if change.columns else ""
            lines.append(f"{_SIGNS[change.change]} key {change.key_digest}{columns}")
    click.echo("\n".join(lines))


@click.command("delete")
@click.argument("export", metavar=_EXPORT)
@STORAGE_PROFILE
@_JSON
def delete(export: str, storage_profile: str, as_json: bool) -> None:
    """Delete a committed export from its destination: its manifest first, then every
    other object and the emptied folder. The export is then `deleted` in `export get`
    and `export list`. Refused while a later incremental export builds on it (see
    `sluice export retain --help` to retire a whole chain).

    A cancelled or failed export (by ID) has no manifest: delete removes exactly the chunk
    files it wrote, as the daemon journalled them, and it can no longer resume."""
    ref = daemon_export_ref(export)
    with cli_state().client() as sluice:
        result = sluice.delete(ref.for_server, storage_profile=storage_profile)
    if as_json:
        print_json({"export_id": ref.export_id, "objects_removed": result.objects_removed})
    else:
        stdout().print(
            f"deleted export {ref.export_id}: {plural(result.objects_removed, 'object')} removed"
        )


#: The keep counts are int32 in the proto.
_KEEP = FieldInt(min=0, max=INT32_MAX)


@click.command("retain")
@click.option("--to", "destination", required=True, metavar="DEST", help="Destination folder/URL.")
@click.option("--dataset", required=True, metavar="NAME")
@click.option("--keep-last", type=_KEEP, default=0, metavar="N")
@click.option("--keep-daily", type=_KEEP, default=0, metavar="N")
@click.option("--keep-weekly", type=_KEEP, default=0, metavar="N")
@click.option("--keep-monthly", type=_KEEP, default=0, metavar="N")
@click.option("--keep-within-days", type=_KEEP, default=0, metavar="N")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@STORAGE_PROFILE
@_JSON
def retain(
    destination: str,
    dataset: str,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    keep_within_days: int,
    dry_run: bool,
    storage_profile: str,
    as_json: bool,
) -> None:
    """Apply keep rules to a dataset (like restic forget); parents of kept incremental
    exports are always kept.

    An incremental chain is therefore kept whole while any of its exports is kept. To
    retire an old chain, start a new one with a full export (`sluice export create
    ... --mode full`, with the same --cursor/--key for the incrementals that follow);
    once the kept exports all belong to the new chain, retain deletes the old one.
    """
    with cli_state().client() as sluice:
        result = sluice.retain(
            daemon_destination(destination),
            dataset,
            keep_last=keep_last,
            keep_daily=keep_daily,
            keep_weekly=keep_weekly,
            keep_monthly=keep_monthly,
            keep_within_days=keep_within_days,
            dry_run=dry_run,
            storage_profile=storage_profile,
        )
    if as_json:
        print_json(_as_dict(result))
        return
    out = stdout()
    for export_id in result.kept:
        out.print(f"keep    {export_id}  ({result.reasons[export_id]})")
    verb = "would delete" if dry_run else "deleted"
    for export_id in result.deleted:
        out.print(f"{verb:<7} {export_id}")
    as_parents = [e for e in result.kept if result.reasons[e].startswith("parent of")]
    if as_parents:
        out.print(
            f"note: {plural(len(as_parents), 'export')} kept only because kept incremental "
            "exports build on them. To retire that chain, start a new one with a full "
            "export (`sluice export create ... --mode full`); once the kept exports all "
            "belong to the new chain, retain deletes the old one."
        )


def print_dataset_history(
    destination: str, dataset: str, *, as_json: bool, storage_profile: str = ""
) -> None:
    """A dataset's committed exports, oldest first, with their incremental chain."""
    with cli_state().client() as sluice:
        exports = sluice.dataset_exports(destination, dataset, storage_profile=storage_profile)
    if as_json:
        print_json([_as_dict(e) for e in exports])
        return
    table = Table("EXPORT", "PARENT", "FINISHED", "RECORDS", "CHUNKS", "STORED", "WATERMARK")
    for e in exports:
        watermark = json.loads(e.watermark_json or "null")
        table.add_row(
            e.export_id,
            e.parent_export_id or "-",
            e.finished_at,
            f"{e.records:,}",
            str(e.chunks),
            fmt_bytes(e.stored_bytes),
            _watermark_value(watermark),
        )
    stdout().print(table)


def _watermark_value(watermark: object) -> str:
    """The watermark's value, "(sealed)" for an encrypted export's (only the daemon
    opens it), "-" without one."""
    if not isinstance(watermark, dict):
        return "-"
    return "(sealed)" if watermark.get("sealed") else str(watermark["value"])
