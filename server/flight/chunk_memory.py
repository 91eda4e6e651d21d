"""A daemon-wide cap on the chunk bytes DoGet, GetFlightInfo and ListFlights hold in
memory at once (setting flight_get_memory_bytes).

Each of those calls reads a stored chunk (up to 256 MiB) into one buffer while it is
verified (a DoGet also the next one, fetched ahead); without a cap, N concurrent calls
held N chunks or more. A call reserves its chunk's
bytes here first; when the reservation would pass the cap it spools the chunk to a
temporary file instead (slower, same records), and `spooled` counts that.
"""

from __future__ import annotations

import threading


class ChunkMemoryBudget:
    """Bytes reserved by chunks held in memory, across calls; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()
        #: Chunks read through a temporary file because the budget was spent.
        self.spooled = 0

    def reserve(self, size: int) -> bool:
        """True (and the bytes held) when `size` more fits under the cap."""
        with self._lock:
            if self._used + size > self.capacity:
                self.spooled += 1
                return False
            self._used += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self._used -= size

    @property
    def used(self) -> int:
        with self._lock:
            return self._used


#: For callers that set no cap (tests, tools reading one chunk).
UNLIMITED = ChunkMemoryBudget(2**63)
