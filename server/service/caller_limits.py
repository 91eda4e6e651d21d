"""Limits that keep one caller (or all of them) from crowding the daemon out: exports
waiting in the queue (server-wide and per principal) and WatchExport streams held open
per principal. Beyond a limit a call is RESOURCE_EXHAUSTED with a retry delay."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from sluice.server.errors import ServerBusy
from sluice.server.jobs.model import JobState
from sluice.server.jobs.store import JobStore
from sluice.server.principals import Principal
from sluice.server.settings import Settings


class CallerLimits:
    def __init__(self, settings: Settings, store: JobStore) -> None:
        self._settings = settings
        self._store = store
        # Admission (count, then create) is serialised so two calls at once cannot both
        # take the last place in this daemon's queue.
        self._admission = threading.Lock()
        self._watch_lock = threading.Lock()
        self._watches: Counter[str] = Counter()

    @contextmanager
    def queue_admission(self, principal: Principal) -> Iterator[None]:
        """Held while a new export is added: raises ServerBusy when the queue is full
        for everyone (max_queued_exports) or for this principal (max_queued_per_principal)."""
        total = self._settings.max_queued_exports
        own = self._settings.max_queued_per_principal
        if not total and not own:
            yield
            return
        with self._admission:
            queued = [job for job in self._store.unfinished() if job.state == JobState.QUEUED]
            if total and len(queued) >= total:
                raise ServerBusy(
                    f"{len(queued)} exports are queued, the most this server takes "
                    "(max_queued_exports); retry when some have started"
                )
            mine = sum(1 for job in queued if job.created_by == principal.name)
            if own and mine >= own:
                raise ServerBusy(
                    f"principal {principal.name!r} has {mine} exports queued, the most "
                    "allowed (max_queued_per_principal); retry when some have started"
                )
            yield

    @contextmanager
    def watch_slot(self, principal: Principal) -> Iterator[None]:
        """Held while one WatchExport stream of `principal` is open."""
        most = self._settings.max_watch_streams_per_principal
        if not most:
            yield
            return
        with self._watch_lock:
            if self._watches[principal.name] >= most:
                raise ServerBusy(
                    f"principal {principal.name!r} has {most} WatchExport streams open, the "
                    "most allowed (max_watch_streams_per_principal); retry when one has ended"
                )
            self._watches[principal.name] += 1
        try:
            yield
        finally:
            with self._watch_lock:
                self._watches[principal.name] -= 1
