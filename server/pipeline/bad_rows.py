"""Rows of a source that cannot be read: the errors that name them (file, line, column,
never the values) and the tally of the ones skipped under `on_bad_rows = "skip"` (a file's
rows that cannot be parsed; a database's rows holding a value the export cannot hold).

Skipped rows have no row position, so each is recorded at the position of a row read
after it (the end of the batch it was parsed with), before that row is read. A chunk
counts the skipped rows recorded before its end position, and the rows after the last
chunk are counted when the export ends. Parsing is deterministic, so a resumed export
records the same rows at the same positions: those before the resume position were
counted by the chunks before it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final

from sluice.server.errors import FailedPrecondition

ON_BAD_ROWS: Final = ("fail", "skip")
#: What the error of a row that "skip" would have left out adds.
SKIP_HINT: Final = 'on_bad_rows "skip" leaves such rows out'
#: Counter key (with the redaction counters of a chunk) of the rows a chunk skipped.
SKIPPED_ROWS: Final = "source/skipped_rows"


class SourceDataError(FailedPrecondition):
    """The source holds data the export cannot read. The message names the file, the
    line or row and the column; it never quotes the data."""


class BadRowTally:
    """Skipped rows by position, filled by the reader thread and taken, in order, by
    the thread that closes chunks."""

    def __init__(self, from_row: int = 0) -> None:
        #: Rows recorded before this position were counted by an earlier run.
        self._from_row = from_row
        self._pending: deque[list[int]] = deque()  # [position, count], positions ascending
        self._lock = threading.Lock()

    def record(self, position: int, count: int) -> None:
        if count <= 0 or position < self._from_row:
            return
        with self._lock:
            if self._pending and self._pending[-1][0] == position:
                self._pending[-1][1] += count
            else:
                self._pending.append([position, count])

    def take_before(self, position: int) -> int:
        """The skipped rows recorded before `position` and not taken yet."""
        taken = 0
        with self._lock:
            while self._pending and self._pending[0][0] < position:
                taken += self._pending.popleft()[1]
        return taken

    def take_rest(self) -> int:
        with self._lock:
            taken = sum(count for _, count in self._pending)
            self._pending.clear()
        return taken


class HeldBadRows:
    """A database read's skipped rows on their way to a BadRowTally (or to none), each
    held until a row read after it is handed on. A read retried after a lost connection
    continues after the last row handed on, so it meets the rows skipped after that row
    again: those held are dropped (`drop`) and recorded anew by the retried read."""

    def __init__(self, tally: BadRowTally | None) -> None:
        self._tally = tally
        self._held: list[tuple[int, int]] = []  # (position, count)

    def hold(self, position: int, count: int) -> None:
        self._held.append((position, count))

    def release_before(self, position: int) -> None:
        """Record the rows held at positions before `position`: the row at the position
        before it is about to be handed on."""
        kept = []
        for held, count in self._held:
            if held < position:
                if self._tally is not None:
                    self._tally.record(held, count)
            else:
                kept.append((held, count))
        self._held = kept

    def release_all(self) -> None:
        """The read ended: the rows skipped after its last row count too."""
        self.release_before(2**63)

    def drop(self) -> None:
        self._held.clear()
