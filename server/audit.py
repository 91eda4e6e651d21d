"""The audit log: one JSON line per state-changing call and per denied call, with the
time, the principal, the method, the export id, the outcome and the peer address. It
never holds a token, a secret or a data value: the fields are those alone, and the
export id field (a caller's text when it names an unknown export) is recorded only when
it is an export id or a manifest reference, a URI without its user-info and query."""

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
from sluice.sinks.locations import without_secrets

#: Longest export reference written; an export id is 28 characters.
_MAX_ID = 128
#: What server.service.export_service.new_export_id makes.
_EXPORT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$")
_MANIFEST = "/manifest.json"
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
    URI without its user-info, query and fragment (a key pair pasted before a bucket, a
    SAS token); a local manifest path as it is; any other text, which a caller may have
    filled with anything (a token pasted in the wrong place), as NOT_AN_EXPORT_ID."""
    if not text or _EXPORT_ID.match(text):
        return text
    if "://" in text:
        return without_secrets(text)[:_MAX_ID]
    if text.startswith("/") and text.rstrip("/").endswith(_MANIFEST):
        return text[:_MAX_ID]
    return NOT_AN_EXPORT_ID
