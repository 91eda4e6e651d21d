"""Why a running export stops, which decides what happens to the upload in flight.

A graceful shutdown suspends it: the parts already stored stay open and journalled, so
the next start continues the chunk instead of sending it again. A cancel (or a failure)
aborts it, so nothing is left billed or orphaned in the store.
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
        self._lease_lost = False

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
        self._lease_lost = True
        self.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def lease_lost(self) -> bool:
        return self._lease_lost

    @property
    def keeps_uploads(self) -> bool:
        """Whether stopping now should suspend (not abort) the upload in flight."""
        return self.is_set() and (self._lease_lost or not self._cancelled)


def cancel(stop: threading.Event) -> None:
    """Cancel the run `stop` stops (a plain threading.Event, once set, means cancel)."""
    if isinstance(stop, ExportStop):
        stop.cancel()
    else:
        stop.set()


def keeps_uploads(stop: threading.Event) -> bool:
    """Whether `stop` asks to keep the upload in flight (only an ExportStop can)."""
    return isinstance(stop, ExportStop) and stop.keeps_uploads
