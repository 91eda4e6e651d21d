"""The notifier: one daemon thread delivering export-end notifications (webhooks and
e-mail).

Work comes from the job store, not from memory: deliveries are rows made with their job
(pending), due once the job has ended and their next attempt time has come. So an export
that ends while the notifier sleeps, or a daemon killed between two attempts, loses
nothing: the next pass (or the next start) finds the row. Delivery is at least once; the
Sluice-Delivery-Id header is the same on every attempt so receivers can deduplicate.

A failed attempt is retried after an exponential backoff with jitter (half fixed, half
random, so retries from many daemons spread out but still grow) until
`notification_retry_seconds` after the export's end; then the delivery is given up.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Final

from sluice.server.errors import SluiceError, must_propagate, safe_traceback
from sluice.server.jobs.model import DeliveryState, Job, NotificationDelivery
from sluice.server.jobs.store import JobStore
from sluice.server.notifications.email import export_email, send_email
from sluice.server.notifications.payload import webhook_body
from sluice.server.notifications.targets import Webhook, resolve_target, shown
from sluice.server.notifications.webhook import DeliveryFailed, post_webhook
from sluice.server.settings import Settings

_log = logging.getLogger("sluice.notifications")
#: Deliveries taken from the store per pass, and attempted at once.
_BATCH: Final = 20
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

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notifier", daemon=True)
        self._thread.start()

    def job_ended(self, job: Job) -> None:
        """Called when an export reaches a final state: deliver without waiting to poll."""
        if job.spec.notify:
            self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the attempt in flight (pending deliveries continue on next start)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """Attempt every delivery due now; return how many were attempted."""
        # Claimed for the longest a batch of attempts can take (a webhook's timeout
        # applies to connect and to each read), plus a margin; by the store's clock,
        # which replicas share, never this one's.
        hold = _BATCH * self._settings.notification_timeout_seconds * 3 + 30
        due = self._store.claim_notifications(timedelta(seconds=hold), _BATCH)
        if not due:
            return 0
        # A few at once, so one slow receiver (up to its timeout) does not hold up the
        # others; claimed rows are this daemon's alone, so they never overlap.
        with ThreadPoolExecutor(min(_WORKERS, len(due)), thread_name_prefix="notify") as pool:
            for _ in pool.map(self._attempt_unless_stopping, due):
                pass
        return len(due)

    def _attempt_unless_stopping(self, delivery: NotificationDelivery) -> None:
        # Left unattempted, a claimed delivery is due again when its claim ends.
        if not self._stopping.is_set():
            self._attempt(delivery)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                attempted = self.run_once()
            except SluiceError as exc:
                # A store outage (Unavailable): one line, and none for a store the stop
                # closed under this pass.
                if not self._stopping.is_set():
                    _log.warning("notification pass failed: %s", exc.message)
                attempted = 0
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                # A bug in one pass must not end notifications for good.
                _log.error("notification pass failed\n%s", safe_traceback(exc))
                attempted = 0
            if attempted >= _BATCH:
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
        timeout = self._settings.notification_timeout_seconds
        try:
            if isinstance(resolved, Webhook):
                post_webhook(
                    resolved.url,
                    webhook_body(job, delivery),
                    secret=resolved.secret,
                    delivery_id=delivery.delivery_id,
                    timestamp=int(now.timestamp()),
                    timeout=timeout,
                    ca_file=self._settings.webhook_ca_file,
                )
            else:
                smtp = self._settings.smtp
                assert smtp is not None  # resolve_target checked it
                message = export_email(job, delivery, smtp.sender, resolved.recipients)
                send_email(smtp, message, timeout=timeout)
        except DeliveryFailed as exc:
            self._failed(job, delivery, str(exc), now, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, see below
            # Anything else (a secret that no longer resolves, a header the mail library
            # refuses) is a failed attempt too, so the retry window still ends it; only
            # its type is recorded, never a message that might hold a secret.
            self._failed(job, delivery, f"{type(exc).__name__} while delivering", now)
            return
        _log.info("export %s: notified %s (attempt %d)", job.id, target, delivery.attempts + 1)
        self._record(delivery, DeliveryState.DELIVERED, "", now, None)

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
        retry_at = now + timedelta(seconds=backoff_seconds(attempts, self._settings, self._rng))
        ended = job.finished_at or now
        deadline = ended + timedelta(seconds=self._settings.notification_retry_seconds)
        target = _named(delivery)
        if retry_at > deadline:
            _log.warning(
                "export %s: notification %s given up after %d attempts: %s",
                job.id,
                target,
                attempts,
                detail or error,
            )
            self._record(delivery, DeliveryState.FAILED, error, now, None)
            return
        _log.info(
            "export %s: notification %s attempt %d failed (%s); retry at %s",
            job.id,
            target,
            attempts,
            detail or error,
            retry_at.isoformat(),
        )
        self._record(delivery, DeliveryState.PENDING, error, now, retry_at)
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
    ) -> None:
        self._store.record_notification_attempt(
            delivery.delivery_id,
            state=state,
            error=error,
            attempted_at=now,
            next_attempt_at=retry_at,
        )


def _named(delivery: NotificationDelivery) -> str:
    """A delivery as its log lines name it: the target as shown (two webhooks on one host
    look alike) and its delivery id, the Sluice-Delivery-Id header the receiver sees."""
    return f"{shown(delivery.target)} (delivery {delivery.delivery_id})"
