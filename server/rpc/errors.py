"""The one place domain errors become gRPC statuses (with google.rpc details)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from server.errors import InvalidArgument, SluiceError, safe_traceback

_log = logging.getLogger("sluice.rpc")
ERROR_DOMAIN = "sluice.dev"


def status_for(error: SluiceError) -> grpc.Status:
    status = status_pb2.Status(code=code_pb2.Code.Value(error.code.value), message=error.message)
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(bad_request)
    info = error_details_pb2.ErrorInfo(
        reason=type(error).__name__.upper(),
        domain=ERROR_DOMAIN,
        metadata={"transient": "true" if error.transient else "false"},
    )
    status.details.add().Pack(info)
    if error.transient:
        status.details.add().Pack(
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1))
        )
    return rpc_status.to_status(status)


def _abort_for(exc: BaseException, context: grpc.ServicerContext, method: str) -> None:
    if isinstance(exc, SluiceError):
        context.abort_with_status(status_for(exc))
    # The stack without messages: an unexpected error's text may quote data.
    _log.error("unexpected error in %s\n%s", method, safe_traceback(exc))
    context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


class DomainErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler so a domain error becomes its status and anything else
    becomes INTERNAL without a stack trace leaking to the caller."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        # Handlers are grpc's RpcMethodHandler namedtuples; the stubs do not expose _replace.
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream, method))
        return handler


def _wrap_unary(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:
            _abort_for(exc, context, method)
            raise  # unreachable: abort raises

    return wrapped


def _wrap_stream(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behavior(request, context)
        except Exception as exc:
            _abort_for(exc, context, method)
            raise

    return wrapped
