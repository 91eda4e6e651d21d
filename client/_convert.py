"""Conversions between API messages and plain Python / JSON values.

One JSON shape per message, used by every CLI command, so scripts can rely on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
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
        "spec": message_dict(export.spec),
        "notifications": [
            {
                "target": delivery.target,
                "state": delivery.state,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
                "delivery_id": delivery.delivery_id,
            }
            for delivery in export.notifications
        ],
        "attempts": [attempt_to_dict(attempt) for attempt in export.attempts],
        # A deleted export whose personal values the daemon forgot: the spec's "?" and the
        # error messages are its forgetting, not the request's (last: keys only append).
        "values_forgotten": export.values_forgotten,
    }


def attempt_to_dict(attempt: export_pb2.ExportAttempt) -> dict[str, Any]:
    """One run of an export, as every --json output shows it."""
    error = None
    if attempt.HasField("error"):
        error = {
            "code": attempt.error.code,
            "message": attempt.error.message,
            "transient": attempt.error.transient,
        }
    return {
        "number": attempt.number,
        "replica": attempt.replica,
        "outcome": attempt.outcome,
        "started_at": timestamp_text(attempt, "started_at"),
        "ended_at": timestamp_text(attempt, "ended_at"),
        "error": error,
        "retry_at": timestamp_text(attempt, "retry_at"),
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


_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def message_dict(
    message: Message, *, proto_names: bool = False, with_defaults: bool = False
) -> dict[str, Any]:
    """`message` as JSON-ready values, like protobuf's `MessageToDict` but with 64-bit
    integers as numbers: the proto3 JSON mapping prints them as strings (for JavaScript's
    doubles), which makes `"added": "2"` and breaks `jq '.added + 1'`. Python's and jq's
    integers hold them exactly."""
    value = MessageToDict(
        message,
        preserving_proto_field_name=proto_names,
        always_print_fields_with_no_presence=with_defaults,
    )
    # upb's descriptor type is the same class at run time; the stubs name both.
    return _numbers_back(value, cast(Descriptor, message.DESCRIPTOR), proto_names)


def _numbers_back(
    value: dict[str, Any], descriptor: Descriptor, proto_names: bool
) -> dict[str, Any]:
    for field in descriptor.fields:
        key = field.name if proto_names else field.json_name
        if key not in value:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            entries = value[key]
            for name, item in entries.items():
                entries[name] = _converted(item, value_field, proto_names)
        elif isinstance(value[key], list):  # repeated (its JSON form is always a list)
            value[key] = [_converted(item, field, proto_names) for item in value[key]]
        else:
            value[key] = _converted(value[key], field, proto_names)
    return value


def _converted(item: Any, field: FieldDescriptor, proto_names: bool) -> Any:
    if field.type in _INT64_TYPES and isinstance(item, str):
        return int(item)
    if field.message_type is not None and isinstance(item, dict):
        if field.message_type.full_name.startswith("google.protobuf."):
            return item  # well-known types (Timestamp, ...) have their own JSON forms
        return _numbers_back(item, field.message_type, proto_names)
    return item
