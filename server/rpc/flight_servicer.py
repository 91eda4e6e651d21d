"""arrow.flight.protocol.FlightService on the daemon's port: FlightData and descriptors
-> domain calls (server/flight/) -> PutResults. Translation only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import NoReturn

import grpc
from google.protobuf import json_format

from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.server.errors import InvalidArgument
from sluice.server.flight.ipc_codec import Payload
from sluice.server.flight.puts import FlightPuts, PutRequest, check_put_has_no_source
from sluice.server.rpc.convert import spec_from_proto
from sluice.server.rpc.request_bounds import check_request
from sluice.v1 import export_pb2 as pb

FLIGHT_SERVICE_NAME = fl.DESCRIPTOR.services_by_name["FlightService"].full_name
_NOT_YET = "is not served by Sluice yet; DoPut exports records (see the README, Arrow Flight)"


class FlightServicer(Flight_pb2_grpc.FlightServiceServicer):
    def __init__(self, puts: FlightPuts) -> None:
        self._puts = puts

    def DoPut(  # noqa: N802 - names fixed by the generated base class
        self, request_iterator: Iterator[fl.FlightData], context: grpc.ServicerContext
    ) -> Iterator[fl.PutResult]:
        first = next(request_iterator, None)
        if first is None:
            raise InvalidArgument("FlightData", "a DoPut starts with its descriptor and schema")
        request = put_request_from_descriptor(first.flight_descriptor)
        payloads = (Payload(m.data_header, m.data_body) for m in request_iterator)
        results = self._puts.put(
            request, Payload(first.data_header, first.data_body), payloads, context.is_active
        )
        for metadata in results:
            yield fl.PutResult(app_metadata=json.dumps(metadata).encode())

    def Handshake(  # noqa: N802
        self, request_iterator: Iterator[fl.HandshakeRequest], context: grpc.ServicerContext
    ) -> Iterator[fl.HandshakeResponse]:
        _unimplemented(context, "Handshake (Sluice authenticates every call on its own)")
        yield from ()

    def ListFlights(  # noqa: N802
        self, request: fl.Criteria, context: grpc.ServicerContext
    ) -> Iterator[fl.FlightInfo]:
        _unimplemented(context, "ListFlights")
        yield from ()

    def GetFlightInfo(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.FlightInfo:
        _unimplemented(context, "GetFlightInfo")

    def PollFlightInfo(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.PollInfo:
        _unimplemented(context, "PollFlightInfo")

    def GetSchema(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.SchemaResult:
        _unimplemented(context, "GetSchema")

    def DoGet(  # noqa: N802
        self, request: fl.Ticket, context: grpc.ServicerContext
    ) -> Iterator[fl.FlightData]:
        _unimplemented(context, "DoGet")
        yield from ()

    def DoExchange(  # noqa: N802
        self, request_iterator: Iterator[fl.FlightData], context: grpc.ServicerContext
    ) -> Iterator[fl.FlightData]:
        _unimplemented(context, "DoExchange")
        yield from ()

    def DoAction(  # noqa: N802
        self, request: fl.Action, context: grpc.ServicerContext
    ) -> Iterator[fl.Result]:
        _unimplemented(context, f"DoAction {request.type[:40]!r}")
        yield from ()

    def ListActions(  # noqa: N802
        self, request: fl.Empty, context: grpc.ServicerContext
    ) -> Iterator[fl.ActionType]:
        yield from ()


def put_request_from_descriptor(descriptor: fl.FlightDescriptor) -> PutRequest:
    """The descriptor's CMD, the proto3 JSON form of a CreateExportRequest without a
    source, checked like a CreateExport (request bounds) before anything is created."""
    field = "FlightDescriptor.cmd"
    if descriptor.type != fl.FlightDescriptor.CMD:
        raise InvalidArgument(
            "FlightDescriptor.type", "must be CMD, holding a CreateExportRequest as JSON"
        )
    request = pb.CreateExportRequest()
    try:
        json_format.Parse(descriptor.cmd, request)
    except (json_format.ParseError, UnicodeDecodeError, ValueError):
        raise InvalidArgument(
            field, 'must be a CreateExportRequest as JSON: {"requestId": "...", "spec": {...}}'
        ) from None
    check_put_has_no_source(request.spec.HasField("source"))
    check_request(request)
    return PutRequest(spec_from_proto(request), request.request_id)


def _unimplemented(context: grpc.ServicerContext, what: str) -> NoReturn:
    context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{what} {_NOT_YET}")
    raise AssertionError("unreachable: abort raises")
