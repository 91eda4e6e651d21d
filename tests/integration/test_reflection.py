"""Generic gRPC tooling (grpcurl, Postman, grpc_cli) can discover the API through server
reflection, and orchestrators can probe the standard health service."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.daemon import Daemon

pytestmark = pytest.mark.integration

SERVICE = "sluice.v1.ExportService"
METHODS = {
    "CreateExport": ("sluice.v1.CreateExportRequest", "sluice.v1.Export", False),
    "GetExport": ("sluice.v1.GetExportRequest", "sluice.v1.Export", False),
    "ListExports": ("sluice.v1.ListExportsRequest", "sluice.v1.ListExportsResponse", False),
    "WatchExport": ("sluice.v1.WatchExportRequest", "sluice.v1.ExportEvent", True),
    "CancelExport": ("sluice.v1.CancelExportRequest", "sluice.v1.Export", False),
    "ResumeExport": ("sluice.v1.ResumeExportRequest", "sluice.v1.Export", False),
}


def test_reflection_lists_the_services_and_describes_export_service(daemon: Daemon) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {
            SERVICE,
            "arrow.flight.protocol.FlightService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= (services)

        pool = DescriptorPool(database)
        service = pool.FindServiceByName(SERVICE)
        assert service.file.name == "sluice/v1/export.proto"
        methods = {m.name: m for m in service.methods}
        assert set(METHODS) <= set(methods)
        for name, (request, response, streams) in METHODS.items():
            method = methods[name]
            assert method.input_type.full_name == request
            assert method.output_type.full_name == response
            assert method.server_streaming is streams
            assert method.client_streaming is False

        # Message shapes are reachable too, as a generic client needs to build requests.
        spec = pool.FindMessageTypeByName("sluice.v1.ExportSpec")
        assert {"source", "destination", "output", "chunking"} <= set(spec.fields_by_name)


def test_health_reports_the_export_service_serving(daemon: Daemon) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in (SERVICE, ""):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        with pytest.raises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
