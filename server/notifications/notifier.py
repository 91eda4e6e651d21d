"""The notifier: one daemon thread delivering export-end notifications (webhooks and
e-mail).

Work comes from the job store, not from memory: deliveries are rows made with their job
(pending), due once the job has ended and their next attempt time has come. So an export
that ends while the notifier sleeps, or a daemon killed between two attempts, loses
nothing: the next pass (or the next start) finds the row. Delivery is at least once; the
Sluice-Delivery-Id header is the same on every attempt so receivers can deduplicate.

Each attempt has a deadline of `notification_timeout_seconds` for the whole of it
(deadline.py), and up to _WORKERS attempts run at once: a pass claims only what free
workers can start now and never waits for them, so one slow receiver holds one worker for
at most its deadline while other deliveries are claimed and sent.

A failed attempt is retried after an exponential backoff with jitter (half fixed, half
random, so retries from many daemons spread out but still grow) until
`notification_retry_seconds` after the export's end; then the delivery is given up. Time
a delivery's attempts waited past their due times for a free worker (summed over its
attempts, and stored with it) is added to its window: a busy notifier does not use up a
delivery's retries.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Final

from sluice.server.errors import SluiceError, must_propagate, safe_traceback
from sluice.server.jobs.model import DeliveryState, Job, NotificationDelivery
from sluice.server.jobs.store import JobStore
from sluice.server.notifications.deadline import AttemptDeadline
from sluice.server.notifications.email import export_email, send_email
from sluice.server.notifications.payload import webhook_body
from sluice.server.notifications.targets import Email, Webhook, resolve_target, shown
from sluice.server.notifications.webhook import DeliveryFailed, post_webhook
from sluice.server.settings import Settings

_log = logging.getLogger("sluice.notifications")
#: Deliveries attempted at once (each for at most its deadline).
_WORKERS: Final = 4
#: Longest sleep between passes when nothing is known to be due sooner (a delivery made
#: due by another replica, or an export ended elsewhere, is found within this).
_POLL_SECONDS: Final = 1.0

Clock = Callable[[], datetime]


def backoff_seconds(attempts: int, settings: Settings, rng: random.Random) -> float:
    """Delay after the `attempts`-th failed attempt: base * 2^(attempts-1), capped,
    of which the upper half is random."""
    growth = float(2 ** min(attempts - 1, 30))
    ceiling = min(
        settings.notification_max_backoff_seconds,
        settings.notification_backoff_seconds * growth,
    )
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Notifier:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        # Jitter only spreads retries out; it guards no secret.
        self._rng = rng or random.Random()  # noqa: S311
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._soonest: datetime | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="notify")
        self._in_flight = 0
        # Attempts started and not yet over: a stop waits for them, as an attempt whose
        # outcome is not recorded (the store closed under it) leaves its row claimed and
        # the receiver gets it again after the restart.
        self._under_way: set[Future[None]] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notifier", daemon=True)
        self._thread.start()

    def job_ended(self, job: Job) -> None:
        """Called when an export reaches a final state: deliver without waiting to poll."""
        if job.spec.notify:
            self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop starting attempts, and wait up to `timeout` seconds in all for the
        attempts under way to end and be recorded (pending deliveries continue on next
        start; one still under way when the time is up is due again when its claim
        ends)."""
        until = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            under_way = set(self._under_way)
        if under_way:
            wait(under_way, timeout=max(0.0, until - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> int:
        """Start an attempt of every due delivery free workers can take, wait for them,
        and return how many were attempted."""
        started = self._start_due()
        wait(started)
        return len(started)

    def _start_due(self) -> list[Future[None]]:
        """Claim as many due deliveries as there are free workers and start them, without
        waiting: a slow receiver holds one worker (for at most its deadline), never a
        pass."""
        with self._lock:
            free = _WORKERS - self._in_flight
        if free <= 0:
            return []
        # Claimed for the longest an attempt can take (its deadline) plus a margin, as
        # each starts at once; by the store's clock, which replicas share, never this
        # one's.
        hold = self._settings.notification_timeout_seconds * 3 + 30
        due = self._store.claim_notifications(timedelta(seconds=hold), free)
        with self._lock:
            self._in_flight += len(due)
            started = [
                self._pool.submit(self._attempt_unless_stopping, delivery) for delivery in due
            ]
            self._under_way.update(started)
        for future in started:
            future.add_done_callback(self._over)
        return started

    def _over(self, future: Future[None]) -> None:
        with self._lock:
            self._under_way.discard(future)

    def _attempt_unless_stopping(self, delivery: NotificationDelivery) -> None:
        # Left unattempted, a claimed delivery is due again when its claim ends.
        try:
            if not self._stopping.is_set():
                self._attempt(delivery)
        except BaseException as exc:
            if must_propagate(exc):
                raise
            if not self._stopping.is_set():
                _log.error("notification attempt failed\n%s", safe_traceback(exc))
        finally:
            with self._lock:
                self._in_flight -= 1
            # A free worker: look for more due work now rather than at the next poll.
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                started = len(self._start_due())
            except SluiceError as exc:
                # A store outage (Unavailable): one line, and none for a store the stop
                # closed under this pass.
                if not self._stopping.is_set():
                    _log.warning("notification pass failed: %s", exc.message)
                started = 0
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                # A bug in one pass must not end notifications for good.
                _log.error("notification pass failed\n%s", safe_traceback(exc))
                started = 0
            with self._lock:
                busy = self._in_flight >= _WORKERS
            if started and not busy:
                continue
            self._wake.wait(self._sleep_seconds())
            self._wake.clear()

    def _sleep_seconds(self) -> float:
        with self._lock:
            soonest, self._soonest = self._soonest, None
        if soonest is None:
            return _POLL_SECONDS
        left = (soonest - self._clock()).total_seconds()
        return max(0.0, min(_POLL_SECONDS, left))

    def _attempt(self, delivery: NotificationDelivery) -> None:
        job = self._store.get(delivery.job_id)
        now = self._clock()
        target = _named(delivery)
        try:
            resolved = resolve_target(delivery.target, self._settings)
        except SluiceError as exc:
            _log.warning("export %s: notification %s given up: %s", job.id, target, exc.message)
            self._record(delivery, DeliveryState.FAILED, exc.message, now, None)
            return
        with AttemptDeadline(self._settings.notification_timeout_seconds) as deadline:
            failure = self._send(job, delivery, resolved, deadline, now)
        if deadline.expired:
            # Whatever the library made of a connection shut under it (a cut header block
            # reads as a complete one), the receiver did not answer in time.
            failure = (f"no complete answer within {deadline.seconds:g} s", "")
        if failure is not None:
            self._failed(job, delivery, failure[0], now, failure[1])
            return
        _log.info("export %s: notified %s (attempt %d)", job.id, target, delivery.attempts + 1)
        self._record(delivery, DeliveryState.DELIVERED, "", now, None)

    def _send(
        self,
        job: Job,
        delivery: NotificationDelivery,
        resolved: Webhook | Email,
        deadline: AttemptDeadline,
        now: datetime,
    ) -> tuple[str, str] | None:
        """One attempt; None when delivered, else why not: what GetExport shows, and the
        whole error for the daemon's log ("" when it says no more)."""
        try:
            if isinstance(resolved, Webhook):
                post_webhook(
                    resolved.url,
                    webhook_body(job, delivery),
                    secret=resolved.secret,
                    delivery_id=delivery.delivery_id,
                    timestamp=int(now.timestamp()),
                    deadline=deadline,
                    ca_file=self._settings.webhook_ca_file,
                )
            else:
                smtp = self._settings.smtp
                assert smtp is not None  # resolve_target checked it
                message = export_email(job, delivery, smtp.sender, resolved.recipients)
                send_email(smtp, message, deadline=deadline)
        except DeliveryFailed as exc:
            return str(exc), exc.detail
        except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, see below
            # Anything else (a secret that no longer resolves, a header the mail library
            # refuses) is a failed attempt too, so the retry window still ends it; only
            # its type is recorded, never a message that might hold a secret.
            return f"{type(exc).__name__} while delivering", ""
        return None

    def _failed(
        self,
        job: Job,
        delivery: NotificationDelivery,
        error: str,
        now: datetime,
        detail: str = "",
    ) -> None:
        """Record the attempt's `error` (what GetExport shows); the log gets `detail`,
        the whole error, when there is one."""
        attempts = delivery.attempts + 1
        # The backoff counts from the attempt's end: one that took its whole deadline
        # must not be due again at once.
        retry_at = self._clock() + timedelta(
            seconds=backoff_seconds(attempts, self._settings, self._rng)
        )
        ended = job.finished_at or now
        # The time this attempt waited past its due time (for a free worker, or a notifier
        # that was not running) is not the receiver's: it does not count, nor did the
        # earlier attempts' (stored with the delivery, as each attempt is a new claim).
        late = max(timedelta(0), now - (delivery.next_attempt_at or ended))
        late_seconds = delivery.late_seconds + late.total_seconds()
        window = timedelta(seconds=self._settings.notification_retry_seconds)
        deadline = ended + window + timedelta(seconds=late_seconds)
        target = _named(delivery)
        if retry_at > deadline:
            _log.warning(
                "export %s: notification %s given up after %d attempts: %s",
                job.id,
                target,
                attempts,
                detail or error,
            )
            self._record(delivery, DeliveryState.FAILED, error, now, None, late_seconds)
            return
        _log.info(
            "export %s: notification %s attempt %d failed (%s); retry at %s",
            job.id,
            target,
            attempts,
            detail or error,
            retry_at.isoformat(),
        )
        self._record(delivery, DeliveryState.PENDING, error, now, retry_at, late_seconds)
        with self._lock:
            if self._soonest is None or retry_at < self._soonest:
                self._soonest = retry_at

    def _record(
        self,
        delivery: NotificationDelivery,
        state: DeliveryState,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        late_seconds: float | None = None,
    ) -> None:
        self._store.record_notification_attempt(
            delivery.delivery_id,
            state=state,
            error=error,
            attempted_at=now,
            next_attempt_at=retry_at,
            late_seconds=late_seconds,
        )


def _named(delivery: NotificationDelivery) -> str:
    """A delivery as its log lines name it: the target as shown (two webhooks on one host
    look alike) and its delivery id, the Sluice-Delivery-Id header the receiver sees."""
    return f"{shown(delivery.target)} (delivery {delivery.delivery_id})"
