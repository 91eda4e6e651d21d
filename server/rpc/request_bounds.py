"""Bounds on what a request may carry, checked on arrival before any handler runs.

Every string and repeated field of every sluice.v1 request has an entry in BOUNDS (a unit
test keeps it so: a new field without a bound fails it). Strings must be valid text
without NUL characters (they reach paths, SQL, regex engines and logs) and at most
`chars` long; repeated and map fields hold at most `items` entries; timestamps lie in
0001-01-01..9999-12-31 with nanos in 0..999,999,999. The first field out of bounds is
INVALID_ARGUMENT naming it, never echoing the value. Content rules (what a `where` may
say, which URIs are allowed) stay with the domain checks that follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sluice.server.errors import InvalidArgument

PACKAGE = "sluice.v1"
_TIMESTAMP = "google.protobuf.Timestamp"
#: google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_NANOS = 999_999_999

URI = 4096
NAME = 256
REFERENCE = 128
KEYWORD = 32
EXPORT_ID = 128
#: Schedule names are at most 63 characters (checked by the schedule service); the
#: bound leaves room so a long name gets that message rather than this one.
SCHEDULE_NAME = 128


@dataclass(frozen=True)
class Bound:
    #: Longest string, in characters (strings, and the entries of repeated strings).
    chars: int = 0
    #: Most entries of a repeated or map field.
    items: int = 0


#: Keyed by the field's full proto name. Maps bound their entry count on the map field
#: and their keys and values on the entry's fields.
BOUNDS: dict[str, Bound] = {
    "sluice.v1.CreateExportRequest.request_id": Bound(chars=128),
    "sluice.v1.Source.uri": Bound(chars=URI),
    "sluice.v1.Source.format": Bound(chars=KEYWORD),
    "sluice.v1.Source.profile": Bound(chars=REFERENCE),
    "sluice.v1.Source.on_bad_rows": Bound(chars=KEYWORD),
    "sluice.v1.Source.schema": Bound(items=4096),
    # "SCHEMA.NAME": two quoted identifiers.
    "sluice.v1.Source.table": Bound(chars=2 * NAME + 1),
    "sluice.v1.Source.query": Bound(chars=65_536),
    "sluice.v1.Source.order_by": Bound(chars=NAME, items=64),
    "sluice.v1.Source.name": Bound(chars=REFERENCE),
    "sluice.v1.ExportSpec.template": Bound(chars=REFERENCE),
    "sluice.v1.SubjectPackage.subject_id": Bound(chars=NAME),
    "sluice.v1.SubjectPackage.sources": Bound(chars=REFERENCE, items=256),
    "sluice.v1.ColumnType.name": Bound(chars=NAME),
    "sluice.v1.ColumnType.type": Bound(chars=KEYWORD),
    "sluice.v1.Destination.uri": Bound(chars=URI),
    "sluice.v1.Destination.dataset": Bound(chars=REFERENCE),
    "sluice.v1.Destination.profile": Bound(chars=REFERENCE),
    "sluice.v1.TimeRange.column": Bound(chars=NAME),
    "sluice.v1.Query.columns": Bound(chars=NAME, items=4096),
    # The parser's own limits (terms, nesting) are checked in server/planning/query_plan.py.
    "sluice.v1.Query.where": Bound(chars=16_384),
    "sluice.v1.Query.ids": Bound(chars=NAME, items=100_000),
    "sluice.v1.Query.id_column": Bound(chars=NAME),
    "sluice.v1.Output.format": Bound(chars=KEYWORD),
    "sluice.v1.Output.compression": Bound(chars=KEYWORD),
    "sluice.v1.ExportSpec.labels": Bound(items=64),
    "sluice.v1.ExportSpec.LabelsEntry.key": Bound(chars=63),
    "sluice.v1.ExportSpec.LabelsEntry.value": Bound(chars=256),
    "sluice.v1.Redaction.level": Bound(chars=KEYWORD),
    "sluice.v1.Redaction.policy": Bound(chars=REFERENCE),
    "sluice.v1.Redaction.rules": Bound(items=256),
    "sluice.v1.RedactionRule.column": Bound(chars=NAME),
    # Regex nesting is bounded where it is compiled (server/planning/redaction_plan.py).
    "sluice.v1.RedactionRule.pattern": Bound(chars=1024),
    "sluice.v1.RedactionRule.action": Bound(chars=KEYWORD),
    "sluice.v1.RedactionRule.granularity": Bound(chars=KEYWORD),
    "sluice.v1.RedactionRule.key": Bound(chars=REFERENCE),
    "sluice.v1.Encryption.age_recipients": Bound(chars=NAME, items=64),
    "sluice.v1.Encryption.age_passphrase_ref": Bound(chars=REFERENCE),
    "sluice.v1.Encryption.zip_password_ref": Bound(chars=REFERENCE),
    "sluice.v1.Incremental.mode": Bound(chars=KEYWORD),
    "sluice.v1.Incremental.cursor": Bound(chars=NAME),
    "sluice.v1.Incremental.key": Bound(chars=NAME, items=32),
    # The notifier's own limit (10 targets) is checked in server/notifications/targets.py.
    "sluice.v1.ExportSpec.notify": Bound(chars=2048, items=16),
    "sluice.v1.PlanFromTextRequest.text": Bound(chars=2048),
    "sluice.v1.PlanFromTextRequest.time_zone": Bound(chars=64),
    "sluice.v1.GetExportRequest.id": Bound(chars=EXPORT_ID),
    "sluice.v1.WatchExportRequest.id": Bound(chars=EXPORT_ID),
    "sluice.v1.CancelExportRequest.id": Bound(chars=EXPORT_ID),
    "sluice.v1.ResumeExportRequest.id": Bound(chars=EXPORT_ID),
    "sluice.v1.ListExportsRequest.page_token": Bound(chars=1024),
    "sluice.v1.ListExportsRequest.states": Bound(items=16),
    "sluice.v1.ListExportsRequest.labels": Bound(items=64),
    "sluice.v1.ListExportsRequest.LabelsEntry.key": Bound(chars=63),
    "sluice.v1.ListExportsRequest.LabelsEntry.value": Bound(chars=256),
    "sluice.v1.VerifyExportRequest.export": Bound(chars=URI),
    "sluice.v1.DiffExportsRequest.base": Bound(chars=URI),
    "sluice.v1.DiffExportsRequest.other": Bound(chars=URI),
    "sluice.v1.DeleteExportRequest.export": Bound(chars=URI),
    "sluice.v1.ApplyRetentionRequest.destination": Bound(chars=URI),
    "sluice.v1.ApplyRetentionRequest.dataset": Bound(chars=REFERENCE),
    "sluice.v1.ListDatasetExportsRequest.destination": Bound(chars=URI),
    "sluice.v1.ListDatasetExportsRequest.dataset": Bound(chars=REFERENCE),
    "sluice.v1.VerifyExportRequest.profile": Bound(chars=REFERENCE),
    "sluice.v1.DiffExportsRequest.profile": Bound(chars=REFERENCE),
    "sluice.v1.DeleteExportRequest.profile": Bound(chars=REFERENCE),
    "sluice.v1.ApplyRetentionRequest.profile": Bound(chars=REFERENCE),
    "sluice.v1.ListDatasetExportsRequest.profile": Bound(chars=REFERENCE),
    "sluice.v1.CreateScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
    "sluice.v1.CreateScheduleRequest.cron": Bound(chars=NAME),
    "sluice.v1.CreateScheduleRequest.timezone": Bound(chars=REFERENCE),
    "sluice.v1.CreateScheduleRequest.concurrency": Bound(chars=KEYWORD),
    "sluice.v1.CreateScheduleRequest.catch_up": Bound(chars=KEYWORD),
    "sluice.v1.GetScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
    "sluice.v1.PauseScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
    "sluice.v1.ResumeScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
    "sluice.v1.DeleteScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
    "sluice.v1.TriggerScheduleRequest.name": Bound(chars=SCHEDULE_NAME),
}


def is_bounded(request: object) -> bool:
    """Requests of the Sluice API are checked; health and reflection keep their own rules."""
    return isinstance(request, Message) and request.DESCRIPTOR.file.package == PACKAGE


def check_request(request: Message) -> None:
    """Raise InvalidArgument naming the first field out of bounds."""
    _check_message(request, "")


def _check_message(message: Message, prefix: str) -> None:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        _check_timestamp(message, prefix.rstrip("."))
        return
    for field, value in message.ListFields():
        path = prefix + field.name
        if _is_map(field):
            _check_map(field, value, path)
        elif field.is_repeated:
            _check_count(field, len(value), path)
            for index, item in enumerate(value):
                _check_value(field, item, f"{path}[{index}]")
        else:
            _check_value(field, value, path)


def _check_value(field: FieldDescriptor, value: Any, path: str) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        _check_message(value, path + ".")
    elif field.type == FieldDescriptor.TYPE_STRING:
        _check_text(field, value, path)


def _check_map(field: FieldDescriptor, value: Any, path: str) -> None:
    _check_count(field, len(value), path)
    entry: Descriptor | None = field.message_type
    assert entry is not None  # a map field's entry type
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for key, item in value.items():
        _check_text(key_field, key, path)
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            _check_message(item, f"{path}[{_short(key)}].")
        elif value_field.type == FieldDescriptor.TYPE_STRING:
            _check_text(value_field, item, f"{path}[{_short(key)}]")


def _check_text(field: FieldDescriptor, value: str, path: str) -> None:
    if "\x00" in value:
        raise InvalidArgument(path, "must not contain NUL characters")
    limit = _bound(field).chars
    if len(value) > limit:
        raise InvalidArgument(path, f"is {len(value)} characters long; at most {limit} allowed")


def _check_count(field: FieldDescriptor, count: int, path: str) -> None:
    limit = _bound(field).items
    if count > limit:
        raise InvalidArgument(path, f"has {count} entries; at most {limit} allowed")


def _check_timestamp(message: Message, path: str) -> None:
    seconds: int = message.seconds  # type: ignore[attr-defined]
    nanos: int = message.nanos  # type: ignore[attr-defined]
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise InvalidArgument(
            path, "seconds must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        )
    if not 0 <= nanos <= _MAX_NANOS:
        raise InvalidArgument(path, f"nanos must be 0..{_MAX_NANOS}")


def _bound(field: FieldDescriptor) -> Bound:
    # A field missing from BOUNDS is a programming error the unit test catches; at run
    # time it still gets a conservative bound rather than none.
    return BOUNDS.get(field.full_name, _FALLBACK)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _short(key: str) -> str:
    return key if len(key) <= 64 else key[:64] + "…"


_FALLBACK = Bound(chars=NAME, items=1024)
