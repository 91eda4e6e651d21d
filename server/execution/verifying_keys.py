"""The public keys this server accepts a manifest signature from: its signing key's
(manifest_signing_key), then the older keys of `manifest_verification_keys`, accepted
for verification only (a key rotation must not break the chains the old key signed;
new manifests are always signed with the current key).

Each older key is configured by reference (env:NAME, file:PATH) to its PUBLIC key: PEM
(SubjectPublicKeyInfo, as `sluice keygen --signing` and GetServerInfo give it) or the
base64 of its 32 raw bytes. A private key is refused: a key kept only to verify must not
be able to sign (a retired key may be retired because it leaked).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.signatures import SignatureError, key_id, load_public_key
from sluice.server.errors import FailedPrecondition
from sluice.server.execution.signing import load_signer
from sluice.server.secrets import resolve_secret

SETTING = "manifest_verification_keys"


def load_verifying_keys(
    signing_reference: str, verification_references: Sequence[str]
) -> tuple[Ed25519PublicKey, ...]:
    """The signing key's public half, then each verification key, without repeats; ()
    when this server signs nothing. Raises FailedPrecondition naming the setting (and
    the entry's position, never its value) for one that cannot be read or is no public
    Ed25519 key."""
    signer = load_signer(signing_reference)
    if signer is None:
        return ()
    keys = [signer.public_key]
    for position, reference in enumerate(verification_references):
        key = _public_key(reference, f"{SETTING}[{position}]")
        if key_id(key) not in {key_id(k) for k in keys}:
            keys.append(key)
    return tuple(keys)


def _public_key(reference: str, setting: str) -> Ed25519PublicKey:
    try:
        material = resolve_secret(reference)
    except ValueError as exc:
        raise FailedPrecondition(f"{setting} is unusable: {exc}") from None
    except FailedPrecondition as exc:
        raise FailedPrecondition(f"{setting} is unusable: {exc.message}") from None
    if b"PRIVATE KEY-----" in material:
        raise FailedPrecondition(
            f"{setting} is a private key: give its public key (`openssl pkey -pubout`, or "
            "the manifest_signing_public_key GetServerInfo showed before the rotation); a "
            "key kept to verify must not be able to sign"
        )
    try:
        return load_public_key(material.decode("utf-8", errors="replace"))
    except SignatureError as exc:
        # The reason describes shapes only, never the material.
        raise FailedPrecondition(f"{setting} is unusable: {exc}") from None
