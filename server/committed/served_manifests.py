"""A committed export's manifest as the daemon serves its records (Flight DoGet and
GetFlightInfo, the chunk and record diffs): when this daemon signs manifests, only once
the manifest.json.sig beside it verifies over the very bytes read, and the signed
manifest is the one of the folder it is stored in. Otherwise anyone who may write to the
destination could forge a chunk, edit its sha256 and size in the manifest, remove the
signature, and have the daemon serve the forged records as the export's.

Statuses as for the parent of an increment (chain_signatures) and `export read`: an
unsigned manifest is refused, as it cannot be told from one whose signature was removed
(`sluice export read --allow-unsigned` reads one made before the daemon signed, from
storage); DATA_LOSS for an unsigned or non-verifying manifest, or one stored under
another export's folder; FAILED_PRECONDITION for one signed by another key (a question
of which key checks, not proof of an edit).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.manifest import Manifest
from sluice.format.signatures import SignedByAnotherKey
from sluice.server.committed.manifest_signatures import (
    folder_mismatch,
    read_signature,
    signature_problem,
)
from sluice.server.committed.manifests import parse_manifest, read_manifest_bytes
from sluice.server.errors import DataLoss, FailedPrecondition
from sluice.sinks.base import Sink

_UNSIGNED_HINT = (
    "; one made before this server signed can be read from storage with "
    "`sluice export read --allow-unsigned`"
)


def served_manifest(
    sink: Sink, manifest_key: str, verifying_keys: Sequence[Ed25519PublicKey]
) -> Manifest:
    """The manifest stored at `manifest_key`, read once; checked against
    `verifying_keys` (the public half of this daemon's manifest_signing_key, then the
    older keys of manifest_verification_keys; none: it signs nothing, and the manifest is
    served as stored)."""
    raw = read_manifest_bytes(sink, manifest_key)
    manifest = parse_manifest(raw, manifest_key)
    if not verifying_keys:
        return manifest
    name = f"the manifest {manifest_key}"
    try:
        problem = signature_problem(sink, manifest_key, raw, verifying_keys)
    except SignedByAnotherKey as exc:
        raise FailedPrecondition(
            f"{name}: {exc}; configure the key that signed it (after a rotation: its "
            "public key in manifest_verification_keys) to serve its records"
        ) from None
    if problem:
        unsigned = read_signature(sink, manifest_key) is None
        raise DataLoss(f"{name} {problem}{_UNSIGNED_HINT if unsigned else ''}")
    mismatch = folder_mismatch(manifest_key, manifest.export_id, manifest.dataset)
    if mismatch:
        raise DataLoss(f"{name} {mismatch}")
    return manifest
