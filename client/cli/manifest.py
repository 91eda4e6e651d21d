"""Reading a manifest.json and printing a short summary of it.

The summary reads the manifest defensively (missing keys print as "-"): it must stay
useful on manifests written by older or newer daemons.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from sluice.client._client import ExportClient
from sluice.client.cli.output import CliError, fmt_bytes, fmt_count, plural, print_wide
from sluice.client.cli.paths import export_ref, local_path, manifest_uri

#: Chunks shown at each end of the table; the middle of a long export is elided.
EDGE_CHUNKS = 5
_SHA_SHOWN = 12


def load_manifest(target: str, client: Callable[[], ExportClient]) -> tuple[dict[str, Any], str]:
    """(manifest, where it was read) for an export id, a manifest.json path or file://
    URL, or the export's folder (see client/cli/paths.py)."""
    uri = manifest_uri(export_ref(target), client)
    path = local_path(uri)
    if path is None:
        raise CliError(
            f"manifest {uri} is not on local storage; download it and pass the file path"
        )
    if not path.exists():
        raise CliError(f"no manifest at {uri}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise CliError(f"{path} is not a Sluice manifest (expected a JSON object)")
    return manifest, str(path)


def _get(data: Any, *paths: str) -> Any:
    """The first of several dotted paths present in `data`, else None."""
    for dotted in paths:
        value = data
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def render_manifest(manifest: dict[str, Any], where: str, console: Console) -> None:
    raw_chunks = _get(manifest, "chunks")
    chunks: list[dict[str, Any]] = (
        [c for c in raw_chunks if isinstance(c, dict)] if isinstance(raw_chunks, list) else []
    )
    records = _int(_get(manifest, "totals.records", "records"))
    if records is None and chunks:
        records = sum(_int(c.get("records")) or 0 for c in chunks)
    stored = _int(_get(manifest, "totals.stored_bytes", "stored_bytes"))
    if stored is None and chunks:
        stored = sum(_int(c.get("stored_bytes")) or 0 for c in chunks)
    chunk_count = _int(_get(manifest, "totals.chunks")) or len(chunks)
    encryption = _get(manifest, "output.encryption.scheme", "encryption.scheme", "encryption")

    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("manifest", where)
    head.add_row("dataset", _text(_get(manifest, "dataset", "destination.dataset")))
    head.add_row("export id", _text(_get(manifest, "export_id", "id")))
    source = _get(manifest, "source.uri", "source")
    if isinstance(source, str):
        head.add_row("source", source)
    parent = _get(manifest, "parent_export_id", "parent_id")
    if parent:
        head.add_row("parent", str(parent))
    output = f"{_text(_get(manifest, 'output.format', 'format'))} / "
    output += _text(_get(manifest, "output.compression", "compression"))
    if encryption and encryption != "none" and not isinstance(encryption, dict):
        output += f" / {encryption}"
    head.add_row("output", output)
    head.add_row(
        "totals",
        f"{_text(fmt_count(records) if records is not None else None)} records, "
        f"{plural(chunk_count, 'chunk')}, "
        f"{_text(fmt_bytes(stored) if stored is not None else None)} stored",
    )
    for label, keys in (("created", ("created_at",)), ("finished", ("finished_at",))):
        value = _get(manifest, *keys)
        if value:
            head.add_row(label, str(value))
    print_wide(console, head)
    if chunks:
        print_wide(console, _chunk_table(chunks))


def _chunk_table(chunks: list[dict[str, Any]]) -> Table:
    table = Table(title=f"chunks ({fmt_count(len(chunks))})", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("PATH", overflow="fold")
    table.add_column("RECORDS", justify="right")
    table.add_column("STORED", justify="right")
    table.add_column("SHA256")
    shown = list(enumerate(chunks))
    elided = 0
    if len(shown) > 2 * EDGE_CHUNKS:
        elided = len(shown) - 2 * EDGE_CHUNKS
        shown = shown[:EDGE_CHUNKS] + shown[-EDGE_CHUNKS:]
    for position, (i, chunk) in enumerate(shown):
        if elided and position == EDGE_CHUNKS:
            table.add_row("…", f"({fmt_count(elided)} more)", "", "", "")
        records = _int(chunk.get("records"))
        stored = _int(chunk.get("stored_bytes"))
        sha = str(chunk.get("sha256") or "")
        table.add_row(
            _text(chunk.get("index", i)),
            _text(chunk.get("path")),
            _text(fmt_count(records) if records is not None else None),
            _text(fmt_bytes(stored) if stored is not None else None),
            f"{sha[:_SHA_SHOWN]}…" if len(sha) > _SHA_SHOWN else _text(sha),
        )
    return table
