"""Every free-form field of the API has a bound, and no status outgrows gRPC's trailers."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor
from google.rpc import status_pb2

from sluice.server.errors import InvalidArgument, NotFound, quoted
from sluice.server.rpc.errors import status_for
from sluice.server.rpc.request_bounds import BOUNDS
from sluice.v1 import export_pb2


def _request_types() -> list[Descriptor]:
    service = export_pb2.DESCRIPTOR.services_by_name["ExportService"]
    return [method.input_type for method in service.methods]


def _bounded_fields(message: Descriptor, seen: set[str]) -> set[str]:
    """Full names of the string, repeated and map fields reachable from `message`."""
    if message.full_name in seen or not message.full_name.startswith("sluice.v1."):
        return set()
    seen.add(message.full_name)
    names = set()
    for field in message.fields:
        if field.is_repeated or field.type == field.TYPE_STRING:
            names.add(field.full_name)
        if field.message_type is not None:
            names |= _bounded_fields(field.message_type, seen)
    return names


def test_every_free_form_request_field_has_a_bound() -> None:
    seen: set[str] = set()
    fields: set[str] = set()
    for request in _request_types():
        fields |= _bounded_fields(request, seen)
    assert sorted(fields - set(BOUNDS)) == [], "give these fields a bound in BOUNDS"
    assert sorted(set(BOUNDS) - fields) == [], "these BOUNDS entries name no request field"


def test_status_stays_small_whatever_the_message() -> None:
    for error in (
        InvalidArgument("spec.output.format", "unknown value " + "😀" * 100_000),
        NotFound("export " + "x" * 100_000 + " not found"),
    ):
        status = status_for(error)
        metadata = dict(status.trailing_metadata)
        details = status_pb2.Status.FromString(metadata["grpc-status-details-bin"])
        assert len(status.details.encode()) <= 1024
        assert len(details.SerializeToString()) < 3 * 1024


def test_quoted_cuts_long_values_and_says_how_long() -> None:
    assert quoted("abc") == "'abc'"
    cut = quoted("x" * 100_000)
    assert len(cut) < 120 and "100000 characters" in cut
