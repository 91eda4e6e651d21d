"""Reading a committed export's manifest from storage into the format's typed model:
NotFound when there is none, DataLoss (the daemon's status for corrupt stored data) when
it cannot be read as a Sluice manifest."""

from __future__ import annotations

from sluice.format.json_fields import ManifestError
from sluice.format.manifest import Manifest
from sluice.server.errors import DataLoss, NotFound
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink


def read_manifest(sink: Sink, manifest_key: str) -> Manifest:
    """The manifest stored at `manifest_key`."""
    try:
        with storage_errors(), sink.open(manifest_key) as handle:
            raw = handle.read()
    except NotFound:
        raise NotFound(f"no manifest at {manifest_key}") from None
    try:
        return Manifest.from_json(raw)
    except ManifestError as exc:
        raise DataLoss(f"{manifest_key}: {exc}") from None
