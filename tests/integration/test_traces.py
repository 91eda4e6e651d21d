"""OpenTelemetry traces through a real daemon, received by a small OTLP/HTTP collector
started here on 127.0.0.1 (the protobuf request decoded with opentelemetry-proto): an
export gives a span per RPC and an `export` span with a child per stage, carrying the
export's id; health checks give none."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client import ExportClient, ExportFailedError
from sluice.client.demo_data import generate
from sluice.server.rpc.errors import DomainErrorInterceptor
from sluice.server.rpc.spans import RpcSpans
from sluice.server.tracing import Tracing
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.otlp_collector import Collector, running_collector

pytestmark = pytest.mark.integration


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running_collector() as server:
        yield server


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


CANARY = "CNRYPII4111111111111111"


def _exception_events(span: Any) -> list[dict[str, Any]]:
    return [_attributes(event) for event in span.events if event.name == "exception"]


def test_a_failed_export_sends_no_record_value_to_the_trace_backend(  # type: ignore[no-untyped-def]
    daemon_factory, collector: Collector
) -> None:
    """Polars' cast error quotes the row it failed on; the caller, the log and the job
    store see the type alone, and so must the trace backend (span status and events)."""
    daemon: Daemon = daemon_factory("traced-failure", otel_endpoint=collector.endpoint)
    daemon.start()
    source = daemon.sources / "cards.csv"
    source.write_text(f"id,card\n1,12\n2,{CANARY}\n")
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(daemon.exports),
            dataset="cards",
            source_schema={"id": "int64", "card": "str"},
            where="CAST(card AS INTEGER) > 1",
        )
        export_id = client.create(spec).id
        with pytest.raises(ExportFailedError) as failed:
            client.wait(export_id, timeout=60)
    message = failed.value.export.error.message
    assert "cannot be evaluated" in message
    assert daemon.stop() == 0

    assert collector.bodies
    assert not [body for body in collector.bodies if CANARY.encode() in body]
    (pipeline,) = [s for s in collector.spans if s.name == "export.pipeline"]
    assert pipeline.status.code == pipeline.status.STATUS_CODE_ERROR
    assert pipeline.status.message == message
    (event,) = _exception_events(pipeline)
    assert event["exception.message"] == message
    # The chain is there, each exception by its type alone.
    assert "polars.exceptions.InvalidOperationError" in event["exception.stacktrace"]


def _failing(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise ValueError(f"invalid literal for int(): '{CANARY}'")


def _failing_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"first"
    raise KeyError(CANARY)


def test_rpc_spans_name_a_foreign_error_by_its_type_alone(collector: Collector) -> None:
    """A handler's unexpected error (a library's, quoting data or a credential) reaches
    the RPC span as the caller sees it: the status and the exception's type, never its
    message nor the exceptions it was raised from. A real gRPC server with the daemon's
    own interceptors in the daemon's order (tracing outside, domain errors inside)."""
    tracing = Tracing(collector.endpoint, "test")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[RpcSpans(tracing.rpc_tracer()), DomainErrorInterceptor()],
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Traced",
                {
                    "Fail": grpc.unary_unary_rpc_method_handler(_failing),
                    "FailStreaming": grpc.unary_stream_rpc_method_handler(_failing_stream),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as unary:
                channel.unary_unary("/test.Traced/Fail")(b"", timeout=10)
            with pytest.raises(grpc.RpcError) as streaming:
                list(channel.unary_stream("/test.Traced/FailStreaming")(b"", timeout=10))
    finally:
        server.stop(None)
        tracing.shutdown()
    assert unary.value.code() == streaming.value.code() == grpc.StatusCode.INTERNAL

    assert collector.bodies
    assert not [body for body in collector.bodies if CANARY.encode() in body]
    spans = {span.name.lstrip("/"): span for span in collector.spans}
    assert set(spans) == {"test.Traced/Fail", "test.Traced/FailStreaming"}
    for span in spans.values():
        assert span.status.code == span.status.STATUS_CODE_ERROR
        assert _attributes(span)["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]


def _ok(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b"ok"


def test_rpc_spans_take_the_callers_traceparent_and_log_none_of_its_metadata(  # type: ignore[no-untyped-def]
    collector: Collector, caplog
) -> None:
    """The caller's trace context is read before anyone is authenticated: only its
    traceparent counts. Baggage and tracestate are not parsed, so what a caller wrote
    there cannot reach the log (OpenTelemetry's parsers warn quoting what they refused)."""
    tracing = Tracing(collector.endpoint, "test")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[RpcSpans(tracing.rpc_tracer())]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Traced", {"Ok": grpc.unary_unary_rpc_method_handler(_ok)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (
        ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),
        ("tracestate", f"{CANARY} junk,=,{'x' * 600}"),
        ("baggage", f"{CANARY} junk"),
    )
    try:
        with caplog.at_level("DEBUG"), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary("/test.Traced/Ok")(b"", metadata=metadata, timeout=10)
    finally:
        server.stop(None)
        tracing.shutdown()
    assert CANARY not in caplog.text, caplog.text
    (span,) = collector.spans
    assert span.trace_id.hex() == trace_id
    assert not [body for body in collector.bodies if CANARY.encode() in body]
