"""The allow-list of places a request may name as a source or destination.

A URI is a local path (a plain path or a file:// URL without a host), an S3 URL
(s3://, s3a://) or an Azure Blob URL (az://, abfs://, abfss://). Anything else (other
fsspec protocols such as local://, memory://, http(s)://, ftp://, sftp://, zip://,
chained "a::b" URLs) is refused here, by looking at the text alone: no filesystem is
built, no file opened and no connection made for a refused URI. Local paths still have
to pass the caller's root check.

Database files (sqlite:///ABS/PATH.db, duckdb:///ABS/PATH.duckdb) are places to read
from only: classify_source accepts them, classify (every destination) refuses them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

# The cloud URI rules live below storage, the daemon and the client (which installs
# without storage's dependencies); re-exported here, where storage and the daemon have
# always found them.
from sluice.cloud_uris import (
    AZURE_CONTAINER_OR_CREDENTIALS,
    CLOUD_SCHEMES,
    CREDENTIALS_IN_URI,
    CREDENTIALS_REMOVED,
    cloud_uri_refusal,
    holds_credentials,
    name_refusal,
    without_credentials,
    without_secrets,
)

__all__ = [
    "ALLOWED",
    "AZURE_CONTAINER_OR_CREDENTIALS",
    "CREDENTIALS_IN_URI",
    "CREDENTIALS_REMOVED",
    "DATABASE_SCHEMES",
    "SERVER_SCHEMES",
    "URL_SCHEMES",
    "Location",
    "LocationKind",
    "LocationRefused",
    "PostgresAddress",
    "SourceKind",
    "SourceLocation",
    "classify",
    "classify_source",
    "cloud_uri_refusal",
    "holds_credentials",
    "name_refusal",
    "postgres_address",
    "without_credentials",
    "without_secrets",
]

LocationKind = Literal["local", "s3", "azure"]
SourceKind = Literal["local", "s3", "azure", "sqlite", "duckdb", "postgresql"]
#: Source-only schemes: database files, opened read-only.
DATABASE_SCHEMES: tuple[Literal["sqlite", "duckdb"], ...] = ("sqlite", "duckdb")
#: Source-only schemes of database servers (with a source profile).
SERVER_SCHEMES = ("postgresql", "postgres")

_SCHEMES: dict[str, LocationKind] = {**CLOUD_SCHEMES}
_FILE = "file"
#: The URL schemes classify accepts (any case): a destination's, or a manifest's.
URL_SCHEMES = frozenset({*_SCHEMES, _FILE})
#: RFC 3986 scheme syntax; "simplecache::file" and the like fail it.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
ALLOWED = "a local path, a file:// URL, s3://, az://, abfs:// or abfss://"


class LocationRefused(ValueError):
    """The URI names a place requests may not reach; the message never quotes secrets."""


@dataclass(frozen=True)
class Location:
    kind: LocationKind
    #: Local: the absolute path (not resolved: it may hold glob patterns). Cloud: the URI.
    target: str


@dataclass(frozen=True)
class SourceLocation:
    kind: SourceKind
    #: Local files and databases: the absolute path (not resolved). Cloud: the URI.
    target: str


def classify_source(uri: str) -> SourceLocation:
    """Where a source `uri` points: a storage location (classify), a database file
    given as an absolute path (sqlite:///ABS/PATH, duckdb:///ABS/PATH) or a PostgreSQL
    database (postgresql://HOST:PORT/DBNAME, normalised to that form)."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() in SERVER_SCHEMES:
        return SourceLocation("postgresql", _postgres_address(rest))
    for kind in DATABASE_SCHEMES:
        if sep and scheme.lower() == kind:
            return SourceLocation(kind, _database_path(kind, rest))
    location = classify(uri)
    return SourceLocation(location.kind, location.target)


def _database_path(kind: str, rest: str) -> str:
    if not rest.startswith("/") or rest.startswith("//"):
        raise LocationRefused(
            f"must be {kind}:///ABSOLUTE/PATH (three slashes, no host, an absolute path)"
        )
    if "?" in rest or "#" in rest:
        raise LocationRefused(f"is a {kind}:// URL with a query or fragment; give the path only")
    return os.path.normpath(_without_control_characters(unquote(rest)))


#: C0 control characters and DEL. Checked after percent-decoding: "%00" in a database
#: name ended libpq's connection string there, dropping the source profile's user,
#: password, read-only option, timeout and TLS settings after it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _without_control_characters(decoded: str) -> str:
    """`decoded` (a path or database name, percent-decoded), or LocationRefused; the
    value is not echoed."""
    if _CONTROL.search(decoded):
        raise LocationRefused("contains a control character (after percent-decoding)")
    return decoded


@dataclass(frozen=True)
class PostgresAddress:
    """HOST:PORT/DBNAME of a postgresql:// source."""

    host: str
    port: int
    database: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{host}:{self.port}/{self.database}"


def postgres_address(target: str) -> PostgresAddress:
    """The parts of a target classify_source returned for a postgresql:// source."""
    parts = urlsplit(target)
    assert parts.hostname is not None and parts.port is not None
    return PostgresAddress(parts.hostname, parts.port, unquote(parts.path[1:]))


def _postgres_address(rest: str) -> str:
    _without_control_characters(rest)
    parts = urlsplit("postgresql://" + rest)
    try:
        port = parts.port or 5432
    except ValueError:
        raise LocationRefused("has a port that is not a number from 1 to 65535") from None
    if parts.password is not None:
        # Never echoed: the text after the colon is a password.
        raise LocationRefused(
            "must not hold a password: set password_ref in the source profile "
            "(spec.source.profile names it)"
        )
    if parts.username is not None:
        raise LocationRefused("must not hold a user: the source profile's user is used")
    if parts.query or parts.fragment:
        raise LocationRefused(
            "must not hold connection parameters: TLS and timeouts are source profile settings"
        )
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    _without_control_characters(database)
    if not parts.hostname or not database or "/" in database:
        raise LocationRefused("must be postgresql://HOST:PORT/DBNAME")
    return str(PostgresAddress(parts.hostname, port, database))


def classify(uri: str) -> Location:
    """Where `uri` points, or LocationRefused for anything outside the allow-list."""
    if not uri:
        raise LocationRefused("is empty")
    if "\x00" in uri:
        raise LocationRefused("contains a NUL character")
    scheme, sep, _ = uri.partition("://")
    if not sep:
        return Location("local", os.path.abspath(os.path.expanduser(uri)))
    if not _SCHEME.fullmatch(scheme):
        # Chained URLs ("simplecache::file://...") reach files past every root check.
        raise LocationRefused(f"is not a supported URL; use {ALLOWED}")
    kind = _SCHEMES.get(scheme.lower())
    if kind is not None:
        if holds_credentials(uri):
            raise LocationRefused(
                AZURE_CONTAINER_OR_CREDENTIALS if kind == "azure" else CREDENTIALS_IN_URI
            )
        return Location(kind, uri)
    if scheme.lower() == _FILE:
        return Location("local", _file_url_path(uri))
    if scheme.lower() in DATABASE_SCHEMES or scheme.lower() in SERVER_SCHEMES:
        raise LocationRefused(f"is a database ({scheme.lower()}://), which can only be a source")
    raise LocationRefused(f"uses the unsupported scheme {scheme[:32]!r}; use {ALLOWED}")


def _file_url_path(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise LocationRefused("is a file:// URL naming another host; only local paths")
    if parts.query or parts.fragment:
        raise LocationRefused("is a file:// URL with a query or fragment")
    path = unquote(parts.path)
    if not path:
        raise LocationRefused("is a file:// URL without a path")
    if "\x00" in path:
        raise LocationRefused("contains a NUL character")
    return os.path.abspath(path)
