"""The one place domain errors become gRPC statuses (with google.rpc details)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sluice.server.errors import InvalidArgument, SluiceError, must_propagate, safe_traceback
from sluice.server.rpc.handlers import rewrap
from sluice.server.rpc.request_bounds import check_request, is_bounded

_log = logging.getLogger("sluice.rpc")
ERROR_DOMAIN = "sluice.dev"
#: UTF-8 bytes of a status message, and of each field and description in its details.
#: The message travels twice (grpc-message, percent-encoded: up to 3x; and inside the
#: base64 details: 4/3x), so these keep every status well under gRPC's 8 KiB metadata
#: limit; past it clients would see RESOURCE_EXHAUSTED instead of the real status.
MESSAGE_BYTES = 1024
FIELD_BYTES = 256
DESCRIPTION_BYTES = 512
MAX_VIOLATIONS = 4


def status_for(error: SluiceError) -> grpc.Status:
    status = status_pb2.Status(
        code=code_pb2.Code.Value(error.code.value), message=_capped(error.message, MESSAGE_BYTES)
    )
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_capped(v.field, FIELD_BYTES),
                    description=_capped(v.description, DESCRIPTION_BYTES),
                )
                for v in error.violations[:MAX_VIOLATIONS]
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


def _capped(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary), marked as cut.
    A backstop: messages quote request values through server.errors.quoted already."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "…"


def _abort_for(exc: BaseException, context: grpc.ServicerContext, method: str) -> None:
    if isinstance(exc, SluiceError):
        context.abort_with_status(status_for(exc))
    # The stack without messages: an unexpected error's text may quote data.
    _log.error("unexpected error in %s\n%s", method, safe_traceback(exc))
    context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


def _passes_through(exc: BaseException, context: grpc.ServicerContext) -> bool:
    """Whether `exc` leaves the call as it is: generator exits and interrupts, and the
    bare Exception grpc raises from context.abort, whose status the handler (or an
    interceptor inside this one) chose itself and which must not become INTERNAL."""
    if must_propagate(exc):
        return True
    if type(exc) is not Exception:
        # Anything else keeps its translation, a cancelled stream's RpcError included:
        # the audit of a DoPut whose caller left depends on it.
        return False
    # grpc's stubs omit ServicerContext.code(), which the server's context has.
    code = getattr(context, "code", lambda: None)()
    return code is not None and code != grpc.StatusCode.OK


class DomainErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every handler so a domain error becomes its status and anything else
    becomes INTERNAL without a stack trace leaking to the caller."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = handler_call_details.method
        return rewrap(
            continuation(handler_call_details),
            unary=lambda behavior: _wrap_unary(behavior, method),
            streaming=lambda behavior: _wrap_stream(behavior, method),
        )


class RequestBoundsInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Checks every Sluice request against server.rpc.request_bounds before its handler
    runs; sits inside DomainErrorInterceptor, which turns a violation into its status."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        # Stream-stream calls (Flight, reflection) bound their messages as they read them.
        return rewrap(
            continuation(handler_call_details),
            unary=_bounded_unary,
            streaming=_bounded_stream,
            bidi=False,
        )


def _bounded_unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        if is_bounded(request):
            check_request(request)
        return behavior(request, context)

    return wrapped


def _bounded_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if is_bounded(request):
            check_request(request)
        yield from behavior(request, context)

    return wrapped


def _wrap_unary(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except BaseException as exc:
            if _passes_through(exc, context):
                raise
            _abort_for(exc, context, method)
            raise  # unreachable: abort raises

    return wrapped


def _wrap_stream(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behavior(request, context)
        except BaseException as exc:
            if _passes_through(exc, context):
                raise  # e.g. GeneratorExit: the caller went away
            _abort_for(exc, context, method)
            raise

    return wrapped
