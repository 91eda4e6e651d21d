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

The private key is configured by reference (`manifest_signing_key = "file:..."`) as a
PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or the base64 of a 32-byte seed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sluice.server.errors import FailedPrecondition
from sluice.server.secrets import resolve_secret

SIGNATURE_FORMAT = "sluice-manifest-signature-v1"
SIGNATURE_SUFFIX = ".sig"


class SignatureError(ValueError):
    """A signature file is malformed, from another key, or does not verify."""


def key_id(public_key: Ed25519PublicKey) -> str:
    return "sha256:" + hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class ManifestSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, manifest_bytes: bytes) -> bytes:
        """The contents of manifest.json.sig for these exact manifest bytes."""
        document = {
            "format": SIGNATURE_FORMAT,
            "algorithm": "ed25519",
            "key_id": key_id(self.public_key),
            "signature": base64.b64encode(self.private_key.sign(manifest_bytes)).decode(),
        }
        return json.dumps(document, indent=2).encode() + b"\n"


def parse_private_key(material: bytes) -> Ed25519PrivateKey:
    """A PKCS#8 PEM Ed25519 key, or the base64 of its 32-byte seed."""
    if material.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(material, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM key is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(material.strip(), validate=True)
    except binascii.Error:
        raise ValueError("neither a PEM key nor a base64 32-byte seed") from None
    if len(seed) != 32:
        raise ValueError(f"a base64 seed must decode to 32 bytes, not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_signer(reference: str) -> ManifestSigner | None:
    """The signer configured by `manifest_signing_key`, or None when it is empty."""
    if not reference:
        return None
    try:
        material = resolve_secret(reference)
        return ManifestSigner(parse_private_key(material))
    except ValueError as exc:
        # The reason never includes key material: parse errors describe shapes only.
        raise FailedPrecondition(f"manifest_signing_key is unusable: {exc}") from None


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
    except (ValueError, binascii.Error) as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError("not an Ed25519 public key (PEM or base64 of 32 bytes)") from None


def verify(manifest_bytes: bytes, signature_file: bytes, public_key: Ed25519PublicKey) -> None:
    """Raise SignatureError unless `signature_file` signs these exact manifest bytes."""
    try:
        document = json.loads(signature_file)
        if document.get("format") != SIGNATURE_FORMAT or document.get("algorithm") != "ed25519":
            raise SignatureError("unknown signature format")
        signature = base64.b64decode(document["signature"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError("malformed manifest.json.sig") from None
    if document.get("key_id") not in (None, key_id(public_key)):
        raise SignatureError(
            f"the manifest was signed by key {document.get('key_id')}, not {key_id(public_key)}"
        )
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise SignatureError("the manifest signature does not verify (manifest edited?)") from None
