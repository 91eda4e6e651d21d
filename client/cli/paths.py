"""Paths on the command line mean what they mean in the user's shell.

The daemon runs in its own working directory, often on the same machine: a relative
`--source data/x.csv` sent as is would be read from the daemon's folder, not the user's.
So plain paths and file: URLs are made absolute here (with `~` expanded) before they
travel; remote URLs (s3://, az://, ...) pass unchanged.

Every command that names one export (get, verify, delete, diff, manifest, read) takes an
export id, a manifest.json path or URL, or the export's folder, and resolves it with
`export_ref`, so they all accept the same things. A chained URL ('::'), a URL with a
query or fragment, a cloud URI holding credentials, or one naming no bucket or container
the client reads (sluice.cloud_uris.readable_uri_refusal), is refused there without
being repeated. The commands the daemon carries out (verify, diff, delete) take
`daemon_export_ref`: a cloud URI there is checked as CreateExport checks a destination
(sluice.cloud_uris.daemon_uri_refusal), so a legacy S3 bucket name or an access point
ARN, which only the client's own reader accepts, is refused before it is sent.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from sluice.client._client import ExportClient
from sluice.client._convert import state_name
from sluice.client.cli.output import CliError
from sluice.cloud_uris import daemon_uri_refusal, readable_uri_refusal
from sluice.format.layout import MANIFEST_NAME, manifest_key

_FILE_PREFIXES = ("file://", "file:")


def local_path(uri: str) -> Path | None:
    """The local file a path or file:// URL names; None for remote URLs (s3://, az://)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    # A one-letter "scheme" is a Windows drive, not a URL.
    if not parsed.scheme or len(parsed.scheme) == 1:
        return Path(uri)
    return None


def absolute_uri(uri: str) -> str:
    """A plain path or file: URL made absolute against this process's working directory
    (`~` expanded, globs kept); remote URLs and empty values unchanged."""
    if not uri:
        return uri
    for prefix in _FILE_PREFIXES:
        if uri.startswith(prefix):
            rest = uri.removeprefix(prefix)
            # fsspec reads file://data/x as the relative path data/x; so do we.
            return uri if rest.startswith("/") else "file://" + _absolute(rest)
    if local_path(uri) is None:
        return uri
    return _absolute(uri)


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


@dataclass(frozen=True)
class ExportRef:
    """One export as a command names it: by id, or by where its manifest is."""

    export_id: str
    #: Absolute path or URL of the manifest; "" when named by id.
    manifest_uri: str = ""

    @property
    def for_server(self) -> str:
        """What VerifyExport, DeleteExport and DiffExports take: an id or a manifest URI."""
        return self.manifest_uri or self.export_id


def export_ref(target: str) -> ExportRef:
    """An export id; a manifest.json path or URL; or the export's folder (local or
    remote). Relative paths are the user's, so they are made absolute; a local folder
    or file that exists wins over an id of the same name."""
    return _export_ref(target, readable_uri_refusal(target))


def daemon_export_ref(target: str) -> ExportRef:
    """export_ref for a command the daemon carries out (verify, diff, delete): a cloud
    URI must be one CreateExport accepts as a destination (daemon_uri_refusal)."""
    return _export_ref(target, daemon_uri_refusal(target))


def daemon_destination(destination: str) -> str:
    """A DEST the daemon reaches for a command (retain, `export list --dataset`), made
    absolute: a cloud URI must be one CreateExport accepts (daemon_uri_refusal), refused
    here before anything is sent, with words that repeat nothing of it."""
    refusal = daemon_uri_refusal(destination)
    if refusal is not None:
        raise CliError(refusal)
    return absolute_uri(destination)


def _export_ref(target: str, refusal: str | None) -> ExportRef:
    if refusal is not None:
        # Refused here, never sent nor read: the text may hold a key
        # (`s3://KEY:SECRET@bucket/...`, `simplecache::s3://SECRET/...`, `?X-Amz-Signature=`).
        raise CliError(refusal)
    path = local_path(target)
    if path is None:
        return _manifest_ref(target)
    looks_like_path = (
        target.startswith(_FILE_PREFIXES)
        or "/" in target
        or target.endswith(".json")
        or target in (".", "..", "~")
    )
    if not looks_like_path and not path.exists():
        # Export ids never contain a slash or end in .json.
        return ExportRef(export_id=target)
    absolute = absolute_uri(target)
    local = local_path(absolute)
    assert local is not None
    if local.is_dir():
        absolute = manifest_key(absolute)
    return _manifest_ref(absolute)


def _manifest_ref(uri: str) -> ExportRef:
    """A manifest's URI (a folder gets manifest.json appended; exports keep it under
    <destination>/<dataset>/<export_id>/, so the folder's name is the id)."""
    if posixpath.basename(uri.rstrip("/")) != MANIFEST_NAME and not uri.endswith(".json"):
        uri = manifest_key(uri)
    return ExportRef(export_id=posixpath.basename(posixpath.dirname(uri)), manifest_uri=uri)


def manifest_uri(ref: ExportRef, client: Callable[[], ExportClient]) -> str:
    """Where the export's manifest is: as given, or as the daemon recorded it for an id."""
    if ref.manifest_uri:
        return ref.manifest_uri
    with client() as sluice:
        export = sluice.get(ref.export_id)
    state = state_name(export.state)
    if state == "deleted":
        raise CliError(f"export {export.id} was deleted; its files were removed")
    if not export.manifest_uri:
        raise CliError(
            f"export {export.id} has no manifest yet (it is {state}); "
            "a manifest is written when an export succeeds"
        )
    return export.manifest_uri
