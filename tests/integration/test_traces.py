"""OpenTelemetry traces through a real daemon, received by a small OTLP/HTTP collector
started here on 127.0.0.1 (the protobuf request decoded with opentelemetry-proto): an
export gives a span per RPC and an `export` span with a child per stage, carrying the
export's id; health checks give none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration


class Collector(ThreadingHTTPServer):
    """Keeps every span posted to /v1/traces."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[Any] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.server.spans.extend(scope.spans)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _attributes(span: Any) -> dict[str, Any]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


def test_spans_per_rpc_and_per_export_stage(daemon_factory, collector: Collector) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("traced", otel_endpoint=collector.endpoint)
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 300, seed=9)
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="ev")
        finished = client.wait(client.create(spec).id, timeout=60)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    with daemon.channel() as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert daemon.stop() == 0  # flushes the spans still buffered

    names = [span.name for span in collector.spans]
    assert "sluice.v1.ExportService/CreateExport" in {n.lstrip("/") for n in names}, names
    assert not any("grpc.health.v1.Health" in name for name in names), names
    (export,) = [s for s in collector.spans if s.name == "export"]
    assert _attributes(export) == {"export_id": finished.id, "dataset": "ev"}
    stages = {s.name for s in collector.spans if s.parent_span_id == export.span_id}
    assert stages == {"export.plan", "export.pipeline", "export.manifest"}
    assert {s.trace_id for s in collector.spans if s.name.startswith("export")} == {export.trace_id}
