"""Running a database read on a thread of its own, then cancelling its statements: the
check shared by the unit tests of file databases and the PostgreSQL integration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from sluice.server.errors import Interrupted
from sluice.server.pipeline.statement_cancels import StatementCancels


class BackgroundRead:
    """`frames()` drained on a daemon thread; what ended it is kept."""

    def __init__(self, frames: Callable[[], Iterable[object]]) -> None:
        self.outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                for _ in frames():
                    pass
                self.outcome.append(None)
            except BaseException as exc:  # inspected by the test
                self.outcome.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def cancelled_within(self, cancels: StatementCancels, seconds: float) -> None:
        """Cancel the read's statements: it must end with Interrupted within `seconds`."""
        cancelled_at = time.monotonic()
        cancels.cancel_all()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the read still waits on its statements"
        assert time.monotonic() - cancelled_at < seconds
        assert len(self.outcome) == 1 and isinstance(self.outcome[0], Interrupted), self.outcome
