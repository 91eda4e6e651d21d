"""The public keys this server accepts a manifest signature from: its signing key's
(manifest_signing_key), then the older keys of `manifest_verification_keys`, accepted
for verification only (a key rotation must not break the chains the old key signed;
new manifests are always signed with the current key).

Each older key is configured by reference (env:NAME, file:PATH) to its PUBLIC key, as a
PEM `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo, as GetServerInfo and `openssl
pkey -pubout` give it), and only so: the verification keys are published by
GetServerInfo, and a bare base64 value of 32 bytes is exactly the format of a signing
key's private seed (a retired manifest_signing_key file listed by mistake would publish
the private key). A private key is refused too: a key kept only to verify must not be
able to sign. Never list a key that leaked, or may have: whoever holds it can sign a
forged manifest that verifies; start those chains again with a full export instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.signatures import SignatureError, key_id, load_public_key
from sluice.server.errors import FailedPrecondition
from sluice.server.execution.signing import load_signer
from sluice.server.secrets import resolve_secret
from sluice.server.settings import Settings

SETTING = "manifest_verification_keys"

_PUBLIC_PEM = b"-----BEGIN PUBLIC KEY-----"
_PEM_SOURCES = (
    "`openssl pkey -pubout`, or the manifest_signing_public_key GetServerInfo showed "
    "before the rotation"
)


def read_at_start(settings: Settings) -> tuple[Ed25519PublicKey, ...]:
    """Read the keys now (the daemon's start: an unusable one stops it) and keep them with
    `settings`, for every later verifying_keys(settings): a key file changed or removed
    afterwards changes nothing until the next start."""
    keys = load_verifying_keys(settings.manifest_signing_key, settings.manifest_verification_keys)
    settings.keep_verifying_keys(keys)
    return keys


def verifying_keys(settings: Settings) -> tuple[Ed25519PublicKey, ...]:
    """The keys read at start (read_at_start); read now for settings no daemon started
    with (a tool, a test)."""
    kept = settings.kept_verifying_keys
    if kept is not None:
        return kept
    return load_verifying_keys(settings.manifest_signing_key, settings.manifest_verification_keys)


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
            f"{setting} is a private key: give its public key ({_PEM_SOURCES}); a key kept "
            "to verify must not be able to sign"
        )
    if not material.strip().startswith(_PUBLIC_PEM):
        # Never parsed as base64: a signing key's seed file is base64 of 32 bytes, just
        # like a raw public key, and the keys listed here are published.
        raise FailedPrecondition(
            f"{setting} is no PEM public key ({_PUBLIC_PEM.decode()}): a 32-byte base64 "
            f"value cannot be told from a private seed; give the PEM public key "
            f"({_PEM_SOURCES})"
        )
    try:
        return load_public_key(material.decode("utf-8", errors="replace"))
    except SignatureError as exc:
        # The reason describes shapes only, never the material.
        raise FailedPrecondition(f"{setting} is unusable: {exc}") from None
