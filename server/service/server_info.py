"""What GetServerInfo tells callers: version, supported stages, and the public keys that
verify this server's manifest signatures (its signing key's, and the older ones it
accepts), so readers need no out-of-band key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from sluice.format.signatures import key_id, public_key_pem
from sluice.server.execution.verifying_keys import verifying_keys
from sluice.server.pipeline.compressors import COMPRESSORS
from sluice.server.pipeline.encoders import ENCODERS
from sluice.server.planning.encryption import ZIP_AES_SCHEME
from sluice.server.settings import Settings


@dataclass(frozen=True)
class ServerInfo:
    version: str
    #: PEM SubjectPublicKeyInfo, or "" when manifests are not signed.
    signing_public_key: str
    signing_key_id: str
    formats: tuple[str, ...]
    compressions: tuple[str, ...]
    encryption_schemes: tuple[str, ...]
    #: When the certificate served on the gRPC port expires; None: plaintext.
    tls_not_after: datetime | None = None
    #: "sqlite" or "postgresql" (Settings.job_store_kind).
    job_store: str = "sqlite"
    #: The caller's principal name ("" without principals).
    principal: str = ""
    #: This daemon's name among the replicas sharing its job store.
    replica_id: str = ""
    #: PEMs of the older keys it accepts signatures from, for verification only.
    verification_public_keys: tuple[str, ...] = ()


def describe_server(
    settings: Settings, tls_not_after: datetime | None = None, principal: str = ""
) -> ServerInfo:
    keys = verifying_keys(settings)
    return ServerInfo(
        version=daemon_version(),
        signing_public_key=public_key_pem(keys[0]) if keys else "",
        signing_key_id=key_id(keys[0]) if keys else "",
        verification_public_keys=tuple(public_key_pem(key) for key in keys[1:]),
        formats=tuple(sorted(ENCODERS)),
        compressions=tuple(sorted(COMPRESSORS)),
        encryption_schemes=("age", ZIP_AES_SCHEME),
        tls_not_after=tls_not_after,
        job_store=settings.job_store_kind,
        principal=principal,
        replica_id=settings.replica_id,
    )


def daemon_version() -> str:
    """The installed package's version ("unknown" from a never-installed source tree)."""
    try:
        return version("sluice")
    except PackageNotFoundError:
        return "unknown"
