"""The job store watch: one check of the store (JobStore.check) every CHECK_SECONDS, on
threads of its own, for what must not wait on the store when it is down.

- Readiness: the daemon is ready while the store answered a check within the last
  UNREADY_AFTER_SECONDS, so one slow or failed check (a failover's blip, a slow
  statement) changes nothing; the first check that succeeds after an outage makes it
  ready again. main wires this to the health status of sluice.v1.ExportService (the
  Helm chart's readiness probe), never to the overall status, which liveness asks: an
  outage of the shared store must take replicas out of the Service, not restart them.
- Metrics: a scrape asks for a check of its own and waits for it at most
  SCRAPE_WAIT_SECONDS (server/metrics): a store that does not answer by then is
  reported down, with the counts of the last check that succeeded and its time, so a
  scrape during an outage still gets every metric well within Prometheus' timeout.
- Versions: a store whose schema became newer than this binary's (a newer replica
  migrated it while this one ran) is reported once through `on_newer_schema`, with the
  one-line message naming both versions; main stops the daemon then.
- Shutdown: `probe_store` begins one check as the daemon begins to stop; when exports
  did not checkpoint within the grace, it tells main whether the store was why, so the
  last line says so rather than leaving it to threads the exit may cut short, and the
  stop waits no longer for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sluice.server.errors import safe_summary
from sluice.server.jobs.migrations import SchemaStatus
from sluice.server.jobs.store import JobStore

_log = logging.getLogger("sluice.jobs.watch")

#: Seconds between two checks of the store.
CHECK_SECONDS: Final = 2.0
#: Not ready once no check succeeded for this long (about five checks in a row).
UNREADY_AFTER_SECONDS: Final = 10.0
#: Longest a scrape waits for its check.
SCRAPE_WAIT_SECONDS: Final = 2.0
#: How often readiness is re-judged while a check has not returned (a store that stops
#: answering mid-statement).
_JUDGE_SECONDS: Final = 1.0


@dataclass(frozen=True)
class StoreReading:
    """What metrics show of the store: whether its last check succeeded (and is recent),
    the counts that check read (None before the first), and when it was (Unix time)."""

    up: bool
    running: int | None
    queued: int | None
    checked_at: float | None


class JobStoreWatch:
    def __init__(
        self,
        store: JobStore,
        *,
        on_ready: Callable[[bool], None],
        on_newer_schema: Callable[[str], None],
        interval: float = CHECK_SECONDS,
        grace: float = UNREADY_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._on_ready = on_ready
        self._on_newer_schema = on_newer_schema
        self._interval = interval
        self._grace = grace
        self._clock = clock
        self._lock = threading.Lock()
        #: Checks begun and ended, and a check asked for before the next interval.
        self._ended_one = threading.Condition(self._lock)
        self._begun = 0
        self._ended = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # The store was just opened: it answered.
        self._last_ok = self._clock()
        self._last_failed = False
        self._reading = StoreReading(up=True, running=None, queued=None, checked_at=None)
        self._newer = False
        self._ready = True
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        loops = ((self._check_loop, "job-store-check"), (self._judge_loop, "job-store-judge"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 0.0) -> None:
        """No more checks, and no more readiness changes (shutdown owns them now)."""
        with self._lock:
            self._stopping.set()
            self._ended_one.notify_all()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def reading(self) -> StoreReading:
        with self._lock:
            reading = self._reading
            stale = self._clock() - self._last_ok > self._grace
        if stale and reading.up:
            return StoreReading(False, reading.running, reading.queued, reading.checked_at)
        return reading

    def fresh_reading(self, timeout: float = SCRAPE_WAIT_SECONDS) -> StoreReading:
        """The reading of a check begun after this call, waiting at most `timeout` for
        it; past that the store is reported down (the last counts, their time)."""
        with self._lock:
            wanted = self._begun + 1
            self._wake.set()
            answered = self._ended_one.wait_for(
                lambda: self._ended >= wanted or self._stopping.is_set(), timeout
            )
        reading = self.reading()
        if answered and self._ended >= wanted:
            return reading
        return StoreReading(False, reading.running, reading.queued, reading.checked_at)

    def check_once(self) -> None:
        """One check, and what follows from it."""
        with self._lock:
            self._begun += 1
        try:
            check = self._store.check()
        except Exception as exc:  # noqa: BLE001 - any failure means "did not answer"
            with self._lock:
                self._ended += 1
                self._ended_one.notify_all()
                if not self._last_failed:
                    _log.warning("job store check failed: %s", safe_summary(exc))
                self._last_failed = True
                previous = self._reading
                self._reading = StoreReading(
                    False, previous.running, previous.queued, previous.checked_at
                )
            self._judge()
            return
        with self._lock:
            self._ended += 1
            self._ended_one.notify_all()
            self._last_ok = self._clock()
            self._last_failed = False
            self._reading = StoreReading(True, check.running, check.queued, time.time())
            newly_newer = check.schema.newer and not self._newer
            self._newer = self._newer or check.schema.newer
        if newly_newer:
            self._on_newer_schema(migrated_past(check.schema))
        self._judge()

    def _check_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self.check_once()
            self._wake.wait(self._interval)

    def _judge_loop(self) -> None:
        while not self._stopping.wait(_JUDGE_SECONDS):
            self._judge()

    def _judge(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            silent = self._clock() - self._last_ok
            ready = not self._newer and silent <= self._grace
            if ready == self._ready:
                return
            self._ready = ready
            if ready:
                _log.info("job store answers again: ready")
            elif not self._newer:
                _log.warning(
                    "job store has not answered for %.0f s: not ready until it does"
                    " (the process stays live)",
                    silent,
                )
            # Under the lock, so stop() cannot come between the decision and the change.
            self._on_ready(ready)


def migrated_past(status: SchemaStatus) -> str:
    """One line for a store migrated past this binary while it ran."""
    return (
        f"job store {status.store} now has schema version {status.found}, newer than this"
        f" Sluice understands ({status.supported}): a newer Sluice migrated it; this replica"
        " stops (its exports go back to the queue) and would refuse to start: run the newer"
        " version on every replica"
    )


def probe_store(store: JobStore) -> Callable[[], str | None]:
    """Begin one check of the store on a thread of its own (left behind if it hangs: a
    store whose network drops packets holds it up to its own timeouts). The function
    returned says, without waiting, why the store did not answer it (one line, no
    values), or None when it answered."""
    failure: list[str] = []
    answered = threading.Event()

    def check() -> None:
        try:
            store.check()
        except Exception as exc:  # noqa: BLE001 - any failure means "did not answer"
            failure.append(safe_summary(exc))
        answered.set()

    threading.Thread(target=check, name="job-store-last-check", daemon=True).start()

    def silent() -> str | None:
        if not answered.is_set():
            return "the job store did not answer a check begun when the daemon began to stop"
        return failure[0] if failure else None

    return silent
