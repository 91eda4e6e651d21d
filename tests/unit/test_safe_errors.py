"""Unexpected failures are described by type and stack, never by their message, which
Polars, Arrow and Python itself fill with the data they failed on."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition, safe_summary, safe_traceback
from sluice.server.execution.executor import describe_failure

SECRET = "4111111111111111"


def _polars_failure() -> None:
    pl.Series([SECRET]).cast(pl.Int8)


def _wrapped() -> None:
    try:
        _polars_failure()
    except pl.exceptions.PolarsError as exc:
        raise RuntimeError(f"while exporting {SECRET}") from exc


def test_unexpected_errors_keep_their_stack_and_lose_their_message() -> None:
    with pytest.raises(RuntimeError) as raised:
        _wrapped()
    assert SECRET in str(raised.value) and SECRET in str(raised.value.__cause__)

    text = safe_traceback(raised.value)
    assert SECRET not in text
    assert "_polars_failure" in text and "_wrapped" in text  # both stacks, in order
    assert text.index("polars.exceptions.InvalidOperationError") < text.index(
        "builtins.RuntimeError"
    )

    stored = describe_failure(raised.value)
    assert stored.code == "INTERNAL" and SECRET not in stored.message
    assert stored.message == "internal error (builtins.RuntimeError); see the server log"


def test_domain_errors_keep_their_own_safe_message() -> None:
    error = FailedPrecondition("events.csv: line 3 has 4 fields, expected 3")
    assert safe_summary(error) == error.message
    assert describe_failure(error) is error
    assert safe_traceback(error).endswith(error.message)
