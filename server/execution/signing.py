"""Signing manifests with the daemon's Ed25519 key (the signature file and its
verification are the export format's: sluice.format.signatures).

The private key is configured by reference (`manifest_signing_key = "file:..."`) as a
PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or the base64 of a 32-byte seed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sluice.format.signatures import signature_document
from sluice.server.errors import FailedPrecondition
from sluice.server.secrets import resolve_secret


@dataclass(frozen=True)
class ManifestSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, manifest_bytes: bytes) -> bytes:
        """The contents of manifest.json.sig for these exact manifest bytes."""
        return signature_document(self.public_key, self.private_key.sign(manifest_bytes))


def parse_private_key(material: bytes) -> Ed25519PrivateKey:
    """A PKCS#8 PEM Ed25519 key, or the base64 of its 32-byte seed."""
    if material.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(material, password=None)
        except TypeError:
            # cryptography's way of saying the PEM needs a password.
            raise ValueError(
                "the key is encrypted; give an unencrypted Ed25519 PKCS#8 key"
            ) from None
        except UnsupportedAlgorithm:
            raise ValueError("the PEM key is of a kind this daemon cannot read") from None
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
    except FailedPrecondition as exc:
        raise FailedPrecondition(f"manifest_signing_key is unusable: {exc.message}") from None
