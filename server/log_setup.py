"""The daemon's logging: one format on stderr at the configured level, except for the
libraries that print credentials when asked for detail.

botocore's DEBUG request logging writes the Authorization header (the access key id)
and X-Amz-Security-Token; urllib3 writes request lines, presigned query strings
included; the Azure SDK's HTTP logging policy, msal and azure-identity write headers and
token responses. Those loggers stay at WARNING or quieter whatever `log_level` says, so
DEBUG is safe to turn on in production.

`log_format = "json"` writes one JSON object per line (python-json-logger) with `ts`,
`level`, `logger`, `msg` and, inside an export's or a caller's context (`log_context`),
`export_id`, `dataset` and `principal`. Only fields the daemon chose are added, never a
record's data: messages are the same safe text as the plain format's.

A record logged with exc_info (a library's warning, botocore.credentials' failed
refresh, or `_log.exception`) shows its stack as server.errors.safe_traceback does,
each exception by its type alone: exception messages quote endpoints with their
user-info, signed URLs and record values. Uncaught exceptions (sys.excepthook, and
threading.excepthook for the daemon's threads) and warnings (logging.captureWarnings)
go through the same handler rather than straight to stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Final

from pythonjsonlogger.json import JsonFormatter

from sluice.server.errors import safe_traceback

#: Loggers of libraries that can print credentials, tokens or signed URLs. Children
#: inherit the level unless set explicitly; the Azure HTTP policy's is named on its own
#: because applications commonly set it.
CREDENTIAL_LOGGERS: Final = (
    "botocore",
    "boto3",
    "s3transfer",
    "aiobotocore",
    "s3fs",
    "fsspec",
    "urllib3",
    "aiohttp",
    "requests",
    "httpx",
    "httpcore",
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "adlfs",
    "msal",
    "asyncio",
    "grpc",
)
#: The most detail a credential logger may show.
CREDENTIAL_LOGGERS_FLOOR: Final = logging.WARNING
#: Loggers whose warnings quote what a caller sent (OpenTelemetry's baggage and
#: tracestate parsers log the members they refused, before the caller is
#: authenticated): errors only.
CALLER_TEXT_LOGGERS: Final = ("opentelemetry",)
CALLER_TEXT_LOGGERS_FLOOR: Final = logging.ERROR


#: Fields a context adds to every record logged inside it (JSON format only).
CONTEXT_FIELDS: Final = ("export_id", "dataset", "principal")
_context: ContextVar[dict[str, str]] = ContextVar("sluice_log_context", default={})  # noqa: B039 - never mutated


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Records logged inside (this thread, or this context) carry `fields` (CONTEXT_FIELDS)."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def set_log_principal(name: str) -> None:
    """From here on in this context (one call's copied context), records carry the
    caller's principal; an anonymous caller ("") adds nothing."""
    if name:
        _context.set({**_context.get(), "principal": name})


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            setattr(record, name, value)
        return True


class _SafeTracebackFilter(logging.Filter):
    """Puts the safe traceback in place of a record's exception, which both formatters
    would otherwise render with every message of its chain."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = safe_traceback(record.exc_info[1])
            record.exc_info = None
        return True


_uncaught = logging.getLogger("sluice.uncaught")


def _log_uncaught(
    kind: type[BaseException], error: BaseException, stack: TracebackType | None
) -> None:
    """sys.excepthook: the exception that ends the process, logged as any other (its
    traceback safe, the format the daemon's), not printed whole to stderr."""
    _uncaught.critical("uncaught exception", exc_info=(kind, error, stack))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: a thread's uncaught exception, logged as sys's."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    _uncaught.error(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def json_formatter() -> logging.Formatter:
    """ts is ISO 8601 in UTC with microseconds (python-json-logger's `timestamp`)."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "message": "msg"},
        timestamp="ts",
    )


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at `level` (a level name) as `log_format` ("text" or "json");
    credential loggers at WARNING or above."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ContextFilter())
    handler.addFilter(_SafeTracebackFilter())
    logging.basicConfig(level=level, handlers=[handler])
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    floor = max(logging.getLevelNamesMapping()[level], CREDENTIAL_LOGGERS_FLOOR)
    for name in CREDENTIAL_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    for name in CALLER_TEXT_LOGGERS:
        logging.getLogger(name).setLevel(max(floor, CALLER_TEXT_LOGGERS_FLOOR))
    logging.getLogger("sluice").debug(
        "logging at %s; libraries that can print credentials at %s: %s",
        level,
        logging.getLevelName(floor),
        ", ".join(CREDENTIAL_LOGGERS),
    )
