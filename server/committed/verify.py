"""Verify a committed export against its manifest, from storage alone: every chunk is
re-read and its size and sha256 checked; objects the manifest does not list are reported,
and so are temporary files a killed writer left in a local export folder. Needs no job
store, so it works on exports made by another daemon."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.layout import MANIFEST_NAME, METADATA_NAMES
from sluice.format.manifest import Manifest
from sluice.format.signatures import SignedByAnotherKey, key_id
from sluice.server.committed.manifest_signatures import (
    folder_mismatch,
    read_signature,
    signature_problem,
)
from sluice.server.committed.manifests import parse_manifest, read_manifest_bytes
from sluice.server.storage_errors import storage_errors, translate_storage_error
from sluice.sinks.base import Sink, join_key
from sluice.sinks.errors import IntegrityError, ObjectNotFound, StorageError

READ_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class CorruptChunk:
    path: str
    #: "size", "sha256" or "signature" (manifest.json does not verify under the server's
    #: signing key nor an older one it accepts: expected is the id of the accepted key the
    #: signature names, else the signing key's; actual what is wrong).
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
    #: The server signs manifests, this one has no signature, and the caller allowed
    #: that (one made before the server signed): reported, not a failure.
    unsigned: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.extra or self.temporaries)


def verify_export(
    sink: Sink,
    manifest_key: str,
    verifying_keys: Sequence[Ed25519PublicKey] = (),
    *,
    allow_unsigned: bool = False,
) -> VerifyReport:
    """Check every chunk the manifest lists, and look for objects it does not list. When
    the server signs manifests (`verifying_keys`: the public half of its key, then the
    older ones it accepts; none when it signs nothing), the manifest must verify under
    one (read once: the chunks are checked against the bytes that verified); one that
    does not is corrupt (path manifest.json, mismatch "signature"). With
    `allow_unsigned`, a manifest without a signature is `unsigned` instead."""
    raw = read_manifest_bytes(sink, manifest_key)
    manifest = parse_manifest(raw, manifest_key)
    folder = manifest_key.rpartition("/")[0]
    missing: list[str] = []
    corrupt: list[CorruptChunk] = []
    unsigned = (
        bool(verifying_keys) and allow_unsigned and read_signature(sink, manifest_key) is None
    )
    if verifying_keys and not unsigned:
        problem = _signature_problem(sink, manifest_key, raw, manifest, verifying_keys)
        if problem:
            expected = _expected_key_id(sink, manifest_key, verifying_keys)
            corrupt.append(CorruptChunk(MANIFEST_NAME, "signature", expected, problem))
    checked = checked_bytes = 0
    for entry in manifest.stored_entries():
        path = entry.path
        try:
            size, digest = _measure(sink, join_key(folder, path))
        except ObjectNotFound:
            missing.append(path)
            continue
        except IntegrityError as exc:  # a backend that checks digests itself refused it
            corrupt.append(CorruptChunk(path, "sha256", entry.sha256, str(exc)))
            continue
        except StorageError as exc:
            raise translate_storage_error(exc) from exc
        checked += 1
        checked_bytes += size
        if size != entry.stored_bytes:
            corrupt.append(CorruptChunk(path, "size", str(entry.stored_bytes), str(size)))
        elif digest != entry.sha256:
            corrupt.append(CorruptChunk(path, "sha256", entry.sha256, digest))
    listed = {e.path for e in manifest.stored_entries()} | METADATA_NAMES
    with storage_errors():
        present = [info.key for info in sink.list(folder + "/")]
    # Keys relative to the folder, so that an object in a subfolder (`x/<id>/manifest.json`)
    # is extra under its own path, never taken for a listed file of the same name.
    inside = [key.removeprefix(folder + "/") for key in present]
    extra = sorted(key for key in inside if key not in listed)
    with storage_errors():
        temporaries = list(sink.temporaries(folder + "/"))
    return VerifyReport(
        manifest_key=manifest_key,
        export_id=manifest.export_id,
        chunks_checked=checked,
        bytes_checked=checked_bytes,
        missing=tuple(missing),
        corrupt=tuple(corrupt),
        extra=tuple(extra),
        temporaries=tuple(key.rpartition("/")[2] for key in temporaries),
        unsigned=unsigned,
    )


def _signature_problem(
    sink: Sink,
    manifest_key: str,
    raw: bytes,
    manifest: Manifest,
    verifying_keys: Sequence[Ed25519PublicKey],
) -> str:
    try:
        problem = signature_problem(sink, manifest_key, raw, verifying_keys)
    except SignedByAnotherKey as exc:
        return str(exc)
    return problem or folder_mismatch(manifest_key, manifest.export_id, manifest.dataset)


def _expected_key_id(
    sink: Sink, manifest_key: str, verifying_keys: Sequence[Ed25519PublicKey]
) -> str:
    """The id of the key the manifest should verify under: the one its signature names
    when this server accepts it (an older key's export after a rotation), else the
    server's signing key."""
    accepted = [key_id(key) for key in verifying_keys]
    try:
        named = json.loads(read_signature(sink, manifest_key) or b"{}").get("key_id")
    except (ValueError, AttributeError):  # malformed: the problem says so
        named = None
    return named if named in accepted else accepted[0]


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
