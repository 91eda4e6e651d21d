"""Polars panics, caught wherever Polars runs on a caller's data or expressions.

A Rust panic inside Polars reaches Python as `PanicException`, which derives from
BaseException, not Exception: an `except Exception` guard around a Polars call lets it
through. Where the guard turns failures into the caller's error (a `where` Polars
cannot run), the panic went out as an INTERNAL with no field; where it kept a loop
alive (the scheduler), the panic ended the loop's thread, and no schedule ticked again.

Guards around Polars catch POLARS_FAILURES; a stage of an export that Polars may panic
in runs under `polars_panics(stage)`, so the export fails with INTERNAL naming the
stage (the panic's text, which may quote the data, only in the log's traceback frames,
never its message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from sluice.server.errors import SluiceError, safe_traceback

_log = logging.getLogger(__name__)

#: What a guard around a Polars call catches: its errors, and its panics.
POLARS_FAILURES = (Exception, pl.exceptions.PanicException)


class PolarsPanicked(SluiceError):
    """Polars panicked in a stage of an export: INTERNAL, naming the stage."""

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"Polars panicked while {stage} (a failure inside the library on this data, "
            "not of the request); see the server log"
        )


@contextmanager
def polars_panics(stage: str) -> Iterator[None]:
    """Run a stage in which Polars may panic: a panic becomes PolarsPanicked(stage),
    logged with its frames (never its text)."""
    try:
        yield
    except pl.exceptions.PanicException as exc:
        _log.error("Polars panicked while %s:\n%s", stage, safe_traceback(exc))
        raise PolarsPanicked(stage) from None
