"""Reading a manifest.json and printing a short summary of it.

The manifest is read with the export format's model, which takes missing members as
empty (they print as "-"), so the summary stays useful on manifests written by older
daemons; `--json` prints the document as stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from sluice.client._client import ExportClient
from sluice.client.cli.output import CliError, fmt_bytes, fmt_count, plural, print_wide
from sluice.client.cli.paths import export_ref, local_path, manifest_uri
from sluice.client.cli.text_files import read_text_file
from sluice.cloud_uris import shown_uri
from sluice.format.json_fields import ManifestError
from sluice.format.manifest import Manifest
from sluice.format.stored_objects import ChunkEntry

#: Chunks shown at each end of the table; the middle of a long export is elided.
EDGE_CHUNKS = 5
_SHA_SHOWN = 12


@dataclass(frozen=True)
class LoadedManifest:
    #: The document as stored, for printing it whole (members this client does not know
    #: included).
    document: dict[str, Any]
    manifest: Manifest
    #: Where it was read.
    where: str


def load_manifest(target: str, client: Callable[[], ExportClient]) -> LoadedManifest:
    """The manifest of an export id, a manifest.json path or file:// URL, or the
    export's folder (see client/cli/paths.py)."""
    uri = manifest_uri(export_ref(target), client)
    path = local_path(uri)
    if path is None:
        raise CliError(
            f"manifest {shown_uri(uri)} is not on local storage; download it and pass the file path"
        )
    if not path.exists():
        raise CliError(f"no manifest at {uri}")
    text = read_text_file(path, "manifest")
    try:
        manifest = Manifest.from_json(text)
    except ManifestError as exc:
        raise CliError(f"{path}: {exc}") from exc
    return LoadedManifest(json.loads(text), manifest, str(path))


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def render_manifest(manifest: Manifest, where: str, console: Console) -> None:
    totals = manifest.totals
    encryption = manifest.output.encryption.scheme

    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("manifest", where)
    head.add_row("dataset", _text(manifest.dataset))
    head.add_row("export id", _text(manifest.export_id))
    # A named source's manifest records its name, not where it is (older ones: both).
    if manifest.source.name:
        head.add_row("source", f"named source {manifest.source.name!r}")
    elif manifest.source.uri:
        head.add_row("source", manifest.source.uri)
    if manifest.parent_export_id:
        head.add_row("parent", manifest.parent_export_id)
    output = f"{_text(manifest.output.format)} / {_text(manifest.output.compression)}"
    if encryption != "none":
        output += f" / {encryption}"
    head.add_row("output", output)
    head.add_row(
        "totals",
        f"{fmt_count(totals.records)} records, {plural(totals.chunks, 'chunk')}, "
        f"{fmt_bytes(totals.stored_bytes)} stored",
    )
    for label, value in (("created", manifest.created_at), ("finished", manifest.finished_at)):
        if value is not None:
            head.add_row(label, value.isoformat())
    print_wide(console, head)
    if manifest.chunks:
        print_wide(console, _chunk_table(manifest.chunks))


def _chunk_table(chunks: Sequence[ChunkEntry]) -> Table:
    table = Table(title=f"chunks ({fmt_count(len(chunks))})", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("PATH", overflow="fold")
    table.add_column("RECORDS", justify="right")
    table.add_column("STORED", justify="right")
    table.add_column("SHA256")
    shown = list(chunks)
    elided = 0
    if len(shown) > 2 * EDGE_CHUNKS:
        elided = len(shown) - 2 * EDGE_CHUNKS
        shown = shown[:EDGE_CHUNKS] + shown[-EDGE_CHUNKS:]
    for position, chunk in enumerate(shown):
        if elided and position == EDGE_CHUNKS:
            table.add_row("…", f"({fmt_count(elided)} more)", "", "", "")
        sha = chunk.sha256
        table.add_row(
            str(chunk.index),
            _text(chunk.path),
            fmt_count(chunk.records),
            fmt_bytes(chunk.stored_bytes),
            f"{sha[:_SHA_SHOWN]}…" if len(sha) > _SHA_SHOWN else _text(sha),
        )
    return table
