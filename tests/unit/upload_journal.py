"""An UploadJournal in memory, for tests of resumable writers (the daemon's is the job
store): it counts saves, so tests see that state is saved after every part."""

from __future__ import annotations


class MemoryJournal:
    def __init__(self) -> None:
        self.state: str | None = None
        self.saves = 0

    def load(self) -> str | None:
        return self.state

    def save(self, state: str) -> None:
        self.state = state
        self.saves += 1

    def clear(self) -> None:
        self.state = None
