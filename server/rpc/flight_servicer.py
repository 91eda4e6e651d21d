"""arrow.flight.protocol.FlightService on the daemon's port: FlightData and descriptors
-> domain calls (server/flight/) -> PutResults. Translation only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final, NoReturn, cast

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.flight.end_of_records import says_end_of_records
from sluice.flight.ipc import WireFlightData, parse_flight_data, schema_wire
from sluice.server.errors import InvalidArgument, Unimplemented
from sluice.server.flight.get_messages import wire_messages
from sluice.server.flight.puts import (
    FlightPuts,
    PutMessage,
    PutRequest,
    check_put_has_no_source,
)
from sluice.server.flight.read_ahead import read_ahead
from sluice.server.flight.reads import ACTIONS, FlightReads, FlightView, parse_export_ref
from sluice.server.rpc.auth import caller
from sluice.server.rpc.convert import spec_from_proto
from sluice.server.rpc.request_bounds import check_request
from sluice.v1 import export_pb2 as pb

FLIGHT_SERVICE_NAME = fl.DESCRIPTOR.services_by_name["FlightService"].full_name
_NOT_SERVED = "is not served by Sluice (see the README, Arrow Flight)"
#: Serialized messages a DoGet prepares ahead of the one gRPC is sending (each about
#: get_messages.MESSAGE_BYTES of Arrow data): enough to keep both cores busy, few enough
#: that a slow client holds little memory.
DO_GET_READ_AHEAD: Final = 4


class FlightServicer(Flight_pb2_grpc.FlightServiceServicer):
    def __init__(self, puts: FlightPuts, reads: FlightReads) -> None:
        self._puts = puts
        self._reads = reads

    def DoPut(  # type: ignore[override]  # noqa: N802 - WireFlightData, see add_flight_service
        self, request_iterator: Iterator[WireFlightData], context: grpc.ServicerContext
    ) -> Iterator[fl.PutResult]:
        first = next(request_iterator, None)
        if first is None:
            raise InvalidArgument("FlightData", "a DoPut starts with its descriptor and schema")
        request = put_request_from_descriptor(_descriptor(first))
        messages = (_put_message(m) for m in request_iterator)
        results = self._puts.put(
            request,
            _put_message(first),
            messages,
            context.is_active,
            caller(),
        )
        for metadata in results:
            yield fl.PutResult(app_metadata=json.dumps(metadata).encode())

    def Handshake(  # noqa: N802
        self, request_iterator: Iterator[fl.HandshakeRequest], context: grpc.ServicerContext
    ) -> Iterator[fl.HandshakeResponse]:
        _unimplemented("Handshake (Sluice authenticates every call on its own)")
        yield from ()

    def ListFlights(  # noqa: N802
        self, request: fl.Criteria, context: grpc.ServicerContext
    ) -> Iterator[fl.FlightInfo]:
        if request.expression:
            raise InvalidArgument(
                "Criteria.expression", "Sluice lists every flight; leave it empty"
            )
        for view in self._reads.list(caller()):
            yield flight_info(view)

    def GetFlightInfo(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.FlightInfo:
        return flight_info(self._reads.describe(*export_of(request), principal=caller()))

    def PollFlightInfo(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.PollInfo:
        _unimplemented("PollFlightInfo (exports are complete flights: GetFlightInfo)")

    def GetSchema(  # noqa: N802
        self, request: fl.FlightDescriptor, context: grpc.ServicerContext
    ) -> fl.SchemaResult:
        view = self._reads.describe(*export_of(request), principal=caller())
        return fl.SchemaResult(schema=view.schema.serialize().to_pybytes())

    def DoGet(  # type: ignore[override]  # noqa: N802 - serialized FlightData, see add_flight_service
        self, request: fl.Ticket, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        ticket = parse_export_ref(request.ticket, "Ticket.ticket", chunk_allowed=True)
        schema, batches = self._reads.records(ticket, caller())
        yield schema_wire(schema)
        yield from read_ahead(
            wire_messages(batches),
            DO_GET_READ_AHEAD,
            "flight-get",
            context.is_active,
        )

    def DoExchange(  # noqa: N802
        self, request_iterator: Iterator[fl.FlightData], context: grpc.ServicerContext
    ) -> Iterator[fl.FlightData]:
        _unimplemented("DoExchange (DoPut exports records, DoGet reads them)")
        yield from ()

    def DoAction(  # noqa: N802
        self, request: fl.Action, context: grpc.ServicerContext
    ) -> Iterator[fl.Result]:
        answer = self._reads.action(request.type, request.body, caller())
        yield fl.Result(body=json.dumps(answer).encode())

    def ListActions(  # noqa: N802
        self, request: fl.Empty, context: grpc.ServicerContext
    ) -> Iterator[fl.ActionType]:
        for kind, description in sorted(ACTIONS.items()):
            yield fl.ActionType(type=kind, description=description)


def add_flight_service(servicer: FlightServicer, server: grpc.Server) -> None:
    """Serve `servicer` as the generated code does, except that DoGet's responses are
    FlightData already serialized (sluice.flight.ipc.BatchWireWriter): building a FlightData
    message and serializing it copied every batch's body twice more, about half the CPU
    of a DoGet. Likewise DoPut's requests are read as WireFlightData, views of the
    received bytes (protobuf's parser copied each body twice)."""
    captured = _CapturedHandlers()
    Flight_pb2_grpc.add_FlightServiceServicer_to_server(servicer, cast(grpc.Server, captured))
    handlers = dict(captured.handlers)
    handlers["DoGet"] = grpc.unary_stream_rpc_method_handler(
        servicer.DoGet,
        request_deserializer=fl.Ticket.FromString,
        response_serializer=_serialized,
    )
    handlers["DoPut"] = grpc.stream_stream_rpc_method_handler(
        servicer.DoPut,
        request_deserializer=parse_flight_data,
        response_serializer=fl.PutResult.SerializeToString,
    )
    generic = grpc.method_handlers_generic_handler(FLIGHT_SERVICE_NAME, handlers)
    server.add_generic_rpc_handlers((generic,))
    # As the generated code does (grpc's typing stubs lack this newer method).
    server.add_registered_method_handlers(FLIGHT_SERVICE_NAME, handlers)  # type: ignore[attr-defined]


class _CapturedHandlers:
    """Stands in for a server to the generated add_..._to_server: keeps its handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, _handlers: Any) -> None:
        pass

    def add_registered_method_handlers(
        self, _service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.handlers = handlers


def _serialized(message: bytes) -> bytes:
    return message


def _put_message(message: WireFlightData) -> PutMessage:
    """A DoPut's FlightData: its IPC message, none when it holds app_metadata alone
    (pyarrow's writer.write_metadata), and what that says of the end of the records."""
    if message.malformed:
        raise InvalidArgument("FlightData", message.malformed)
    try:
        says = says_end_of_records(message.app_metadata)
    except ValueError as exc:
        raise InvalidArgument("FlightData.app_metadata", str(exc)) from None
    if not len(message.header) and not len(message.body) and len(message.app_metadata):
        return PutMessage(None, says)
    return PutMessage(message.payload, says)


def _descriptor(message: WireFlightData) -> fl.FlightDescriptor:
    if message.malformed:
        raise InvalidArgument("FlightData", message.malformed)
    try:
        return fl.FlightDescriptor.FromString(message.descriptor)
    except DecodeError:
        raise InvalidArgument(
            "FlightData.flight_descriptor", "is not a FlightDescriptor message"
        ) from None


def export_of(descriptor: fl.FlightDescriptor) -> tuple[str, str]:
    """(export id, dataset or "") of a descriptor: PATH [dataset, export_id] or CMD
    {"export_id": ID}."""
    if descriptor.type == fl.FlightDescriptor.PATH:
        if len(descriptor.path) != 2:
            raise InvalidArgument("FlightDescriptor.path", "must be [dataset, export_id]")
        return descriptor.path[1], descriptor.path[0]
    if descriptor.type == fl.FlightDescriptor.CMD:
        ref = parse_export_ref(descriptor.cmd, "FlightDescriptor.cmd", chunk_allowed=False)
        return ref.export_id, ""
    raise InvalidArgument("FlightDescriptor.type", "must be PATH or CMD")


def flight_info(view: FlightView) -> fl.FlightInfo:
    return fl.FlightInfo(
        schema=view.schema.serialize().to_pybytes(),
        flight_descriptor=fl.FlightDescriptor(
            type=fl.FlightDescriptor.PATH, path=[view.dataset, view.export_id]
        ),
        endpoint=[
            fl.FlightEndpoint(ticket=fl.Ticket(ticket=ticket.encode()))
            for ticket, _records in view.endpoints
        ],
        total_records=view.records,
        total_bytes=view.stored_bytes,
        ordered=True,
    )


#: A DoPut command is one CreateExportRequest as JSON; every field of it is bounded
#: (request_bounds), so a megabyte is far more than any valid one needs.
MAX_PUT_COMMAND_BYTES: Final = 1 << 20


def put_request_from_descriptor(descriptor: fl.FlightDescriptor) -> PutRequest:
    """The descriptor's CMD, the proto3 JSON form of a CreateExportRequest without a
    source, checked like a CreateExport (request bounds) before anything is created."""
    field = "FlightDescriptor.cmd"
    if descriptor.type != fl.FlightDescriptor.CMD:
        raise InvalidArgument(
            "FlightDescriptor.type", "must be CMD, holding a CreateExportRequest as JSON"
        )
    if len(descriptor.cmd) > MAX_PUT_COMMAND_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_PUT_COMMAND_BYTES} bytes")
    request = pb.CreateExportRequest()
    try:
        json_format.Parse(descriptor.cmd, request)
    except (json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidArgument(
            field, 'must be a CreateExportRequest as JSON: {"requestId": "...", "spec": {...}}'
        ) from None
    check_put_has_no_source(request.spec.HasField("source"), request.spec.source.on_bad_rows)
    check_request(request)
    return PutRequest(spec_from_proto(request), request.request_id)


def _unimplemented(what: str) -> NoReturn:
    raise Unimplemented(f"{what} {_NOT_SERVED}")
