"""What storage calls report to whoever watches them (the daemon's metrics), without
the sinks knowing who that is: a tiny protocol and a do-nothing default."""

from __future__ import annotations

from typing import Literal, Protocol

Outcome = Literal["ok", "error"]


class StorageObserver(Protocol):
    def request(self, store: str, operation: str, outcome: Outcome) -> None:
        """One attempt of a storage call ended (`store`: local, s3 or azure)."""
        ...

    def retry(self, store: str) -> None:
        """A failed attempt is being tried again: told after its backoff, just before the
        request is resent, so a retry refused then (its upload handed over during the
        backoff) is none."""
        ...


class NoStorageObserver:
    """Reports to nobody."""

    def request(self, store: str, operation: str, outcome: Outcome) -> None:
        pass

    def retry(self, store: str) -> None:
        pass


NO_STORAGE_OBSERVER: StorageObserver = NoStorageObserver()
