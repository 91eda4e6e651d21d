"""safe_summary names a foreign exception by its type, plus the few details that never
quote data, credentials or locations and that operators need to act: the module an
import could not find, an OS error's number and the system's text, a botocore
ClientError's code. Everything else (messages, file names, KeyError keys) stays out."""

from __future__ import annotations

import errno
import socket

import pytest

from sluice.server.errors import safe_summary, safe_traceback

CANARY = "CNRYDETAIL8812"


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_the_module_an_import_missed_is_named() -> None:
    error = _raised(ModuleNotFoundError(f"No module named 'x' {CANARY}", name="adbc_driver_x"))
    assert safe_summary(error) == "builtins.ModuleNotFoundError (module adbc_driver_x)"
    assert "module adbc_driver_x" in safe_traceback(error)


def test_an_os_error_has_its_number_and_the_systems_text_never_the_file() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", f"/s/{CANARY}")
    assert safe_summary(missing) == (
        "builtins.FileNotFoundError (ENOENT: No such file or directory)"
    )
    made_up = ConnectionRefusedError(errno.ECONNREFUSED, f"http://u:{CANARY}@h refused")
    assert safe_summary(made_up) == "builtins.ConnectionRefusedError (ECONNREFUSED)"
    resolving = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert "Name or service not known" in safe_summary(resolving)
    assert safe_summary(OSError(f"http://u:{CANARY}@h")) == "builtins.OSError"


def test_a_botocore_client_error_has_its_code_never_its_message() -> None:
    exceptions = pytest.importorskip("botocore.exceptions")
    error = exceptions.ClientError(
        {"Error": {"Code": "ExpiredToken", "Message": f"token {CANARY} expired"}},
        "GetObject",
    )
    assert safe_summary(error) == "botocore.exceptions.ClientError (code ExpiredToken)"


@pytest.mark.parametrize(
    "error",
    [KeyError(CANARY), ValueError(CANARY), ModuleNotFoundError("x", name=f"{CANARY} @h")],
)
def test_anything_else_is_its_type_alone(error: BaseException) -> None:
    assert CANARY not in safe_summary(error)
    assert CANARY not in safe_traceback(_raised(error))
