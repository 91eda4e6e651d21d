"""The committed exports of a dataset, found in the destination itself.

The storage is the source of truth: a fresh daemon with an empty job store lists a
dataset's exports (and continues its incremental chain) from manifests alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sluice.format.layout import MANIFEST_NAME, SIGNATURE_NAME, signature_key
from sluice.format.manifest import (
    Manifest,
    RedactionInfo,
    SchemaField,
    SourceSnapshot,
    Watermark,
)
from sluice.format.stored_objects import KeyIndexEntry
from sluice.server.committed.manifests import read_manifest
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink


@dataclass(frozen=True)
class CommittedExport:
    export_id: str
    dataset: str
    manifest_key: str
    created_at: str
    finished_at: str
    parent_export_id: str | None
    records: int
    chunks: int
    stored_bytes: int
    watermark: Watermark | None
    #: The manifest's key index entry (keyed exports), or None.
    key_index: KeyIndexEntry | None = None
    #: The principal that created it ("": made without principals).
    created_by: str = ""
    #: The database snapshot the export read in (PostgreSQL sources), or None.
    source_snapshot: SourceSnapshot | None = None
    #: The redaction the export ran with, as its manifest records it.
    redaction: RedactionInfo | None = None
    #: The exported columns as its manifest records them.
    schema: tuple[SchemaField, ...] = ()
    #: Whether it read only the rows past its parent's watermark (a cursor increment):
    #: its key index then covers that window, not the source.
    cursor_window: bool = False
    #: Whether a signature (manifest.json.sig) is stored beside its manifest; whether it
    #: signs the manifest is checked where that matters (committed/chain_signatures.py).
    signed: bool = False


def committed_exports(sink: Sink, dataset: str) -> list[CommittedExport]:
    """Every committed export of `dataset`, oldest first (by finish time, then id)."""
    manifests, signatures = _listed(sink, dataset)
    found = [
        describe(key, read_manifest(sink, key), signed=signature_key(key) in signatures)
        for key in manifests
    ]
    return sorted(found, key=lambda e: (e.finished_at, e.export_id))


def latest_export(sink: Sink, dataset: str, created_by: str) -> CommittedExport | None:
    """The newest committed export of `dataset` made by `created_by` ("": the server's,
    or made without principals): a dataset may be shared by several creators."""
    exports = exports_by(sink, dataset, created_by)
    return exports[-1] if exports else None


def exports_by(sink: Sink, dataset: str, created_by: str) -> list[CommittedExport]:
    """The committed exports of `dataset` made by `created_by`, oldest first."""
    return [e for e in committed_exports(sink, dataset) if e.created_by == created_by]


def _listed(sink: Sink, dataset: str) -> tuple[list[str], set[str]]:
    """The keys of the dataset's manifests, and of the signatures stored beside them."""
    manifests: list[str] = []
    signatures: set[str] = set()
    with storage_errors():
        for info in sink.list(dataset + "/"):
            parts = info.key.split("/")
            # dataset/<export_id>/manifest.json: deeper or shallower objects are not ours.
            if len(parts) == 3 and parts[2] == MANIFEST_NAME:
                manifests.append(info.key)
            elif len(parts) == 3 and parts[2] == SIGNATURE_NAME:
                signatures.add(info.key)
    return manifests, signatures


def describe(key: str, manifest: Manifest, *, signed: bool) -> CommittedExport:
    """The export whose manifest, stored at `key`, is `manifest`."""
    dataset, export_id = key.split("/")[:2]
    return CommittedExport(
        export_id=manifest.export_id or export_id,
        dataset=manifest.dataset or dataset,
        manifest_key=key,
        created_at=_text(manifest.created_at),
        finished_at=_text(manifest.finished_at),
        parent_export_id=manifest.parent_export_id,
        records=manifest.totals.records,
        chunks=manifest.totals.chunks,
        stored_bytes=manifest.totals.stored_bytes,
        watermark=manifest.watermark,
        key_index=manifest.key_index,
        created_by=manifest.created_by,
        source_snapshot=manifest.source.snapshot,
        redaction=manifest.redaction,
        schema=manifest.schema,
        cursor_window=manifest.incremental.mode == "incremental"
        and manifest.incremental.since is not None,
        signed=signed,
    )


def _text(time: datetime | None) -> str:
    return "" if time is None else time.isoformat()
