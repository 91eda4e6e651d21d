"""Verify a committed export against its manifest, from storage alone: every chunk is
re-read and its size and sha256 checked; objects the manifest does not list are reported,
and so are temporary files a killed writer left in a local export folder. Needs no job
store, so it works on exports made by another daemon."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sluice.server.errors import DataLoss, NotFound
from sluice.server.storage_errors import storage_errors, translate_storage_error
from sluice.sinks.base import Sink, join_key
from sluice.sinks.errors import IntegrityError, ObjectNotFound, StorageError

READ_BLOCK = 8 * 1024 * 1024
#: Objects that belong to an export folder besides its chunks.
_EXPORT_METADATA = frozenset({"manifest.json", "manifest.json.sig"})


@dataclass(frozen=True)
class CorruptChunk:
    path: str
    #: "size" or "sha256".
    mismatch: str
    expected: str
    actual: str


@dataclass(frozen=True)
class VerifyReport:
    manifest_key: str
    export_id: str
    chunks_checked: int = 0
    bytes_checked: int = 0
    missing: tuple[str, ...] = ()
    corrupt: tuple[CorruptChunk, ...] = ()
    extra: tuple[str, ...] = ()
    #: Temporary files (`*.sluice-tmp-*`) in the export folder: writes a crash cut short.
    temporaries: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.extra or self.temporaries)


def load_manifest(sink: Sink, manifest_key: str) -> dict[str, Any]:
    """Read and parse a manifest; NotFound if absent, DataLoss if unreadable."""
    try:
        with storage_errors(), sink.open(manifest_key) as handle:
            raw = handle.read()
    except NotFound:
        raise NotFound(f"no manifest at {manifest_key}") from None
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise DataLoss(f"{manifest_key} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("chunks"), list):
        raise DataLoss(f"{manifest_key} is not a Sluice manifest")
    return manifest


def verify_export(sink: Sink, manifest_key: str) -> VerifyReport:
    """Check every chunk the manifest lists, and look for objects it does not list."""
    manifest = load_manifest(sink, manifest_key)
    folder = manifest_key.rpartition("/")[0]
    missing: list[str] = []
    corrupt: list[CorruptChunk] = []
    checked = checked_bytes = 0
    for chunk in stored_entries(manifest):
        path = str(chunk["path"])
        try:
            size, digest = _measure(sink, join_key(folder, path))
        except ObjectNotFound:
            missing.append(path)
            continue
        except IntegrityError as exc:  # a backend that checks digests itself refused it
            corrupt.append(CorruptChunk(path, "sha256", str(chunk["sha256"]), str(exc)))
            continue
        except StorageError as exc:
            raise translate_storage_error(exc) from exc
        checked += 1
        checked_bytes += size
        if size != chunk["stored_bytes"]:
            corrupt.append(CorruptChunk(path, "size", str(chunk["stored_bytes"]), str(size)))
        elif digest != chunk["sha256"]:
            corrupt.append(CorruptChunk(path, "sha256", str(chunk["sha256"]), digest))
    listed = {str(c["path"]) for c in stored_entries(manifest)} | _EXPORT_METADATA
    with storage_errors():
        present = [info.key for info in sink.list(folder + "/")]
    extra = sorted(k.rpartition("/")[2] for k in present if k.rpartition("/")[2] not in listed)
    with storage_errors():
        temporaries = list(sink.temporaries(folder + "/"))
    return VerifyReport(
        manifest_key=manifest_key,
        export_id=str(manifest.get("export_id", "")),
        chunks_checked=checked,
        bytes_checked=checked_bytes,
        missing=tuple(missing),
        corrupt=tuple(corrupt),
        extra=tuple(extra),
        temporaries=tuple(key.rpartition("/")[2] for key in temporaries),
    )


def stored_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the manifest lists with its size and sha256: the chunks, then a keyed
    export's key index and tombstone file."""
    entries = list(manifest["chunks"])
    for name in ("key_index", "tombstones"):
        entry = manifest.get(name)
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _measure(sink: Sink, key: str) -> tuple[int, str]:
    """Size and sha256 of a stored object, streamed (never held in memory whole).
    Raises the sink's own errors: the caller tells missing from corrupt."""
    digest = hashlib.sha256()
    size = 0
    with sink.open(key) as handle:
        for block in _blocks(handle):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _blocks(handle: Any) -> Iterator[bytes]:
    while block := handle.read(READ_BLOCK):
        yield block
