"""Client-side errors. gRPC failures are translated once, in `error_from_rpc`, so code
using the client never has to import grpc or parse status details itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sluice.v1 import export_pb2

# grpc core's own wording when no connection could be made at all; a server that answers
# UNAVAILABLE on purpose (e.g. storage is down) says something else.
_UNREACHABLE_MARKERS = (
    "failed to connect to all addresses",
    "dns resolution failed",
    "errors resolving",
    "connection refused",
)

#: grpc core's own details when the client's deadline passed (a server that gives up on
#: its own says something else, which is kept).
_CLIENT_DEADLINE = "Deadline Exceeded"


@dataclass(frozen=True)
class FieldViolation:
    """A request field the server rejected, as a dotted path ("spec.output.format")."""

    field: str
    description: str


class SluiceError(Exception):
    """Base of every error the client raises.

    `code` is the gRPC status name ("INVALID_ARGUMENT"), `message` the server's text and
    `violations` the offending fields when the server sent google.rpc.BadRequest details.
    """

    code: str = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.violations: tuple[FieldViolation, ...] = tuple(violations)

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        # The server often repeats the single violation in its message; saying it twice
        # on one line only adds noise.
        extra = [
            f"{v.field}: {v.description}"
            for v in self.violations
            if f"{v.field}: {v.description}" not in self.message
        ]
        return f"{text} ({'; '.join(extra)})" if extra else text


class InvalidArgumentError(SluiceError):
    code = "INVALID_ARGUMENT"


class NotFoundError(SluiceError):
    code = "NOT_FOUND"


class AlreadyExistsError(SluiceError):
    code = "ALREADY_EXISTS"


class FailedPreconditionError(SluiceError):
    code = "FAILED_PRECONDITION"


class PermissionDeniedError(SluiceError):
    code = "PERMISSION_DENIED"


class UnauthenticatedError(SluiceError):
    code = "UNAUTHENTICATED"


class ResourceExhaustedError(SluiceError):
    code = "RESOURCE_EXHAUSTED"


class UnavailableError(SluiceError):
    code = "UNAVAILABLE"


class ServerUnreachableError(UnavailableError):
    """No connection to the daemon could be made (nothing listening, unknown host)."""

    def __init__(self, address: str, detail: str = "") -> None:
        super().__init__(f"cannot reach the Sluice server at {address}")
        self.address = address
        self.detail = detail


class DeadlineExceededError(SluiceError, TimeoutError):
    """The call's deadline passed; also a TimeoutError so `wait(timeout=...)` reads
    naturally to callers who never heard of gRPC.

    A call that got no answer in time names itself: `call` (the RPC, "GetExport"),
    `address` (the server's) and `deadline` (seconds; None when the call had none and the
    server gave up on its own); all empty for `wait()` running out of time."""

    code = "DEADLINE_EXCEEDED"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        violations: Iterable[FieldViolation] = (),
        call: str = "",
        address: str = "",
        deadline: float | None = None,
    ) -> None:
        super().__init__(message, code=code, violations=violations)
        self.call = call
        self.address = address
        self.deadline = deadline

    @classmethod
    def of_call(cls, call: str, address: str, deadline: float | None) -> DeadlineExceededError:
        within = f"within its {deadline:g} s deadline" if deadline is not None else "in time"
        return cls(
            f"{call} to the Sluice server at {address} got no answer {within} (the "
            "server may be overloaded or stuck, or the call needs longer: "
            "ExportClient(timeout=SECONDS) sets the deadline of its calls)",
            call=call,
            address=address,
            deadline=deadline,
        )


class BatchSchemaError(InvalidArgumentError, ValueError):
    """A batch of the records given to ExportClient.put does not have the put's schema
    (that of the first batch, or the Table's/reader's): raised before it is sent. A
    ValueError too: the caller's own records are wrong, not the call."""


class ExportFailedError(SluiceError):
    """`wait()` saw the export end FAILED or CANCELLED; `export` is its final state."""

    def __init__(self, export: export_pb2.Export) -> None:
        cancelled = export.state == export_pb2.EXPORT_STATE_CANCELLED
        code = export.error.code or ("CANCELLED" if cancelled else "UNKNOWN")
        outcome = "was cancelled" if cancelled else "failed"
        message = export.error.message or f"export {export.id} {outcome}"
        super().__init__(message, code=code)
        self.export = export
        self.transient = export.error.transient


_BY_CODE: dict[grpc.StatusCode, type[SluiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def error_from_rpc(
    exc: grpc.RpcError, *, address: str = "", call: str = "", deadline: float | None = None
) -> SluiceError:
    """The SluiceError for a failed call; raise it `from exc` to keep the gRPC cause.

    `address`, when given, lets a connection failure become ServerUnreachableError;
    with `call` (the RPC's name) and its `deadline` (seconds), a deadline that passed
    becomes a DeadlineExceededError naming the call, the address and the deadline.
    """
    # Errors raised by calls are also grpc.Call; a bare RpcError carries no status.
    if not isinstance(exc, grpc.Call):
        return SluiceError(str(exc) or "gRPC call failed")
    status = exc.code()
    message = exc.details() or status.name
    violations = _violations(exc)
    if (
        address
        and status == grpc.StatusCode.UNAVAILABLE
        and not violations
        and any(marker in message.lower() for marker in _UNREACHABLE_MARKERS)
    ):
        return ServerUnreachableError(address, message)
    if status == grpc.StatusCode.DEADLINE_EXCEEDED and call and message == _CLIENT_DEADLINE:
        return DeadlineExceededError.of_call(call, address, deadline)
    cls = _BY_CODE.get(status, SluiceError)
    return cls(message, code=status.name, violations=violations)


def _violations(call: grpc.Call) -> tuple[FieldViolation, ...]:
    try:
        status = rpc_status.from_call(call)
    except ValueError:
        # Status proto disagreeing with the call's own code/message: keep the call's.
        return ()
    if status is None:
        return ()
    found: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found.extend(
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return tuple(found)
