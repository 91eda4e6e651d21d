"""Who may call the daemon: the `[[auth.principals]]` configured in the settings, the
plain `Principal` value the service and planning layers receive for each call, and the
`Authenticator` that maps a bearer token or a client certificate identity to one.

Tokens are configured only as SHA-256 digests (`token_sha256`) or secret references
(`token_ref`, digested at start); a presented token is digested and its digest looked up
among the configured ones. Nothing here imports grpc."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.server.errors import FailedPrecondition, Unauthenticated
from sluice.server.secrets import resolve_secret


class Scope(StrEnum):
    """What a principal may do. `admin` implies all others and sees every export."""

    CREATE = "exports:create"
    READ = "exports:read"
    CANCEL = "exports:cancel"
    DELETE = "exports:delete"
    ADMIN = "admin"


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:")


class PrincipalConfig(BaseModel):
    """One `[[auth.principals]]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Recorded as the creator of its exports and in the audit log.
    name: str = Field(min_length=1, max_length=128)
    #: Hex SHA-256 of the bearer token (`sluice auth hash-token` prints it).
    token_sha256: str = ""
    #: Or a secret reference ("env:NAME", "file:PATH") holding the token itself.
    token_ref: str = ""
    #: Under mutual TLS: the client certificate's URI SAN (SPIFFE id); the CN only of
    #: a certificate without any URI SAN, and never a CN starting with a URI scheme.
    cert_identity: str = ""
    #: Operations allowed: exports:create, exports:read, exports:cancel, exports:delete, admin.
    scopes: tuple[Scope, ...] = ()
    #: Sources it may read (local folders, "s3://bucket/prefix/", "az://..."). Omitted:
    #: any the server allows; empty: none.
    source_roots: tuple[str, ...] | None = None
    #: Destinations it may write (and read back); as source_roots.
    destination_roots: tuple[str, ...] | None = None
    #: Storage profiles it may name. Omitted: any; empty: none.
    profiles: tuple[str, ...] | None = None
    #: Named secrets (settings.secrets) it may reference. Omitted: any; empty: none.
    secrets: tuple[str, ...] | None = None
    #: Hash keys (settings.hash_keys) its redaction rules may name (`rules[].key`): a
    #: rule hashing under another's key matches that principal's pseudonyms. Omitted:
    #: any; empty: none (a hash rule naming no key uses, and is checked as, "default").
    hash_keys: tuple[str, ...] | None = None
    #: Configured notifications (`[notifications.NAME]`) it may notify by name: each is
    #: signed with its own secret, so a receiver takes its events as the operator's.
    #: Omitted: any; empty: none. Admins may notify any.
    notifications: tuple[str, ...] | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not set(value) <= _NAME_CHARS:
            raise ValueError("must be letters, digits and . _ - @ : only")
        return value

    @field_validator("token_sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.strip().lower()
        if value and (len(value) != 64 or not set(value) <= set("0123456789abcdef")):
            # Never echoed: a token pasted here by mistake is a secret.
            raise ValueError("must be 64 hex digits (the SHA-256 of the token)")
        return value

    @field_validator("token_ref")
    @classmethod
    def _is_reference(cls, value: str) -> str:
        scheme, sep, target = value.partition(":")
        if value and (not sep or scheme not in {"env", "file", "rawfile"} or not target):
            raise ValueError(
                "must be a secret reference, env:NAME or file:PATH"
                " (rawfile:PATH: its bytes exactly)"
            )
        return value

    @model_validator(mode="after")
    def _has_a_credential(self) -> PrincipalConfig:
        if self.token_sha256 and self.token_ref:
            raise ValueError(f"principal {self.name}: token_sha256 or token_ref, not both")
        if not (self.token_sha256 or self.token_ref or self.cert_identity):
            raise ValueError(
                f"principal {self.name}: needs token_sha256, token_ref or cert_identity"
            )
        return self


class AuthSettings(BaseModel):
    """The `[auth]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: tuple[PrincipalConfig, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> AuthSettings:
        for what in ("name", "token_sha256", "cert_identity"):
            values = [getattr(p, what) for p in self.principals if getattr(p, what)]
            if len(values) != len(set(values)):
                raise ValueError(f"two principals share a {what}")
        return self


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the layers below the gRPC edge see it."""

    name: str
    scopes: frozenset[Scope]
    source_roots: tuple[str, ...] | None = None
    destination_roots: tuple[str, ...] | None = None
    profiles: tuple[str, ...] | None = None
    secrets: tuple[str, ...] | None = None
    hash_keys: tuple[str, ...] | None = None
    notifications: tuple[str, ...] | None = None

    @property
    def admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def may(self, scope: Scope) -> bool:
        return self.admin or scope in self.scopes

    @classmethod
    def from_config(cls, config: PrincipalConfig) -> Principal:
        return cls(
            name=config.name,
            scopes=frozenset(config.scopes),
            source_roots=config.source_roots,
            destination_roots=config.destination_roots,
            profiles=config.profiles,
            secrets=config.secrets,
            hash_keys=config.hash_keys,
            notifications=config.notifications,
        )


#: The caller when no principals are configured (a loopback or --insecure daemon): may
#: do everything, owns its exports under the empty name, as before principals existed.
ANONYMOUS = Principal(name="", scopes=frozenset(Scope))


def token_digest(token: str | bytes) -> str:
    """The hex SHA-256 of a token, as token_sha256 holds it (surrounding whitespace,
    such as a token file's newline, is not part of the token)."""
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw.strip()).hexdigest()


#: A URI identity holds `://` or starts with `spiffe:` or `urn:` (any case). A
#: CN never matches such a `cert_identity`; any other CN (`host:8080`,
#: `system:node:worker-1`, `db-01.corp.example:5432`) matches as it reads.
_URI_PREFIXES = ("spiffe:", "urn:")


def is_uri_identity(name: str) -> bool:
    """Whether `name` is a URI identity (see _URI_PREFIXES), which only a URI SAN gives."""
    return "://" in name or name.lower().startswith(_URI_PREFIXES)


@dataclass(frozen=True)
class CertificateNames:
    """The names a verified client certificate gives its holder, as the transport read
    them: its URI SANs (SPIFFE ids) and its subject's CN. DNS, IP and e-mail SANs name
    hosts and mailboxes, not callers, and are no identity."""

    uri_sans: tuple[str, ...] = ()
    common_names: tuple[str, ...] = ()

    @classmethod
    def from_auth_context(cls, properties: Mapping[str, Iterable[bytes]]) -> CertificateNames:
        """The names of grpc's auth context. `peer_uri` lists the URI SANs alone (grpc
        added it in grpc/grpc#26362; pyproject pins grpcio>=1.66, which has it), while
        `x509_subject_alternative_name` mixes them with DNS, IP and e-mail SANs (a DNS
        SAN may read `spiffe://...`). Fails closed: a certificate with a SAN holding
        `://` but no `peer_uri` (a grpcio without it, or a DNS SAN dressed as a URI) is
        refused, never known by its CN."""

        def texts(name: str) -> tuple[str, ...]:
            return tuple(v.decode("utf-8", "replace") for v in properties.get(name, ()))

        if "peer_uri" not in properties and any(
            "://" in san for san in texts("x509_subject_alternative_name")
        ):
            raise Unauthenticated(
                "the client certificate has a SAN holding '://' but the transport reports "
                "no URI SAN (peer_uri): refused rather than known by its CN"
            )
        return cls(uri_sans=texts("peer_uri"), common_names=texts("x509_common_name"))

    def __bool__(self) -> bool:
        return bool(self.uri_sans or self.common_names)

    def identities(self) -> tuple[str, ...]:
        """A certificate with a URI SAN is its URI SANs alone (an empty one included:
        its CN still counts for nothing); only one without any is its CN, and a CN that
        reads as a URI identity (holding `://`, or starting with `spiffe:` or `urn:`,
        any case) is never taken for one; other CNs holding ':' (`host:8080`) are.
        Where a CA issues URI SANs, the CN is whatever its requester asked for:
        counted beside the SAN, a certificate issued to
        `spiffe://corp/ns/dev/sa/intern` with CN `spiffe://corp/ns/ops/sa/admin` (or
        `reports`) acted as that principal."""
        if self.uri_sans:
            return self.uri_sans
        return tuple(name for name in self.common_names if not is_uri_identity(name))


class Authenticator:
    """Maps credentials to principals. `tokens` holds (digest, principal) pairs; the
    token_ref entries are digested by the caller at start (server.main)."""

    def __init__(
        self,
        principals: Sequence[tuple[PrincipalConfig, str]],
        *,
        enabled: bool,
        verified_certificates: bool = False,
    ) -> None:
        #: False: no principals configured, every caller is ANONYMOUS.
        self.enabled = enabled
        #: Whether the transport verifies every client certificate against the client
        #: CA (mutual TLS required); only then is a certificate identity trusted.
        self.verified_certificates = verified_certificates
        #: Principal by the SHA-256 of its token. A presented token is looked up by its
        #: own digest: one hash and one dict probe per call, whatever the number of
        #: principals. Comparing digests leaks nothing a caller can use: any timing
        #: difference is about the digest of what it sent, which it cannot steer toward
        #: a configured one without inverting SHA-256.
        self._by_digest = {
            bytes.fromhex(digest): Principal.from_config(config)
            for config, digest in principals
            if digest
        }
        self._identities = {
            config.cert_identity: Principal.from_config(config)
            for config, _ in principals
            if config.cert_identity
        }

    def by_token(self, token: str) -> Principal | None:
        return self._by_digest.get(hashlib.sha256(token.encode().strip()).digest())

    def by_certificate(self, names: CertificateNames) -> Principal | None:
        """The principal whose identity is one of a certificate's identities (see
        CertificateNames.identities); None when none is configured. A certificate whose
        identities name more than one configured principal (two URI SANs, each a
        principal's) is refused: which of them acts cannot be told from it, and taking
        the first would let the order a CA wrote its SANs in choose the caller's rights."""
        if not self.verified_certificates:
            return None
        found = {
            principal.name: principal
            for identity in names.identities()
            if (principal := self._identities.get(identity)) is not None
        }
        if len(found) > 1:
            # The names are not repeated: which identities a certificate holds, and which
            # principals exist, are not the caller's to learn from an error.
            raise Unauthenticated(
                "the client certificate names more than one principal (several of its "
                "identities are configured cert_identity values); issue it a single one"
            )
        return next(iter(found.values()), None)


def build_authenticator(auth: AuthSettings, verified_certificates: bool = False) -> Authenticator:
    """The authenticator of the configured principals; token_ref secrets are read (and
    only their digests kept) here, at start, so a missing one stops the daemon.
    `verified_certificates`: mutual TLS is required, so certificate identities count."""
    entries = []
    for config in auth.principals:
        digest = config.token_sha256
        if config.token_ref:
            try:
                digest = token_digest(resolve_secret(config.token_ref))
            except ValueError:
                raise FailedPrecondition(
                    f"principal {config.name}: token_ref is not a secret reference"
                ) from None
            except FailedPrecondition as exc:
                raise FailedPrecondition(
                    f"principal {config.name}: token_ref: {exc.message}"
                ) from None
        entries.append((config, digest))
    return Authenticator(
        entries, enabled=bool(auth.principals), verified_certificates=verified_certificates
    )
