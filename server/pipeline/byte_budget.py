"""A bound on the bytes queued between two pipeline threads, beside the queue's count.

The encoder hands the writer one encoded segment per batch, and a segment's size follows
the rows: ~33 MB of NDJSON for 65,536 rows of application logs with free text, ~13 MB for
the demo events. Four queued segments of text were 130 MB resident whenever the writer
fell behind, and how often that coincided with a source piece being decoded set the
daemon's peak: the longer the export, the likelier the worst case (issue 21). A budget in
bytes caps that part of memory whatever the rows look like; one item is always let in
when nothing is queued, so a segment larger than the budget still moves.
"""

from __future__ import annotations

import threading


class ByteBudget:
    """Bytes taken by items in flight, at most `limit` unless a single item is larger
    (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = 0
        self._changed = threading.Condition()

    @property
    def held(self) -> int:
        return self._held

    def take(self, size: int, timeout: float) -> bool:
        """Take `size` bytes, waiting up to `timeout` seconds for room; whether taken."""
        with self._changed:
            if not self._fits(size):
                self._changed.wait_for(lambda: self._fits(size), timeout)
            if not self._fits(size):
                return False
            self._held += size
            return True

    def give_back(self, size: int) -> None:
        with self._changed:
            self._held -= size
            self._changed.notify_all()

    def _fits(self, size: int) -> bool:
        return self._limit <= 0 or self._held == 0 or self._held + size <= self._limit
