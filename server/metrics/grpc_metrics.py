"""`grpc_server_handled_total` and `grpc_server_handling_seconds` with the labels of
go-grpc-prometheus (grpc_type, grpc_service, grpc_method, grpc_code), so existing
dashboards and alerts work unchanged. The interceptor sits outside every other one and
reads the status the call ended with."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from sluice.server.grpc_status import handler_status

_KINDS = (
    ("unary_unary", "unary"),
    ("unary_stream", "server_stream"),
    ("stream_unary", "client_stream"),
    ("stream_stream", "bidi_stream"),
)


class GrpcMetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self._handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, whatever their status.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self._seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (streams: to their end).",
            labels,
            registry=registry,
        )

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        for attribute, kind in _KINDS:
            behavior = getattr(handler, attribute)
            if behavior is not None:
                labels = (kind, service, method)
                streaming = attribute.endswith("_stream")
                wrap = self._wrap_stream if streaming else self._wrap_unary
                # Handlers are grpc's RpcMethodHandler namedtuples.
                return handler._replace(**{attribute: wrap(behavior, labels)})
        return handler

    def _done(self, labels: tuple[str, str, str], started: float, code: grpc.StatusCode) -> None:
        self._handled.labels(*labels, code.name).inc()
        self._seconds.labels(*labels).observe(time.monotonic() - started)

    def _wrap_unary(
        self, behavior: Callable[..., Any], labels: tuple[str, str, str]
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            try:
                response = behavior(request, context)
            except BaseException:
                self._done(labels, started, handler_status(context, grpc.StatusCode.UNKNOWN))
                raise
            self._done(labels, started, handler_status(context, grpc.StatusCode.OK))
            return response

        return wrapped

    def _wrap_stream(
        self, behavior: Callable[..., Any], labels: tuple[str, str, str]
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.monotonic()
            try:
                yield from behavior(request, context)
            except GeneratorExit:
                # The caller went away (or the server stops) before the stream ended.
                self._done(labels, started, handler_status(context, grpc.StatusCode.CANCELLED))
                raise
            except BaseException:
                self._done(labels, started, handler_status(context, grpc.StatusCode.UNKNOWN))
                raise
            self._done(labels, started, handler_status(context, grpc.StatusCode.OK))

        return wrapped
