"""Cancelling a database source's statements in flight when their export stops.

A stop is noticed between batches, but a statement can run long before its first row (a
sort on an unindexed column, a big join, a slow server) or between two batches: the read
would hold the export RUNNING until the statement ends or reaches statement_timeout. So
a read registers how to cancel each connection's work while it runs (ADBC's
AdbcConnectionCancel, sqlite3's and DuckDB's interrupt, all meant to be called from
another thread), and the export's consumer, leaving early, cancels them all at once.

Statements run deep in code that takes no cancels (planning's catalog queries, which a
lock on the table can hold as long as any read) register with the cancels set around
that code for the context (`cancelled_by`, `ambient`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sluice.server.errors import Interrupted

_log = logging.getLogger(__name__)


class StatementCancels:
    """The cancels of one read's statements in flight; `cancel_all` runs them, and a
    statement registered after it is refused at once."""

    def __init__(self) -> None:
        # Held while cancelling, so a cancel never runs on a connection already closed:
        # a read leaves `cancelling` (and then closes) only once no cancel is running.
        self._lock = threading.Lock()
        self._cancels: list[Callable[[], None]] = []
        self._fired = False

    @contextmanager
    def cancelling(self, cancel: Callable[[], None]) -> Iterator[None]:
        """Within the block, `cancel_all` calls `cancel` (from another thread). Raises
        Interrupted on entry when the read is cancelled already, and in place of the
        error a cancelled statement ends with: the stop is no statement timeout, nor a
        lost connection to retry."""
        with self._lock:
            if self._fired:
                raise Interrupted("export interrupted")
            self._cancels.append(cancel)
        try:
            yield
        except Exception:
            if self._fired:
                raise Interrupted("export interrupted") from None
            raise
        finally:
            with self._lock:
                self._cancels.remove(cancel)

    def cancel_all(self) -> None:
        """Cancel every registered statement (again, when called again: a statement
        that was just being sent when the first cancel came may have missed it)."""
        with self._lock:
            self._fired = True
            for cancel in self._cancels:
                try:
                    cancel()
                except Exception as exc:  # noqa: BLE001 - the read then ends on its own
                    # Only the type: a driver's message may quote the connection string.
                    _log.warning("could not cancel a source statement (%s)", type(exc).__name__)


_AMBIENT: ContextVar[StatementCancels | None] = ContextVar("statement_cancels", default=None)


@contextmanager
def cancelled_by(cancels: StatementCancels) -> Iterator[None]:
    """Within the block (in this context), statements registered with `ambient()` are
    cancelled by `cancels`."""
    token = _AMBIENT.set(cancels)
    try:
        yield
    finally:
        _AMBIENT.reset(token)


def ambient() -> StatementCancels:
    """The cancels set for this context by `cancelled_by` (else a new one, which no
    one cancels)."""
    return _AMBIENT.get() or StatementCancels()
