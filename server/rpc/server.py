"""Assemble the gRPC server: the export service, standard health checking and reflection
(so grpcurl and other generic tools can discover and call the API)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sluice.server.audit import AuditLog
from sluice.server.errors import SluiceError
from sluice.server.flight.puts import FlightPuts
from sluice.server.flight.reads import FlightReads
from sluice.server.principals import Authenticator
from sluice.server.rpc.auth import AuthInterceptor
from sluice.server.rpc.errors import DomainErrorInterceptor, RequestBoundsInterceptor
from sluice.server.rpc.flight_servicer import (
    FLIGHT_SERVICE_NAME,
    FlightServicer,
    add_flight_service,
)
from sluice.server.rpc.servicer import ExportServicer
from sluice.server.rpc.stream_budget import StreamBudget, StreamBudgetInterceptor
from sluice.server.service.export_admin import ExportAdmin
from sluice.server.service.export_service import ExportService
from sluice.server.service.schedule_service import ScheduleService
from sluice.v1 import export_pb2, export_pb2_grpc

SERVICE_NAME = export_pb2.DESCRIPTOR.services_by_name["ExportService"].full_name


class ListenError(SluiceError):
    pass


def build_server(
    service: ExportService,
    admin: ExportAdmin,
    address: str,
    max_workers: int,
    stream_budget: int,
    credentials: grpc.ServerCredentials | None = None,
    authenticator: Authenticator | None = None,
    audit: AuditLog | None = None,
    *,
    schedules: ScheduleService,
    flight_puts: FlightPuts,
    flight_reads: FlightReads,
    max_receive_message_length: int,
    receive_window_bytes: int,
    outer_interceptors: Sequence[grpc.ServerInterceptor] = (),  # type: ignore[type-arg]
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """Return the (not yet started) server, its health servicer and the bound port.
    Streams may hold at most `stream_budget` of the `max_workers` threads. With
    `credentials` the port speaks TLS only; without, plaintext. Callers are
    authenticated by `authenticator` (None: everyone is anonymous) and audited to
    `audit` (None: no audit log). Arrow Flight's service shares the port and the
    interceptors; a message over `max_receive_message_length` is RESOURCE_EXHAUSTED.
    Every stream's HTTP/2 receive window is fixed at `receive_window_bytes`: left to
    gRPC, a bandwidth-delay probe sizes it (up to 1 GiB), and a DoPut whose pipeline
    drains its inbox in bursts grew it to 32-128 MiB on loopback, a client's rows that
    no inbox counts (tests/integration/test_flight_backpressure.py saw the client lead
    the durable rows by 1.84M rows instead of 0.43M). A message larger than the window
    still arrives: gRPC opens the window for the message the daemon waits for.
    `outer_interceptors` wrap all others (metrics: they see the status a call really
    ended with)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # The first wraps the others. Authentication first, so nothing runs for a caller
        # who is not one; domain errors raised by the inner ones become statuses.
        interceptors=[
            *outer_interceptors,
            AuthInterceptor(authenticator or Authenticator((), enabled=False), audit),
            DomainErrorInterceptor(),
            RequestBoundsInterceptor(),
            StreamBudgetInterceptor(StreamBudget(stream_budget)),
        ],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_receive_message_length),
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", receive_window_bytes),
        ],
    )
    export_pb2_grpc.add_ExportServiceServicer_to_server(
        ExportServicer(service, admin, schedules), server
    )
    add_flight_service(FlightServicer(flight_puts, flight_reads), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, FLIGHT_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer, _listen(server, address, credentials)


def build_health_server(
    health_servicer: health.HealthServicer, address: str
) -> tuple[grpc.Server, int]:
    """A second, plaintext server with nothing but `health_servicer` (shared with the
    main server, so both answer alike), for probes that cannot speak TLS; returns it
    (not yet started) and its bound port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="grpc-health"),
        options=[("grpc.so_reuseport", 0)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, _listen(server, address, None)


def _listen(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise ListenError(f"cannot listen on {address}: address in use or not available")
    return port


def set_export_serving(health_servicer: health.HealthServicer, serving: bool) -> None:
    """Readiness: the export service's status follows the job store (server/job_store_watch.py);
    the overall status (""), which liveness asks, stays SERVING until shutdown."""
    health_servicer.set(
        SERVICE_NAME,
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING,
    )


def set_not_serving(health_servicer: health.HealthServicer) -> None:
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
