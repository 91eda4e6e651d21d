"""OpenTelemetry traces (`otel_endpoint`, off by default): a span per RPC, health checks
excluded, and one per export with a child per stage (plan, pipeline, manifest), sent
over OTLP/HTTP to a collector.

The runner and the executor only use the OpenTelemetry API (`export_span`), a no-op
until `Tracing` installs a provider. Span attributes are ids, names and counts, never a
record value or a secret.

A failure reaches a span as it reaches the log (server.errors): its `safe_summary` as
the status and a `safe_traceback` as the exception event. OpenTelemetry's own recording
(`record_exception`, `set_status_on_exception`, and the stock gRPC instrumentation,
which records whole exception chains) would send the messages of Polars, Arrow or
botocore exceptions, which quote record values, object keys and endpoints, to the
trace backend; so it is off everywhere and the RPC spans come from
sluice.server.rpc.spans.RpcSpans.

The SDK and the OTLP exporter (about 45 ms to import, more on a busy node) are imported
by `Tracing` itself: a daemon without `otel_endpoint` starts without them. The API alone
is a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from sluice.server.errors import safe_summary, safe_traceback

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_tracer = trace.get_tracer("sluice.export")


class Tracing:
    """The installed provider, and the tracer of the spans per RPC."""

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

    def rpc_tracer(self) -> trace.Tracer:
        """The tracer of the RPC spans (sluice.server.rpc.spans.RpcSpans: the gRPC edge
        builds its interceptor, this module stays below it)."""
        return self._provider.get_tracer("sluice.rpc")

    def shutdown(self) -> None:
        """Send the spans still buffered (at most a few seconds)."""
        self._provider.shutdown()


@contextmanager
def export_span(name: str, **attributes: str | int) -> Iterator[None]:
    """A span named `name` (e.g. "export", "export.pipeline") around the block, child of
    the current one; an exception marks it as failed, in the words of `record_failure`."""
    with _tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except BaseException as error:
            record_failure(span, error)
            raise


def record_failure(span: Span, error: BaseException) -> None:
    """`error` on `span` as the log has it: status ERROR with its safe summary, and the
    standard "exception" event with the type, that summary and the safe traceback."""
    summary = safe_summary(error)
    kind = type(error)
    span.set_status(Status(StatusCode.ERROR, summary))
    span.add_event(
        "exception",
        {
            "exception.type": f"{kind.__module__}.{kind.__qualname__}",
            "exception.message": summary,
            "exception.stacktrace": safe_traceback(error),
            "exception.escaped": "True",
        },
    )
