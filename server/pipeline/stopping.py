"""Why a running export stops, which decides what happens to the upload in flight.

A graceful shutdown suspends it: the parts already stored stay open and journalled, so
the next start continues the chunk instead of sending it again. A cancel (or a failure)
aborts it, so it is never completed (what the store keeps of it: Sink.abort_upload).
"""

from __future__ import annotations

import threading


class ExportStop(threading.Event):
    """Set to stop an export at its next batch (a database statement it waits on is
    cancelled at once, and no chunk commit starts after it); `cancel` also discards its
    open upload.

    A cancel wins over a shutdown whenever it comes, so a cancelled export never keeps an
    upload. A plain threading.Event works where an ExportStop is expected and means cancel.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cancelled = False
        # An event, so that waits (a retry's backoff) end as the lease is lost; it also
        # sets the events linked to it by `also_on_lease_lost`.
        self._lease_lost = threading.Event()
        self._on_lease_lost: list[threading.Event] = []
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        """Stop at the next batch and keep the open upload for the next start."""
        self.set()

    def cancel(self) -> None:
        """Stop at the next batch and discard the open upload."""
        self._cancelled = True
        self.set()

    def lose_lease(self) -> None:
        """Stop at the next batch because another replica took the export over: keep
        the open upload (the new holder continues it) and write nothing more."""
        with self._lock:
            self._lease_lost.set()
            linked = list(self._on_lease_lost)
        for event in linked:
            event.set()
        self.set()

    def also_on_lease_lost(self, event: threading.Event) -> None:
        """Set `event` when the lease is lost (now, if it already is): a run's own
        hand-over event, which every wait for the hand-over waits on, then wakes too."""
        with self._lock:
            self._on_lease_lost.append(event)
            lost = self._lease_lost.is_set()
        if lost:
            event.set()

    def wait_lease_lost(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds, less once the lease is lost; return lease_lost."""
        return self._lease_lost.wait(timeout)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def lease_lost(self) -> bool:
        return self._lease_lost.is_set()

    @property
    def keeps_uploads(self) -> bool:
        """Whether stopping now should suspend (not abort) the upload in flight."""
        return self.is_set() and (self.lease_lost or not self._cancelled)


def cancel(stop: threading.Event) -> None:
    """Cancel the run `stop` stops (a plain threading.Event, once set, means cancel)."""
    if isinstance(stop, ExportStop):
        stop.cancel()
    else:
        stop.set()


def hand_over_on_lease_lost(stop: threading.Event, handed_over: threading.Event) -> None:
    """Set `handed_over` once `stop` stops its run for a lost lease (only an ExportStop
    can)."""
    if isinstance(stop, ExportStop):
        stop.also_on_lease_lost(handed_over)


def keeps_uploads(stop: threading.Event) -> bool:
    """Whether `stop` asks to keep the upload in flight (only an ExportStop can)."""
    return isinstance(stop, ExportStop) and stop.keeps_uploads
