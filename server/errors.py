"""Domain errors. The pipeline and service raise these; the gRPC layer maps `code` to a
status in one interceptor (server/rpc/errors.py). Nothing here imports grpc."""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """google.rpc.Code names, so the mapping to any transport is a table lookup."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    CANCELLED = "CANCELLED"
    DATA_LOSS = "DATA_LOSS"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"


#: Longest request value an error message quotes, in characters.
ECHO_CHARS = 80


def quoted(value: object, limit: int = ECHO_CHARS) -> str:
    """`value` as an error message quotes it (repr, so control characters stay visible),
    cut to `limit` characters: a message must stay small enough for a status trailer
    whatever the caller sent."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value))} characters)"


def quoted_list(values: Iterable[object], most: int = 5) -> str:
    """Some of `values`, each quoted(), and how many more there are."""
    items = list(values)
    shown = ", ".join(quoted(v) for v in items[:most])
    return shown if len(items) <= most else f"{shown} and {len(items) - most} more"


@dataclass(frozen=True)
class FieldViolation:
    """Which request field is wrong, as a dotted path ("spec.output.format"), and why."""

    field: str
    description: str


class SluiceError(Exception):
    """Base of all domain errors: a status code, a message safe to show the caller
    (never a secret), and whether retrying later may help."""

    code: ErrorCode = ErrorCode.INTERNAL
    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(SluiceError):
    code = ErrorCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.violations: tuple[FieldViolation, ...] = (FieldViolation(field, description),)


class DataDependentArgument(InvalidArgument):
    """A request field that is wrong for the source's data (a column its format cannot
    write, a rule naming a column the source does not have or cannot apply to its type,
    a column name Sluice cannot carry): the same field could be right for other data.
    A subject package names the source of such an error, and of no other."""


class RequestIdInUse(InvalidArgument):
    """A request id already used for another export request (`export_id`: that export,
    when the caller may learn it)."""

    def __init__(self, export_id: str | None = None) -> None:
        which = f" (export {export_id})" if export_id else ""
        super().__init__("request_id", f"already used for a different export request{which}")


class NotFound(SluiceError):
    code = ErrorCode.NOT_FOUND


class FailedPrecondition(SluiceError):
    code = ErrorCode.FAILED_PRECONDITION


class AlreadyExists(SluiceError):
    code = ErrorCode.ALREADY_EXISTS


class PermissionDenied(SluiceError):
    code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(SluiceError):
    code = ErrorCode.UNAUTHENTICATED


class ServerBusy(SluiceError):
    """A capacity limit of the server is reached for now; retrying later may succeed."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    transient = True


class Unavailable(SluiceError):
    """A dependency (storage, database) failed in a way that may pass."""

    code = ErrorCode.UNAVAILABLE
    transient = True


class Unimplemented(SluiceError):
    """A call of a protocol Sluice speaks (Arrow Flight) that it does not serve."""

    code = ErrorCode.UNIMPLEMENTED


class DataLoss(SluiceError):
    """Stored data does not match what was recorded."""

    code = ErrorCode.DATA_LOSS


class Interrupted(SluiceError):
    """The export was stopped on purpose (cancel or shutdown) between two chunks."""

    code = ErrorCode.CANCELLED


class LeaseLost(FailedPrecondition):
    """This replica no longer holds the lease of a running export (it expired and another
    replica claimed it, or the export was handed back): the export stops at once, and
    the loser writes nothing more for it, not even a failed state."""


class Abandoned(Interrupted):
    """The export's source went away for good (a DoPut nobody resumed): it ends as
    cancelled, as if CancelExport had been called."""


#: Exceptions from outside Sluice that mean a connection broke or an answer did not come
#: in time: the same work may succeed later. Anything else foreign is a bug or bad data.
_TRANSIENT_FOREIGN: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def is_transient(error: BaseException) -> bool:
    """Whether a failed export attempt may succeed when run again later (the one place
    that decides it; the runner retries only these). Domain errors say so themselves
    (`transient`): a storage UNAVAILABLE after the sink's own retry budget, a lost
    database connection, a job store that is briefly unavailable. Bad input, permission,
    authentication, not found and data loss are permanent. A stop on purpose (cancel,
    shutdown, a lost lease) is no failure at all, so never transient."""
    if isinstance(error, Interrupted | LeaseLost):
        return False
    if isinstance(error, SluiceError):
        return error.transient
    return isinstance(error, _TRANSIENT_FOREIGN)


def as_domain_error(error: BaseException) -> SluiceError:
    """Any failure as a domain error whose message is safe to store and show: a domain
    error as it is; a foreign connection failure or timeout as Unavailable; anything else
    unexpected as INTERNAL by its type alone (its message may quote the data)."""
    if isinstance(error, SluiceError):
        return error
    if is_transient(error):
        return Unavailable(f"a connection failed or timed out ({safe_summary(error)})")
    return SluiceError(f"internal error ({safe_summary(error)}); see the server log")


def safe_summary(error: BaseException) -> str:
    """What may be said of any failure: a domain error's message (written to be safe),
    otherwise the exception's type alone. Messages of other exceptions are never shown,
    stored or logged: Polars, Arrow and even Python's own ("invalid literal for int():
    '4111...'") quote the data they failed on. A few details that never quote them
    follow the type (`_safe_details`): "builtins.ModuleNotFoundError (module adbc_x)"."""
    if isinstance(error, SluiceError):
        return error.message
    kind = type(error)
    details = _safe_details(error)
    name = f"{kind.__module__}.{kind.__qualname__}"
    return f"{name} ({details})" if details else name


#: What an allowlisted detail may look like: a module name or an error code.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.]{1,120}")


def _safe_details(error: BaseException) -> str:
    """The few details of a foreign exception that never quote data, credentials or
    locations, and that operators need: the module an import could not find, an OS
    error's number and the system's text for it (never the file name), a botocore
    ClientError's code (ExpiredToken, AccessDenied; never its message)."""
    if isinstance(error, ImportError):
        name = error.name
        return f"module {name}" if name and _SAFE_NAME.fullmatch(name) else ""
    if isinstance(error, OSError):
        return _os_error_details(error)
    client_errors = sys.modules.get("botocore.exceptions")
    if client_errors is not None and isinstance(error, client_errors.ClientError):
        code = error.response.get("Error", {}).get("Code")
        return f"code {code}" if isinstance(code, str) and _SAFE_NAME.fullmatch(code) else ""
    return ""


def _os_error_details(error: OSError) -> str:
    number = error.errno
    if not isinstance(number, int):
        return ""
    symbol = errno.errorcode.get(number, str(number))
    text = error.strerror
    # The system's own words only: a library can build an OSError with any text.
    system_text = isinstance(error, socket.gaierror) or text == os.strerror(number)
    return f"{symbol}: {text}" if isinstance(text, str) and system_text else symbol


def safe_traceback(error: BaseException) -> str:
    """The stack of `error` and of the exceptions it was raised from, for the log: frames
    and source lines, with `safe_summary` in place of each exception's message."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    parts = [
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(item.__traceback__))
        + safe_summary(item)
        for item in reversed(chain)
    ]
    return "\n\nwhich led to:\n\n".join(parts)


def must_propagate(exc: BaseException) -> bool:
    """Whether an exception must reach the top of its thread rather than fail one export
    or one call. A Rust panic inside Polars or another pyo3 extension (pyo3's
    PanicException) is a BaseException too, but it is a single request's failure."""
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)
