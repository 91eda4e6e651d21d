"""Cloud storage URIs (s3://, s3a://, az://, abfs://, abfss://) as text: whether one holds
credentials (user-info), the URI as a message may show it, and whether its bucket or
container is a valid name, with the reason when it is not. Nothing is parsed by a
filesystem, nothing opened, no connection made.

Below the daemon, the sinks and the client, which all import it (sluice.sinks.locations
re-exports it): the client installs without the daemon's dependencies, so this module
needs the standard library alone. Its messages never repeat a value that may be a
secret: credentials are cut out, and a bucket or container name is quoted only when
every character of it is one such names are made of and it is short enough to be one.
"""

from __future__ import annotations

import re
from typing import Literal

CloudKind = Literal["s3", "azure"]

#: The cloud URL schemes (any case) and the storage each names.
CLOUD_SCHEMES: dict[str, CloudKind] = {
    "s3": "s3",
    "s3a": "s3",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}


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
_AZURE_SCHEMES = frozenset(scheme for scheme, kind in CLOUD_SCHEMES.items() if kind == "azure")
#: Azure container naming rules: 3-63 lowercase letters, digits and single hyphens
#: (private: is_bucket_or_container is the one way to ask).
_AZURE_CONTAINER = re.compile(r"(?=.{3,63}\Z)[a-z0-9]+(-[a-z0-9]+)*")
#: Containers Azure names itself (the static website's `$web`, Storage Analytics'
#: `$logs`, the account's root container `$root`): valid container names, exactly so.
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
#: a name holding any other (`?`, `#`, `@`, `%`, whitespace, controls, non-ASCII) may
#: hold a query's signature or a key, and name_refusal says only that it holds one.
_NAME_ALPHABET = re.compile(r"[A-Za-z0-9._-]*")


def in_name_alphabet(name: str) -> bool:
    """Whether `name` holds only letters, digits, '.', '_' and '-' (ASCII). Even then a
    message quotes it only when name_refusal finds it made of its own kind's narrower
    alphabet (lowercase letters, digits, '-', and '.' for a bucket)."""
    return _NAME_ALPHABET.fullmatch(name) is not None


def is_bucket_or_container(scheme: str, name: str) -> bool:
    """Whether `name` is a valid bucket (s3, s3a) or container (az, abfs, abfss) name."""
    if scheme.lower() in _AZURE_SCHEMES:
        return _AZURE_CONTAINER.fullmatch(name) is not None or name in AZURE_SPECIAL_CONTAINERS
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
    if not sep or scheme.lower() not in CLOUD_SCHEMES:
        return None
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    segment = rest.partition("/")[0]
    if scheme.lower() in _AZURE_SCHEMES:
        container, at, host = segment.partition("@")
        legit = is_bucket_or_container(scheme, container) and (not at or is_account_host(host))
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
    if not sep or scheme.lower() in CLOUD_SCHEMES:
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


_S3_RULE = "a bucket name is 3-63 lowercase letters, digits, '.' or '-'"
_AZURE_RULE = (
    "a container name is 3-63 lowercase letters, digits and single hyphens (or $web, $logs, $root)"
)
#: The characters each kind of name is made of: a name holding only these and no longer
#: than a valid one breaks a rule of form (too short, '..', '--', a leading '-') and may
#: be quoted, since it is no more a secret than a valid name would be.
_S3_CHARACTERS = re.compile(r"[a-z0-9.-]{0,63}")
_AZURE_CHARACTERS = re.compile(r"[a-z0-9-]{0,63}")


#: (what a message calls the name, the plural noun), by whether it is Azure's.
_NAME_KIND = {False: ("S3 bucket", "bucket"), True: ("Azure container", "container")}


def name_refusal(scheme: str, name: str) -> str | None:
    """Why `name` is no valid bucket (s3, s3a) or container (az, abfs, abfss) name, or
    None when it is one. The message says what is wrong; it quotes the name only when
    every character is one such names hold and it is not too long (`'ab'`,
    `'my--container'`): a name holding a ':', an uppercase letter, a '_', any other
    character, or too many characters (`s3://SECRETKEY/x`, `s3://KEY:SECRET/x`) may be
    a secret pasted in its place, and is never repeated."""
    if is_bucket_or_container(scheme, name):
        return None
    azure = scheme.lower() in _AZURE_SCHEMES
    what, noun = _NAME_KIND[azure]
    rule = _AZURE_RULE if azure else _S3_RULE
    if ":" in name:
        # An access point ARN, a port, or a key pair without its '@'.
        where = (
            "an account endpoint or port belongs in the storage profile; give az://CONTAINER/PREFIX"
            if azure
            else "access point ARNs and host:port are not supported; give s3://BUCKET/PREFIX"
        )
        return f"invalid {what} name (not repeated): {noun} names hold no ':' ({where})"
    if not in_name_alphabet(name):
        # A query (a SAS token, an X-Amz-Signature), a '%' escape, whitespace or
        # non-ASCII text.
        return (
            f"invalid {what} name (not repeated): it holds a character {noun} "
            "names never hold (a '?', '#', '%', '$', space, control or non-ASCII character); "
            f"{rule}, and "
            + (
                "a SAS token belongs in the storage profile (sas_token_ref)"
                if azure
                else "a query does not belong in an s3:// URI"
            )
        )
    reasons = []
    if any(c.isupper() for c in name):
        reasons.append("an uppercase letter")
    if "_" in name:
        reasons.append("'_'")
    if azure and "." in name:
        reasons.append("'.'")
    if reasons:
        return f"invalid {what} name (not repeated): it holds {' and '.join(reasons)}; {rule}"
    characters = _AZURE_CHARACTERS if azure else _S3_CHARACTERS
    if characters.fullmatch(name) is None:
        return f"invalid {what} name (not repeated): it is {len(name)} characters long; {rule}"
    return f"invalid {what} name {name!r}: {rule}"


def cloud_uri_refusal(uri: str) -> str | None:
    """Why a cloud URI (s3, s3a, az, abfs, abfss) names no bucket or container that can
    be reached: it holds credentials, or its bucket or container is no valid name
    (name_refusal). None for a cloud URI without either fault, and for any other text.
    The message never repeats the URI; a caller shows it through without_secrets."""
    scheme, sep, rest = uri.partition("://")
    kind = CLOUD_SCHEMES.get(scheme.lower()) if sep else None
    if kind is None:
        return None
    if holds_credentials(uri):
        return AZURE_CONTAINER_OR_CREDENTIALS if kind == "azure" else CREDENTIALS_IN_URI
    name = rest.partition("/")[0]
    if kind == "azure":
        name = name.partition("@")[0]
    return name_refusal(scheme, name)


#: A URL chaining fsspec filesystems (`simplecache::s3://...`, `s3://a/b::az://...`): the
#: scheme checks above see only the first link, so the client reads none.
CHAINED_URL = (
    "chained URLs ('::', such as simplecache::s3://...) are not read (URI not repeated); "
    "give the manifest's own s3://, az:// or local path"
)
#: A manifest URI with a query or fragment: it may hold a signature or a SAS token.
QUERY_IN_URI = (
    "a manifest URI holds no '?' or '#' (URI not repeated: a query may hold a signature "
    "or a SAS token); a storage profile or the SDK's environment holds credentials"
)
#: A bucket segment of an s3:// URI the client still reads although the daemon refuses
#: it: 1-255 letters (any case), digits, '.', '_' and '-', as us-east-1 once allowed
#: (`Legacy_Bucket`).
_LEGACY_S3_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: An S3 access point (or Object Lambda / Outposts) ARN in place of the bucket:
#: `arn:aws:s3:us-east-1:123456789012:accesspoint:NAME` (also `accesspoint/NAME`; a '/'
#: ends the segment, so that form reaches here as `...:accesspoint`).
_S3_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:s3(-object-lambda|-outposts)?:[a-z0-9-]+:[0-9]{12}:"
    r"(accesspoint([:][A-Za-z0-9-]{1,63})?|outpost[:/][A-Za-z0-9-]+[:/]accesspoint[:/][A-Za-z0-9-]+)"
)


def readable_uri_refusal(uri: str) -> str | None:
    """Why the client does not read the manifest at `uri` (None when it may try): a
    chained URL ('::', any scheme); a URL with a query or fragment; a cloud URI holding
    credentials (holds_credentials); an s3:// bucket segment holding a ':' that is no
    access point ARN, or a character legacy bucket names never held; an Azure container
    name_refusal refuses. Looser than the daemon for S3 alone: names us-east-1 once
    allowed (uppercase, '_', up to 255 characters) and access point ARNs are read. A
    bare secret made of such characters (`s3://wJalrXUtnFEMIK7MDENG/x`) cannot be told
    from a legacy bucket, so it is read too; the reader never repeats such a bucket
    segment (ExportReader scrubs it from storage errors). Messages repeat nothing of
    `uri`."""
    if "::" in uri:
        return CHAINED_URL
    scheme, sep, rest = uri.partition("://")
    if sep and ("?" in rest or "#" in rest):
        return QUERY_IN_URI
    kind = CLOUD_SCHEMES.get(scheme.lower()) if sep else None
    if kind != "s3":
        return cloud_uri_refusal(uri)
    if holds_credentials(uri):
        return CREDENTIALS_IN_URI
    bucket = rest.partition("/")[0]
    if _LEGACY_S3_BUCKET.fullmatch(bucket) or _S3_ARN.fullmatch(bucket):
        return None
    if ":" in bucket:
        return (
            "invalid S3 bucket (not repeated): a ':' outside an access point ARN "
            "(arn:aws:s3:REGION:ACCOUNT:accesspoint:NAME) may be a key pair"
        )
    return name_refusal(scheme, bucket)


def daemon_uri_refusal(uri: str) -> str | None:
    """Why the daemon does not reach the manifest at `uri` for a caller (verify, diff,
    delete; None when it may try): a chained URL or a query, as for readable_uri_refusal,
    and for a cloud URI exactly what CreateExport refuses for a destination
    (cloud_uri_refusal): credentials, or a bucket or container that is no valid name, a
    legacy S3 name (uppercase, '_') or an access point ARN included. The client checks
    it before sending, so these commands accept what an export can be written to, no
    more and no less. Messages repeat nothing of `uri`."""
    if "::" in uri:
        return CHAINED_URL
    _, sep, rest = uri.partition("://")
    if sep and ("?" in rest or "#" in rest):
        return QUERY_IN_URI
    return cloud_uri_refusal(uri)


def unquotable_bucket(uri: str) -> str | None:
    """The bucket or container segment of a cloud URI when a message may not quote it
    (name_refusal refuses it: a legacy S3 name, or a bare secret read as one), else
    None. What a reader scrubs from the errors of its storage library."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in CLOUD_SCHEMES:
        return None
    segment = rest.partition("/")[0]
    name = segment.partition("@")[0] if scheme.lower() in _AZURE_SCHEMES else segment
    if not name or name_refusal(scheme, name) is None:
        return None
    return segment


#: What a message shows in place of a bucket or container it may not quote.
BUCKET_NOT_REPEATED = "(bucket not repeated)"


def shown_uri(uri: str) -> str:
    """`uri` as the client shows it: without_secrets, and without a bucket or container
    name_refusal refuses (a legacy S3 name the client still reads, or a bare secret read
    as one): `s3://(bucket not repeated)/x/manifest.json`."""
    shown = without_secrets(uri)
    segment = unquotable_bucket(shown)
    if segment is None:
        return shown
    scheme, _, rest = shown.partition("://")
    return f"{scheme}://{BUCKET_NOT_REPEATED}{rest[len(segment) :]}"
