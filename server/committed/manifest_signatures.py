"""Checking a stored manifest against this server's signing keys, from storage alone: its
manifest.json.sig verifies over the exact manifest bytes, and the signed manifest is the
one of the folder it is stored in (a signed manifest copied from another export verifies
too). Used by the parent check of an increment (chain_signatures) and by `export verify`
(verify).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.layout import SIGNATURE_NAME, signature_key
from sluice.format.signatures import SignatureError, SignedByAnotherKey, verify_with_any
from sluice.server.errors import NotFound
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink


def read_signature(sink: Sink, manifest_key: str) -> bytes | None:
    """The manifest.json.sig beside `manifest_key` (None: there is none)."""
    try:
        with storage_errors(), sink.open(signature_key(manifest_key)) as handle:
            data: bytes = handle.read()
            return data
    except NotFound:
        return None


def signature_problem(
    sink: Sink, manifest_key: str, raw: bytes, verifying_keys: Sequence[Ed25519PublicKey]
) -> str:
    """Why the manifest bytes `raw`, stored at `manifest_key`, are not signed by the
    pair of one of `verifying_keys` (this server's signing key, then the older ones it
    accepts), as a predicate of the manifest ("": they are). Raises
    SignedByAnotherKey (a question of which key checks, not proof of an edit) for the
    caller to word."""
    signature = read_signature(sink, manifest_key)
    if signature is None:
        return f"has no {SIGNATURE_NAME}, and this server signs manifests"
    try:
        verify_with_any(raw, signature, verifying_keys)
    except SignedByAnotherKey:
        raise
    except SignatureError as exc:
        return f"fails its signature check: {exc}"
    return ""


def folder_mismatch(manifest_key: str, export_id: str, dataset: str) -> str:
    """How a (verified) manifest of `export_id` in `dataset` differs from the folder
    `manifest_key` it is stored in (DATASET/EXPORT_ID/manifest.json; "": it does not),
    as a predicate of the manifest naming the field and both values."""
    parts = manifest_key.split("/")
    folder_dataset, folder_id = (parts[-3], parts[-2]) if len(parts) >= 3 else ("", "")
    if export_id != folder_id:
        return f"holds the signed manifest of export {export_id}, not of {folder_id}"
    if dataset != folder_dataset:
        return (
            f"holds the signed manifest of dataset {dataset!r} (export {export_id}), not of "
            f"{folder_dataset!r}"
        )
    return ""
