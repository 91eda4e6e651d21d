"""The audit log: one JSON line per state-changing call and per denied call, with the
time, the principal, the method, the export id, the outcome and the peer address. It
never holds a token, a secret or a data value: the fields are those alone, and the
export id (a caller's text when it names an unknown export) is cut short."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sluice.server.errors import FailedPrecondition

#: Longest export id written; a real one is 28 characters.
_MAX_ID = 128


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
        line["export_id"] = event.export_id[:_MAX_ID]
        text = json.dumps(line, ensure_ascii=True, sort_keys=False)
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            with self._lock:
                self._stream.close()
