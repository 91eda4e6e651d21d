"""manifest_verification_keys takes PEM public keys only: the keys it lists are published
by GetServerInfo, and a bare base64 value of 32 bytes is exactly a signing key's private
seed file (the manifest_signing_key format), so a retired key's own file listed by
mistake would publish its private key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.server.errors import FailedPrecondition
from sluice.server.execution.verifying_keys import load_verifying_keys
from sluice.server.service.server_info import describe_server
from sluice.server.settings import Settings, load_settings


def _seed_file(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path.write_bytes(base64.b64encode(seed) + b"\n")
    return key


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _verifying_keys(settings: Settings) -> object:
    return load_verifying_keys(settings.manifest_signing_key, settings.manifest_verification_keys)


def test_a_seed_file_is_refused_by_position_and_never_published(tmp_path: Path) -> None:
    _seed_file(tmp_path / "new.key")
    old = _seed_file(tmp_path / "old.key")
    (tmp_path / "old.pub.pem").write_bytes(
        old.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "old.pub.b64").write_bytes(base64.b64encode(_raw_public(old)) + b"\n")
    for listed in ("old.key", "old.pub.b64"):
        settings = load_settings(
            None,
            {
                "manifest_signing_key": f"file:{tmp_path / 'new.key'}",
                "manifest_verification_keys": [
                    f"file:{tmp_path / 'old.pub.pem'}",
                    f"file:{tmp_path / listed}",
                ],
            },
            environ={},
        )
        for load in (_verifying_keys, describe_server):
            with pytest.raises(FailedPrecondition) as refused:
                load(settings)
            message = refused.value.message
            assert message == (
                "manifest_verification_keys[1] is no PEM public key (-----BEGIN PUBLIC "
                "KEY-----): a 32-byte base64 value cannot be told from a private seed; give "
                "the PEM public key (`openssl pkey -pubout`, or the "
                "manifest_signing_public_key GetServerInfo showed before the rotation)"
            ), message
            assert (tmp_path / listed).read_text().strip() not in message

    # The PEM public key alone is accepted, and published as the old key's public half.
    settings = load_settings(
        None,
        {
            "manifest_signing_key": f"file:{tmp_path / 'new.key'}",
            "manifest_verification_keys": [f"file:{tmp_path / 'old.pub.pem'}"],
        },
        environ={},
    )
    published = describe_server(settings).verification_public_keys
    assert published == ((tmp_path / "old.pub.pem").read_text(),)
