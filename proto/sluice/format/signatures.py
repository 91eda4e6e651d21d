"""Manifest signatures: Ed25519 over the exact bytes of manifest.json.

The signature is stored beside the manifest as `manifest.json.sig`, a small JSON file:

    {"format": "sluice-manifest-signature-v1", "algorithm": "ed25519",
     "key_id": "sha256:<16 hex>", "signature": "<base64 of the 64-byte signature>"}

`key_id` is the start of the SHA-256 of the raw 32-byte public key, so a reader can tell
which key signed. To check it without Sluice (the public key as PEM from
`sluice server-info` or GetServerInfo):

    jq -r .signature manifest.json.sig | base64 -d > manifest.sig
    openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\
        -in manifest.json -sigfile manifest.sig

Signing (the daemon's private key) is server/execution/signing.py; this module holds the
file's layout and everything a reader needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.layout import SIGNATURE_NAME

SIGNATURE_FORMAT = "sluice-manifest-signature-v1"
ALGORITHM = "ed25519"


class SignatureError(ValueError):
    """A signature file is malformed, from another key, or does not verify."""


class SignedByAnotherKey(SignatureError):
    """The signature names another key than the one it is checked with: a question of
    which key to check with (a rotated or another server's key), not proof of an edit."""


def key_id(public_key: Ed25519PublicKey) -> str:
    return "sha256:" + hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def signature_document(public_key: Ed25519PublicKey, signature: bytes) -> bytes:
    """The contents of manifest.json.sig holding `signature` made by `public_key`'s pair."""
    document = {
        "format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": key_id(public_key),
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key as PEM (SubjectPublicKeyInfo) or the base64 of its 32 raw bytes."""
    data = text.strip().encode()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise SignatureError("the public key is not an Ed25519 key")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(data, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError("not an Ed25519 public key (PEM or base64 of 32 bytes)") from None


def verify(manifest_bytes: bytes, signature_file: bytes, public_key: Ed25519PublicKey) -> None:
    """Raise SignatureError unless `signature_file` signs these exact manifest bytes."""
    verify_with_any(manifest_bytes, signature_file, (public_key,))


def verify_with_any(
    manifest_bytes: bytes, signature_file: bytes, public_keys: Sequence[Ed25519PublicKey]
) -> None:
    """Raise SignatureError unless `signature_file` signs these exact manifest bytes with
    one of `public_keys` (a server's signing key and the older ones it still accepts):
    the one its key_id names. SignedByAnotherKey when it names none of them."""
    try:
        document = json.loads(signature_file)
        if document.get("format") != SIGNATURE_FORMAT or document.get("algorithm") != ALGORITHM:
            raise SignatureError("unknown signature format")
        signature = base64.b64decode(document["signature"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError(f"malformed {SIGNATURE_NAME}") from None
    named = document.get("key_id")
    candidates = [key for key in public_keys if named in (None, key_id(key))]
    if not candidates:
        known = [key_id(key) for key in public_keys]
        accepted = known[0] if len(known) == 1 else f"any of {', '.join(known)}"
        raise SignedByAnotherKey(f"the manifest was signed by key {named}, not {accepted}")
    for key in candidates:
        try:
            key.verify(signature, manifest_bytes)
            return
        except InvalidSignature:
            continue
    raise SignatureError("the manifest signature does not verify (manifest edited?)")
