"""The audit log: one JSON line per state-changing call and per denied call, with the
time, the principal, the method, the export id, the outcome and the peer address. It
never holds a token, a secret or a data value: the fields are those alone, and the
export id field (a caller's text when it names an unknown export) is recorded only when
it is an export id or a manifest reference (recorded_export): never a URI's credentials
or query."""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sluice.server.errors import FailedPrecondition
from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.locations import (
    CREDENTIALS_REMOVED,
    URL_SCHEMES,
    LocationRefused,
    classify,
    holds_credentials,
    without_secrets,
)
from sluice.sinks.s3.options import S3Location

#: Longest export reference written; an export id is 28 characters.
_MAX_ID = 128
#: What server.service.export_service.new_export_id makes (matched whole: fullmatch).
_EXPORT_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")
_MANIFEST = "manifest.json"
#: Recorded for any other text a caller sent as an export id or reference.
NOT_AN_EXPORT_ID = "(not an export id)"


@dataclass(frozen=True)
class AuditEvent:
    principal: str
    method: str
    export_id: str
    #: "OK", or the status code name ("PERMISSION_DENIED", "UNAUTHENTICATED", ...).
    outcome: str
    peer: str


class AuditLog:
    """Appends events to a file (opened once, line by line) or to stderr."""

    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._owned = target != "stderr"
        if self._owned:
            path = Path(target).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream: TextIO = path.open("a", encoding="utf-8", buffering=1)
            except OSError as exc:
                raise FailedPrecondition(
                    f"audit_log {path} cannot be opened ({exc.strerror})"
                ) from None
        else:
            self._stream = sys.stderr

    def record(self, event: AuditEvent) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        line.update(asdict(event))
        line["export_id"] = recorded_export(event.export_id)
        text = json.dumps(line, ensure_ascii=True, sort_keys=False)
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            with self._lock:
                self._stream.close()


def recorded_export(text: str) -> str:
    """What the audit log records of the export a call named: an export id as it is; a
    URI of a scheme the daemon takes for a manifest (sinks.locations.URL_SCHEMES: s3,
    s3a, az, abfs, abfss, file), starting the text, without its query and fragment, when
    that parses as a location; one holding credentials (sinks.locations.
    holds_credentials) only in the marker form `s3://(credentials removed)@bucket/...`,
    when what follows the marker parses, never as a bare remainder that may name
    another bucket; a local manifest path as ExportAdmin.locate takes one
    (DESTINATION/DATASET/EXPORT_ID/manifest.json), a relative one as the absolute path
    it names (one holding ':' or '@' excepted: a cloud URI missing its scheme, perhaps
    with a key); any other text, which a caller may have filled with anything (a token
    pasted in the wrong place, `KEY:SECRET@s3://...`), as NOT_AN_EXPORT_ID. No reference
    holding whitespace or a control character is recorded."""
    if not text or _EXPORT_ID.fullmatch(text):
        return text
    if not text.isprintable() or any(c.isspace() for c in text):
        return NOT_AN_EXPORT_ID
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() in URL_SCHEMES:
        shown = without_secrets(text)
        if holds_credentials(text):
            _, marked, after = shown.partition(f"{CREDENTIALS_REMOVED}@")
            parses = bool(marked) and _parses(f"{scheme}://{after}")
        else:
            parses = _parses(shown)
        return shown[:_MAX_ID] if parses else NOT_AN_EXPORT_ID
    if not _is_manifest_path(text):
        return NOT_AN_EXPORT_ID
    if text.startswith("/"):
        return text[:_MAX_ID]
    if ":" not in text and "@" not in text:
        return classify(text).target[:_MAX_ID]
    return NOT_AN_EXPORT_ID


def _parses(uri: str) -> bool:
    try:
        kind = classify(uri).kind
        if kind == "s3":
            S3Location.parse(uri)
        elif kind == "azure":
            AzureLocation.parse(uri)
    except (LocationRefused, ValueError):
        return False
    return True


def _is_manifest_path(path: str) -> bool:
    """A local path as ExportAdmin.locate (server.service.export_admin,
    _split_manifest_uri) takes one: DESTINATION/DATASET/EXPORT_ID/manifest.json, each
    part non-empty (a relative DESTINATION is taken from the daemon's directory)."""
    root, _, manifest = path.rstrip("/").rpartition("/")
    base, _, export_id = root.rpartition("/")
    destination, _, dataset = base.rpartition("/")
    return manifest == _MANIFEST and bool(destination and dataset and export_id)
