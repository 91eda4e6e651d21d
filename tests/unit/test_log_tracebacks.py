"""A traceback in the daemon's log names each exception by its type alone, whoever
logged it: botocore.credentials warns with exc_info when a refresh fails, and the
exception's text quotes the endpoint (user:password@, a signed query). Run in a fresh
interpreter with the daemon's own logging setup, text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CANARY = "CNRYLOGPW5521"

_SCRIPT = f"""
import logging
from sluice.server.log_setup import configure_logging
configure_logging("INFO", {{fmt!r}})
try:
    try:
        raise KeyError("http://user:{CANARY}@sts.example")
    except KeyError as inner:
        raise ValueError("Could not connect to http://user:{CANARY}@sts.example") from inner
except ValueError:
    credentials = logging.getLogger("botocore.credentials")
    credentials.warning("Refreshing credentials failed", exc_info=True)
    logging.getLogger("sluice.server.tls").exception("TLS certificate check failed")
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_exception_messages_stay_out_of_the_log(fmt: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(fmt=fmt)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    log = result.stderr
    assert "Refreshing credentials failed" in log
    assert "TLS certificate check failed" in log
    assert CANARY not in log, log
    # The stack is still there, each exception by its type.
    assert log.count("builtins.ValueError") == 2, log
    assert log.count("builtins.KeyError") == 2, log


def test_opentelemetry_warnings_quoting_a_caller_stay_out_of_the_log() -> None:
    """OpenTelemetry's parsers warn quoting the baggage or tracestate member they
    refused, text any caller can send: its loggers show errors only."""
    script = f"""
import logging
from sluice.server.log_setup import configure_logging
configure_logging("DEBUG", "text")
logging.getLogger("opentelemetry.baggage.propagation").warning("Baggage `{CANARY} junk`")
logging.getLogger("opentelemetry.trace.span").warning("Member {CANARY} junk")
logging.getLogger("sluice.server").warning("still logged")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "still logged" in result.stderr
    assert CANARY not in result.stderr, result.stderr


_UNCAUGHT = f"""
import threading, warnings
from sluice.server.log_setup import configure_logging
configure_logging("INFO", "json")
def fail():
    raise ValueError("http://u:{CANARY}@h")
thread = threading.Thread(target=fail, name="worker")
thread.start()
thread.join()
warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
raise KeyError("http://u:{CANARY}@h")
"""


def test_uncaught_exceptions_and_warnings_are_logged_through_the_daemons_handler() -> None:
    """A thread's or the main thread's uncaught exception, and a warning, reach the log
    as records of the daemon's handler: JSON lines in json mode, exceptions by type."""
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", _UNCAUGHT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    log = result.stderr
    assert CANARY not in log, log
    records = [json.loads(line) for line in log.splitlines()]
    messages = " ".join(record["msg"] for record in records)
    assert "worker" in messages
    assert "a library's deprecation" in messages
    tracebacks = " ".join(record.get("exc_info", "") for record in records)
    assert "builtins.ValueError" in tracebacks
    assert "builtins.KeyError" in tracebacks
