"""Reading a committed export's manifest from storage into the format's typed model:
NotFound when there is none, DataLoss (the daemon's status for corrupt stored data) when
it cannot be read as a Sluice manifest or names a file outside its export folder, and
FailedPrecondition for a format version this daemon does not read."""

from __future__ import annotations

from sluice.format.json_fields import ManifestError, UnknownFormatVersion
from sluice.format.layout import chunk_path_fits, is_plain_name
from sluice.format.manifest import Manifest
from sluice.server.errors import DataLoss, FailedPrecondition, NotFound
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink


def read_manifest(sink: Sink, manifest_key: str) -> Manifest:
    """The manifest stored at `manifest_key`."""
    return parse_manifest(read_manifest_bytes(sink, manifest_key), manifest_key)


def read_manifest_bytes(sink: Sink, manifest_key: str) -> bytes:
    """The stored bytes of the manifest at `manifest_key` (what its signature signs)."""
    try:
        with storage_errors(), sink.open(manifest_key) as handle:
            return handle.read()
    except NotFound:
        raise NotFound(f"no manifest at {manifest_key}") from None


def parse_manifest(raw: bytes, manifest_key: str) -> Manifest:
    """The manifest `raw` holds, read from `manifest_key` (named in errors)."""
    try:
        manifest = Manifest.from_json(raw)
    except UnknownFormatVersion as exc:
        raise FailedPrecondition(f"{manifest_key}: {exc}") from None
    except ManifestError as exc:
        raise DataLoss(f"{manifest_key}: {exc}") from None
    _check_paths(manifest, manifest_key)
    return manifest


def _check_paths(manifest: Manifest, manifest_key: str) -> None:
    """Every file the manifest lists is one of its own folder's (a tampered or corrupt
    manifest's `../x` would have reached the sinks, which refuse it as a bad key)."""
    for position, chunk in enumerate(manifest.chunks):
        if not chunk_path_fits(chunk.path, position, chunk.index):
            raise DataLoss(
                f"{manifest_key}: manifest chunk {position} has an unexpected path or index"
            )
    for entry in manifest.stored_entries():
        if not is_plain_name(entry.path):
            raise DataLoss(f"{manifest_key}: a manifest entry has an unexpected path")
