"""OpenTelemetry traces (`otel_endpoint`, off by default): a span per RPC, health checks
excluded (opentelemetry-instrumentation-grpc), and one per export with a child per stage
(plan, pipeline, manifest), sent over OTLP/HTTP to a collector.

The runner and the executor only use the OpenTelemetry API (`export_span`), a no-op
until `Tracing` installs a provider. Span attributes are ids, names and counts, never a
record value or a secret.

The SDK, the OTLP exporter and the gRPC instrumentation (about 45 ms to import, more on
a busy node) are imported by `Tracing` itself: a daemon without `otel_endpoint` starts
without them. The API alone is a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import grpc
from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_tracer = trace.get_tracer("sluice.export")


class Tracing:
    """The installed provider and the gRPC interceptor that starts a span per RPC."""

    def __init__(self, endpoint: str, version: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({SERVICE_NAME: "sluice", SERVICE_VERSION: version})
        self._provider: TracerProvider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(self._provider)

    def grpc_interceptor(self) -> grpc.ServerInterceptor:  # type: ignore[type-arg]
        from opentelemetry.instrumentation.grpc import filters, server_interceptor

        interceptor: grpc.ServerInterceptor = server_interceptor(  # type: ignore[type-arg,no-untyped-call]
            tracer_provider=self._provider, filter_=filters.negate(filters.health_check())
        )
        return interceptor

    def shutdown(self) -> None:
        """Send the spans still buffered (at most a few seconds)."""
        self._provider.shutdown()


@contextmanager
def export_span(name: str, **attributes: str | int) -> Iterator[None]:
    """A span named `name` (e.g. "export", "export.pipeline") around the block, child of
    the current one; an exception marks it as failed."""
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield
