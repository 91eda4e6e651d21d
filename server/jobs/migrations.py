"""Schema versions of the job stores: what `sluice migrate --check` reports, and the one
refusal a store newer than this Sluice gets.

Each store keeps an ordered, append-only list of migration steps (a released step is
never edited); step i takes the schema from version i to i + 1. SQLite records how far a
file has come in `PRAGMA user_version`, PostgreSQL in the `sluice_schema_migrations`
table. Steps run at start, under a lock (SQLite's write lock, a PostgreSQL advisory
lock), so daemons starting together migrate once. A store whose version is newer than
the binary's is refused before anything is written to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.server.errors import FailedPrecondition


@dataclass(frozen=True)
class SchemaStatus:
    """Where a store's schema stands against this binary."""

    #: Which store, for messages (a file path, or a URL without secrets).
    store: str
    #: The store's version; 0 for an empty (or missing) store.
    found: int
    #: The newest version this binary knows.
    supported: int

    @property
    def behind(self) -> bool:
        return self.found < self.supported

    @property
    def newer(self) -> bool:
        return self.found > self.supported

    def describe(self) -> str:
        """One line for `sluice migrate --check`."""
        if self.newer:
            return newer_store(self).message
        if self.behind:
            return (
                f"job store {self.store} is at schema version {self.found}; this Sluice"
                f" migrates it to {self.supported} at start (or run `sluice migrate`)"
            )
        return f"job store {self.store} is at schema version {self.found} (current)"


def newer_store(status: SchemaStatus) -> FailedPrecondition:
    """The refusal of a store written by a newer Sluice: one line, naming both versions."""
    return FailedPrecondition(
        f"job store {status.store} has schema version {status.found}, newer than this"
        f" Sluice understands ({status.supported}); upgrade Sluice (the store was not"
        " changed)"
    )
