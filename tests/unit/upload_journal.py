"""An UploadJournal in memory, for tests of resumable writers (the daemon's is the job
store): it counts saves, so tests see that state is saved after every part, and it can
lose its lease as the daemon's journal does."""

from __future__ import annotations

import threading

from sluice.server.errors import LeaseLost
from sluice.sinks.errors import JournalRefused


class MemoryJournal:
    def __init__(self, state: str | None = None) -> None:
        self.state = state
        self.saves = 0
        #: The store's fence: every write refused, as when another replica holds the lease.
        self.fenced_out = False
        #: Whether the writer's run knows it lost the lease (handed_over()).
        self.known_lost = False
        self._known = threading.Event()

    def lose_lease(self, *, known: bool = True) -> None:
        """Another holder takes the upload over: writes are refused from now on and,
        when the run has heard of it (`known`), handed_over() says so."""
        self.fenced_out = True
        self.known_lost = known
        if known:
            self._known.set()

    def load(self) -> str | None:
        return self.state

    def save(self, state: str) -> None:
        self._refuse_if_fenced_out()
        self.state = state
        self.saves += 1

    def clear(self) -> None:
        self._refuse_if_fenced_out()
        self.state = None

    def _refuse_if_fenced_out(self) -> None:
        # As the daemon's journal refuses: a sinks-level error carrying the store's own.
        if self.fenced_out:
            lost = LeaseLost("export 'memory': the lease changed during the write")
            raise JournalRefused(f"upload journal write refused: {lost}", reason=lost)

    def handed_over(self) -> bool:
        return self.known_lost

    def wait_handed_over(self, timeout: float) -> bool:
        return self._known.wait(timeout)
