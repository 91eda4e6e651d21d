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

LocationKind = Literal["local", "s3", "azure"]
SourceKind = Literal["local", "s3", "azure", "sqlite", "duckdb", "postgresql"]
#: Source-only schemes: database files, opened read-only.
DATABASE_SCHEMES: tuple[Literal["sqlite", "duckdb"], ...] = ("sqlite", "duckdb")
#: Source-only schemes of database servers (with a source profile).
SERVER_SCHEMES = ("postgresql", "postgres")

_SCHEMES: dict[str, LocationKind] = {
    "s3": "s3",
    "s3a": "s3",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
_FILE = "file"
#: The URL schemes classify accepts (any case): a destination's, or a manifest's.
URL_SCHEMES = frozenset({*_SCHEMES, _FILE})
#: RFC 3986 scheme syntax; "simplecache::file" and the like fail it.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
ALLOWED = "a local path, a file:// URL, s3://, az://, abfs:// or abfss://"


#: Why a cloud URI holding user-info (`KEY:SECRET@bucket`, a bare account key before
#: '@') is refused; the message never repeats it.
CREDENTIALS_IN_URI = (
    "credentials do not belong in the URI (user-info before '@'): name a storage profile "
    "whose secret references hold them (README: Cloud storage, Storage profiles)"
)
#: What an Azure URI whose container segment holds an '@' that is no
#: `CONTAINER@ACCOUNT-HOST` is refused with: a mistyped container (`MyContainer@acct`)
#: cannot be told from a key, so the text before the '@' is never repeated either way.
AZURE_CONTAINER_OR_CREDENTIALS = (
    "invalid Azure container: an invalid container name, or credentials, before '@' "
    "(not repeated); a container name is 3-63 lowercase letters, digits and single "
    f"hyphens, and {CREDENTIALS_IN_URI}"
)
_AZURE_SCHEMES = frozenset(scheme for scheme, kind in _SCHEMES.items() if kind == "azure")
#: Azure container naming rules: 3-63 lowercase letters, digits and single hyphens
#: (private: is_bucket_or_container is the one way to ask).
_AZURE_CONTAINER = re.compile(r"(?=.{3,63}\Z)[a-z0-9]+(-[a-z0-9]+)*")
#: Containers Azure reserves (static website, logs, the root container): no user-info,
#: so refused for their name (sinks.azure.options), never for credentials.
AZURE_SPECIAL_CONTAINERS = frozenset({"$web", "$logs", "$root"})
#: The host of abfs://CONTAINER@HOST: an account name (3-24 lowercase letters and
#: digits, any case accepted as DNS does), then domain labels, a trailing dot (a fully
#: qualified name) and a port if any (`acct`, `acct.dfs.core.windows.net.`,
#: `devstoreaccount1`, `127.0.0.1:10000`).
_ACCOUNT_HOST = re.compile(
    r"[a-z0-9]{3,24}(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?(:[0-9]{1,5})?", re.IGNORECASE
)
#: A bracketed IPv6 address with a port if any (`[::1]:10000`), as Azurite may listen.
_IPV6_HOST = re.compile(r"\[[0-9a-f:.]{2,45}\](:[0-9]{1,5})?", re.IGNORECASE)
#: AWS bucket naming rules: 3-63 lowercase letters, digits, '.' and '-' (no '..').
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: What a message, a log line or the audit log shows in place of a cloud URI's
#: credentials: `s3://(credentials removed)@bucket/x`, or `s3://(credentials removed)`
#: alone when what follows them cannot be told (a secret holding '/').
CREDENTIALS_REMOVED = "(credentials removed)"


#: The characters bucket and container names are made of, in any case ('_' included):
#: a name holding any other (`?`, `#`, `@`, `%`, whitespace, controls, non-ASCII) is
#: refused without being quoted, since it may hold a query's signature or a key.
_NAME_ALPHABET = re.compile(r"[A-Za-z0-9._-]*")


def in_name_alphabet(name: str) -> bool:
    """Whether `name` holds only letters, digits, '.', '_' and '-' (ASCII): a message
    may quote it when it is no valid bucket or container name; otherwise it may not."""
    return _NAME_ALPHABET.fullmatch(name) is not None


def is_bucket_or_container(scheme: str, name: str) -> bool:
    """Whether `name` is a valid bucket (s3, s3a) or container (az, abfs, abfss) name."""
    if scheme.lower() in _AZURE_SCHEMES:
        return _AZURE_CONTAINER.fullmatch(name) is not None
    return _S3_BUCKET.fullmatch(name) is not None and ".." not in name


def _cloud_user_info(uri: str) -> tuple[str, str | None] | None:
    """(scheme, what follows the credentials) of a cloud URI holding user-info, judged
    on its first '/'-segment (the text after `scheme://` up to the first '/', which is
    what the parsers take for the bucket or container: a '?' or '#' there does not end
    it, since bucket and container names never hold '?', '#' or '@'):
    - s3, s3a: the segment is a bucket name, which never holds '@'. One holding '@'
      anywhere (`KEY:SECRET@bucket`, `minioadmin@bucket`, `KEY:pa?ss@bucket`,
      `bucket?sig=SECRET@x`) is user-info.
    - az, abfs, abfss: the segment is `CONTAINER` or `CONTAINER@ACCOUNT-HOST`; one holding
      '@' that is not that form is user-info (`KEY@c`, `acct:KEY@c`, `c?sig=X@acct`).
    - either: a segment that is no bucket or container name, followed by an '@' before a
      '?' or '#', is user-info too (a bare secret holding '/': `SECRET/PART@bucket`).
    After a valid segment an '@' is part of the object path (`s3://b/joe@x.com/f`).
    None for any other URI. What follows the credentials is the rest of the URI after
    the segment's last '@' when the segment holds no '?' or '#' and no '@' follows it
    before a '?' or '#' (the segment held them whole), else None: a secret may hold '/',
    '?' and '@', so nothing after it can be told from it."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        return None
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    segment = rest.partition("/")[0]
    if scheme.lower() in _AZURE_SCHEMES:
        container, at, host = segment.partition("@")
        legit = (
            is_bucket_or_container(scheme, container) or container in AZURE_SPECIAL_CONTAINERS
        ) and (not at or is_account_host(host))
    else:
        legit = is_bucket_or_container(scheme, segment)
    if legit or ("@" not in segment and "@" not in head):
        return None
    whole = "?" not in segment and "#" not in segment
    if "@" in segment and whole and head.count("@") == segment.count("@"):
        return scheme, rest[len(segment.rpartition("@")[0]) + 1 :]
    return scheme, None


def is_account_host(host: str) -> bool:
    """Whether `host` may follow `CONTAINER@` in an Azure URI: an account host
    (`acct`, `acct.dfs.core.windows.net`, a trailing-dot FQDN, an IPv4 address), or a
    bracketed IPv6 address, with a port if any."""
    return _ACCOUNT_HOST.fullmatch(host) is not None or _IPV6_HOST.fullmatch(host) is not None


def holds_credentials(uri: str) -> bool:
    """Whether a cloud URI (s3, s3a, az, abfs, abfss) holds user-info (see
    _cloud_user_info: judged on its authority). Such a URI is refused with
    CREDENTIALS_IN_URI, never repeated. A bare secret whose first '/'-segment happens
    to be a valid bucket or container name cannot be told from an object path."""
    return _cloud_user_info(uri) is not None


def without_credentials(uri: str) -> str:
    """`uri` as a message, a log line, a manifest or the audit log may show it: a URL
    without its user-info. A cloud URI holding credentials (holds_credentials) is cut to
    CREDENTIALS_REMOVED, followed by '@' and what follows the authority's last '@' when
    the authority held them whole (`s3://(credentials removed)@bucket/x`), else by
    nothing: never a remainder that looks like another location. Any other cloud URI
    (an '@' in its object path included) is returned as it is. For other URLs the
    user-info of the authority alone goes: the '@' of a path
    (`postgresql://db:5432/sales@eu`) is no credential. A path, or a URL without
    user-info, is returned as it is; a query (a glob's `?`) is kept too."""
    cloud = _cloud_user_info(uri)
    if cloud is not None:
        scheme, after = cloud
        if after is None:
            return f"{scheme}://{CREDENTIALS_REMOVED}"
        return f"{scheme}://{CREDENTIALS_REMOVED}@{after}"
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() in _SCHEMES:
        return uri
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return uri


def without_secrets(uri: str) -> str:
    """without_credentials, and without a query or fragment either (a SAS token, a
    signature): for a URI that names an object or a folder, not a glob (whose `?` is
    part of the pattern)."""
    if "://" not in uri:
        return uri
    return without_credentials(uri).partition("#")[0].partition("?")[0]


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
    if "\x00" in rest:
        raise LocationRefused("contains a NUL character")
    if not rest.startswith("/") or rest.startswith("//"):
        raise LocationRefused(
            f"must be {kind}:///ABSOLUTE/PATH (three slashes, no host, an absolute path)"
        )
    if "?" in rest or "#" in rest:
        raise LocationRefused(f"is a {kind}:// URL with a query or fragment; give the path only")
    return os.path.normpath(unquote(rest))


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
    if "\x00" in rest:
        raise LocationRefused("contains a NUL character")
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
    if not _SCHEME.match(scheme):
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
