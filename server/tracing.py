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
trace backend; so it is off everywhere and the RPC spans come from `RpcSpans` here.

The SDK and the OTLP exporter (about 45 ms to import, more on a busy node) are imported
by `Tracing` itself: a daemon without `otel_endpoint` starts without them. The API alone
is a few milliseconds.

The caller's trace context is its `traceparent` alone, read with the W3C propagator
itself: `opentelemetry.propagate` would load the global propagators that
OTEL_PROPAGATORS names when imported (a daemon without tracing refusing to start over
one not installed), and `baggage` and `tracestate`, parsed before the caller is
authenticated, make OpenTelemetry log what it could not parse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.server.errors import safe_summary, safe_traceback
from sluice.server.rpc.handlers import rewrap

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
        return RpcSpans(self._provider.get_tracer("sluice.rpc"))

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


_HEALTH = "/grpc.health.v1.Health/"


class RpcSpans(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A SERVER span per RPC (health checks excluded), child of the caller's trace when
    its metadata carries one, with the method and the status code it ended with. The
    status message is the one the caller got (domain messages are written to be safe;
    anything unexpected already became "internal error" inside): the exception itself,
    bare or chained, is never recorded. Sits outside the domain-error interceptor."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._propagator = TraceContextTextMapPropagator()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = handler_call_details.method
        handler = continuation(handler_call_details)
        if method.startswith(_HEALTH):
            return handler
        return rewrap(
            handler,
            unary=lambda behavior: self._wrap_unary(behavior, method),
            streaming=lambda behavior: self._wrap_stream(behavior, method),
        )

    @contextmanager
    def _span(self, method: str, context: grpc.ServicerContext) -> Iterator[Span]:
        service, _, name = method.lstrip("/").rpartition("/")
        parent = self._propagator.extract(_traceparent(context))
        with self._tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except GeneratorExit:
                _end(span, context, grpc.StatusCode.CANCELLED)
                raise
            except BaseException:
                _end(span, context, grpc.StatusCode.UNKNOWN)
                raise
            _end(span, context, grpc.StatusCode.OK)

    def _wrap_unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            with self._span(method, context):
                return behavior(request, context)

        return wrapped

    def _wrap_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._span(method, context):
                yield from behavior(request, context)

        return wrapped


def _traceparent(context: grpc.ServicerContext) -> dict[str, str]:
    """The caller's traceparent, the only metadata the trace context is read from."""
    for key, value in context.invocation_metadata():
        if key == "traceparent" and isinstance(value, str):
            return {"traceparent": value}
    return {}


def _end(span: Span, context: grpc.ServicerContext, default: grpc.StatusCode) -> None:
    code = _status_code(context, default)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        details = context.details()  # type: ignore[attr-defined]  # grpcio >= 1.38
        message = details.decode("utf-8", "replace") if isinstance(details, bytes) else details
        span.set_status(Status(StatusCode.ERROR, f"{code.name}: {message or ''}".rstrip(": ")))


def _status_code(context: grpc.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    """The status the handler set (set_code or abort), else `default`."""
    code = context.code()  # type: ignore[attr-defined]  # grpcio >= 1.38; not in grpc-stubs
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpcio gives the enum's integer value in some versions
        return next((c for c in grpc.StatusCode if c.value[0] == code), default)
    return default
