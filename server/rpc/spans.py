"""A SERVER span per RPC (`otel_endpoint`): the gRPC edge's interceptor, on the tracer
sluice.server.tracing.Tracing installs. What a span may hold is said there: the
exception itself is never recorded.

The caller's trace context is its `traceparent` alone, read with the W3C propagator
itself: `opentelemetry.propagate` would load the global propagators that
OTEL_PROPAGATORS names when imported (a daemon without tracing refusing to start over
one not installed), and `baggage` and `tracestate`, parsed before the caller is
authenticated, make OpenTelemetry log what it could not parse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.server.grpc_status import handler_status
from sluice.server.rpc.handlers import rewrap

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
    code = handler_status(context, default)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        details = context.details()  # type: ignore[attr-defined]  # grpcio >= 1.38
        message = details.decode("utf-8", "replace") if isinstance(details, bytes) else details
        span.set_status(Status(StatusCode.ERROR, f"{code.name}: {message or ''}".rstrip(": ")))
