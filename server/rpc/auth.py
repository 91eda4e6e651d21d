"""The one interceptor that authenticates callers and writes the audit log.

A caller is a configured principal, found by its `authorization: Bearer <token>`
metadata or, under mutual TLS, by its client certificate's identity (its URI SANs, such
as a SPIFFE id; only a certificate without any is known by its CN). Health checks are
open to all; everything else, reflection included, needs a principal when any is
configured (UNAUTHENTICATED otherwise). The principal reaches the servicer through
`caller()` and goes down as a plain value.

State-changing calls, and calls refused as UNAUTHENTICATED or PERMISSION_DENIED, are
written to the audit log with their outcome."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar, copy_context
from typing import Any, cast

import grpc
from grpc_health.v1 import health

from sluice.flight import Flight_pb2 as fl
from sluice.server.audit import AuditEvent, AuditLog
from sluice.server.errors import Unauthenticated
from sluice.server.log_setup import set_log_principal
from sluice.server.principals import ANONYMOUS, Authenticator, CertificateNames, Principal
from sluice.server.rpc.errors import status_for
from sluice.server.rpc.handlers import rewrap

#: Set only inside a call's own context copy (never on a worker thread's context, which
#: the next call would inherit); outside one, a caller may do nothing.
_NOBODY = Principal(name="", scopes=frozenset())
_CALLER: ContextVar[Principal] = ContextVar("sluice_caller", default=_NOBODY)
_OPEN_PREFIX = f"/{health.SERVICE_NAME}/"
#: Methods that change state: always audited.
_STATE_CHANGING = frozenset(
    {
        "CreateExport",
        "CancelExport",
        "ResumeExport",
        "DeleteExport",
        "ApplyRetention",
        "CreateSchedule",
        "PauseSchedule",
        "ResumeSchedule",
        "DeleteSchedule",
        "TriggerSchedule",
        "DoPut",
        "DoAction",
    }
)
_DENIED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
#: Longest authorization header considered; longer ones are refused unread.
_MAX_TOKEN = 4096


def caller() -> Principal:
    """The principal of the call this thread serves (ANONYMOUS without principals)."""
    return _CALLER.get()


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Outermost interceptor: its own refusals are statuses it sets itself; the inner
    DomainErrorInterceptor translates everything raised below."""

    def __init__(self, authenticator: Authenticator, audit: AuditLog | None) -> None:
        self._authenticator = authenticator
        self._audit = audit

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if method.startswith(_OPEN_PREFIX):
            return handler
        return rewrap(
            handler,
            unary=lambda behavior: self._unary(behavior, method),
            streaming=lambda behavior: self._stream(behavior, method),
        )

    def _unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            principal = self._authenticate(request, context, method)
            call = copy_context()
            call.run(_CALLER.set, principal)
            call.run(set_log_principal, principal.name)
            try:
                response = call.run(behavior, request, context)
            except BaseException:
                self._audit_outcome(principal, method, request, None, context)
                raise
            self._audit_outcome(principal, method, request, response, context)
            return response

        return wrapped

    def _stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            principal = self._authenticate(request, context, method)
            call = copy_context()
            call.run(_CALLER.set, principal)
            call.run(set_log_principal, principal.name)
            responses = call.run(behavior, request, context)
            last = None
            try:
                while True:
                    try:
                        # Each step in the call's context: the servicer's generator body
                        # runs there, whichever thread asks for the next message.
                        item = call.run(next, responses)
                    except StopIteration:
                        # A stream that changes state (Arrow Flight's DoPut) is audited
                        # once it ended well, with the export its last answer names.
                        self._audit_outcome(principal, method, request, last, context)
                        return
                    last = item
                    yield item
            except GeneratorExit:
                call.run(responses.close)  # the caller went away
                # grpc closed the stream before it ended on its own: a DoPut that made
                # its export is still audited (CANCELLED: its caller is gone).
                if last is not None:
                    self._audit_outcome(principal, method, request, last, context)
                raise
            except BaseException:
                self._audit_outcome(principal, method, request, None, context)
                raise

        return wrapped

    def _authenticate(self, request: Any, context: grpc.ServicerContext, method: str) -> Principal:
        if not self._authenticator.enabled:
            return ANONYMOUS
        try:
            return self._principal_of(context)
        except Unauthenticated as exc:
            self._write(ANONYMOUS.name, method, request, None, "UNAUTHENTICATED", context)
            context.abort_with_status(status_for(exc))
            raise  # unreachable: abort raises

    def _principal_of(self, context: grpc.ServicerContext) -> Principal:
        token = _bearer_token(context)
        if token is not None:
            principal = self._authenticator.by_token(token)
            if principal is None:
                raise Unauthenticated("the bearer token does not belong to any principal")
            return principal
        names = _certificate_names(context)
        if names:
            principal = self._authenticator.by_certificate(names)
            if principal is None:
                raise Unauthenticated(
                    "the client certificate's identity is not a configured principal"
                )
            return principal
        raise Unauthenticated(
            "this server needs credentials: `authorization: Bearer <token>` metadata "
            "(sluice --token-file, SLUICE_TOKEN) or a client certificate of a principal"
        )

    def _audit_outcome(
        self,
        principal: Principal,
        method: str,
        request: Any,
        response: Any,
        context: grpc.ServicerContext,
    ) -> None:
        if self._audit is None:
            return
        code = context.code() if hasattr(context, "code") else None
        if code is None or code == grpc.StatusCode.OK:
            if response is None and code is None:
                return  # a stream that ended early; nothing was refused
            # A stream whose caller went away ended because of it, not well.
            outcome = "OK" if context.is_active() else "CANCELLED"
        else:
            outcome = code.name
        if method.rpartition("/")[2] in _STATE_CHANGING or code in _DENIED:
            self._write(principal.name, method, request, response, outcome, context)

    def _write(
        self,
        principal: str,
        method: str,
        request: Any,
        response: Any,
        outcome: str,
        context: grpc.ServicerContext,
    ) -> None:
        if self._audit is None:
            return
        self._audit.record(
            AuditEvent(
                principal=principal,
                method=method,
                export_id=_export_id(request, response),
                outcome=outcome,
                peer=context.peer(),
            )
        )


def _bearer_token(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata():
        if key != "authorization":
            continue
        text = value if isinstance(value, str) else value.decode("latin-1")
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(text) > _MAX_TOKEN:
            raise Unauthenticated("the authorization metadata must be `Bearer <token>`")
        return token.strip()
    return None


def _certificate_names(context: grpc.ServicerContext) -> CertificateNames:
    """The verified client certificate's URI SANs and CN (empty: no certificate); see
    CertificateNames.from_auth_context for which grpc properties hold them."""
    # grpc's stubs say bytes; the values are lists of bytes, one per name.
    properties: Mapping[str, Iterable[bytes]] = cast(Any, context.auth_context())
    return CertificateNames.from_auth_context(properties)


def _export_id(request: Any, response: Any) -> str:
    """The export a call is about: the request's id or export reference, or the id a
    CreateExport answered with."""
    for message, name in ((request, "id"), (request, "export"), (response, "id")):
        descriptor = getattr(message, "DESCRIPTOR", None)
        if descriptor is not None and name in getattr(descriptor, "fields_by_name", {}):
            value = getattr(message, name)
            if isinstance(value, str) and value:
                return value
    if isinstance(response, fl.PutResult):  # DoPut: its acknowledgements name the export
        try:
            value = json.loads(response.app_metadata).get("export_id", "")
        except (ValueError, AttributeError):
            return ""
        return value if isinstance(value, str) else ""
    return ""
