"""Conversions between API messages and plain Python / JSON values.

One JSON shape per message, used by every CLI command, so scripts can rely on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from sluice.v1 import export_pb2

_STATE_PREFIX = "EXPORT_STATE_"

#: Lowercase state names as the CLI and JSON output spell them.
STATE_NAMES = ("queued", "running", "succeeded", "failed", "cancelled", "deleted")
FINAL_STATES = frozenset(
    {
        export_pb2.EXPORT_STATE_SUCCEEDED,
        export_pb2.EXPORT_STATE_FAILED,
        export_pb2.EXPORT_STATE_CANCELLED,
        export_pb2.EXPORT_STATE_DELETED,
    }
)


def state_name(state: export_pb2.ExportState.ValueType) -> str:
    """EXPORT_STATE_RUNNING -> "running" (unknown numbers from a newer server: "unspecified")."""
    try:
        name = export_pb2.ExportState.Name(state)
    except ValueError:
        return "unspecified"
    return name.removeprefix(_STATE_PREFIX).lower()


def state_value(state: str | int) -> export_pb2.ExportState.ValueType:
    """Accepts "running", "RUNNING", "EXPORT_STATE_RUNNING" or the enum number."""
    if isinstance(state, int):
        return export_pb2.ExportState.ValueType(state)
    name = state.strip().upper()
    if not name.startswith(_STATE_PREFIX):
        name = _STATE_PREFIX + name
    try:
        return export_pb2.ExportState.Value(name)
    except ValueError:
        raise ValueError(
            f"unknown export state {state!r}; expected one of {', '.join(STATE_NAMES)}"
        ) from None


def state_values(states: Iterable[str | int]) -> list[export_pb2.ExportState.ValueType]:
    return [state_value(s) for s in states]


def to_timestamp(value: datetime) -> Timestamp:
    """A naive datetime is taken as UTC (the CLI promises that for its time options)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def timestamp_text(message: Any, field: str) -> str | None:
    """RFC 3339 text of a Timestamp field, or None when the field is unset."""
    if not message.HasField(field):
        return None
    text: str = getattr(message, field).ToJsonString()
    return text


def timestamp_datetime(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return value


def export_to_dict(export: export_pb2.Export) -> dict[str, Any]:
    """The JSON shape of an export, the same in every command's --json output."""
    error = None
    if export.HasField("error") and (export.error.code or export.error.message):
        error = {
            "code": export.error.code,
            "message": export.error.message,
            "transient": export.error.transient,
        }
    return {
        "id": export.id,
        "request_id": export.request_id,
        "state": state_name(export.state),
        "manifest_uri": export.manifest_uri,
        "replica": export.replica,
        "records": export.progress.records,
        "chunks": export.progress.chunks,
        "stored_bytes": export.progress.stored_bytes,
        "created_at": timestamp_text(export, "created_at"),
        "started_at": timestamp_text(export, "started_at"),
        "finished_at": timestamp_text(export, "finished_at"),
        "error": error,
        "labels": dict(export.spec.labels),
        "spec": MessageToDict(export.spec),
    }


def progress_to_dict(progress: export_pb2.Progress) -> dict[str, Any]:
    return {
        "records": progress.records,
        "chunks": progress.chunks,
        "stored_bytes": progress.stored_bytes,
        "source_rows_done": progress.source_rows_done,
        "source_rows_total": progress.source_rows_total,
        "records_per_second": progress.records_per_second,
        "bytes_per_second": progress.bytes_per_second,
        # Negative means unknown on the wire; null says that more plainly in JSON.
        "eta_seconds": progress.eta_seconds if progress.eta_seconds >= 0 else None,
    }


def event_to_dict(event: export_pb2.ExportEvent) -> dict[str, Any]:
    """One watch event: {"time", "export_id", "type", <payload under the type's name>}."""
    kind = event.WhichOneof("event")
    payload: Any = None
    if kind in ("snapshot", "finished"):
        payload = export_to_dict(getattr(event, kind))
    elif kind == "state_changed":
        payload = state_name(event.state_changed)
    elif kind == "progress":
        payload = progress_to_dict(event.progress)
    elif kind == "chunk_committed":
        chunk = event.chunk_committed
        payload = {
            "index": chunk.index,
            "path": chunk.path,
            "records": chunk.records,
            "stored_bytes": chunk.stored_bytes,
            "sha256": chunk.sha256,
        }
    result: dict[str, Any] = {
        "time": timestamp_text(event, "time"),
        "export_id": event.export_id,
        "type": kind,
    }
    if kind is not None:
        result[kind] = payload
    return result
