"""The committed exports of a dataset, found in the destination itself.

The storage is the source of truth: a fresh daemon with an empty job store lists a
dataset's exports (and continues its incremental chain) from manifests alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sluice.server.committed.verify import load_manifest
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink

MANIFEST = "manifest.json"


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
    watermark: Any
    #: The manifest's "key_index" entry (keyed exports), or None.
    key_index: dict[str, Any] | None = None


def committed_exports(sink: Sink, dataset: str) -> list[CommittedExport]:
    """Every committed export of `dataset`, oldest first (by finish time, then id)."""
    found = [_describe(key, load_manifest(sink, key)) for key in _manifest_keys(sink, dataset)]
    return sorted(found, key=lambda e: (e.finished_at, e.export_id))


def latest_export(sink: Sink, dataset: str) -> CommittedExport | None:
    exports = committed_exports(sink, dataset)
    return exports[-1] if exports else None


def _manifest_keys(sink: Sink, dataset: str) -> Iterator[str]:
    with storage_errors():
        for info in sink.list(dataset + "/"):
            parts = info.key.split("/")
            # dataset/<export_id>/manifest.json: deeper or shallower objects are not ours.
            if len(parts) == 3 and parts[2] == MANIFEST:
                yield info.key


def _describe(key: str, manifest: dict[str, Any]) -> CommittedExport:
    totals = manifest.get("totals", {})
    return CommittedExport(
        export_id=str(manifest.get("export_id", key.split("/")[1])),
        dataset=str(manifest.get("dataset", key.split("/")[0])),
        manifest_key=key,
        created_at=str(manifest.get("created_at", "")),
        finished_at=str(manifest.get("finished_at", "")),
        parent_export_id=manifest.get("parent_export_id"),
        records=int(totals.get("records", 0)),
        chunks=int(totals.get("chunks", 0)),
        stored_bytes=int(totals.get("stored_bytes", 0)),
        watermark=manifest.get("watermark"),
        key_index=manifest.get("key_index") or None,
    )
