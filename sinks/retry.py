"""Retries with exponential backoff and full jitter, in one place for every sink.

Backends only say whether an error is transient (`StorageError.transient`); this module
alone decides how often and how long to wait. Full jitter (a uniform delay between zero
and the exponential cap) keeps many replicas that failed together from retrying in step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from sluice.sinks.base import Capabilities, ObjectInfo, Sink, SinkWriter, UploadJournal
from sluice.sinks.errors import StorageError
from sluice.sinks.observer import NO_STORAGE_OBSERVER, StorageObserver
from sluice.sinks.resumable import ResumableWriter

log = logging.getLogger("sluice.sinks")

T = TypeVar("T")

# Beyond this the cap is max_delay anyway; the bound keeps 2**attempt a small float.
_MAX_EXPONENT = 62

_default_rng = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class RetryPolicy:
    """How a storage call is retried when it fails with a transient error."""

    #: Calls in total, the first one included; 1 disables retrying.
    max_attempts: int = 5
    #: Seconds; the wait before retry n (n = 1, 2, ...) is drawn uniformly from
    #: [0, min(max_delay, base_delay * 2**(n-1))].
    base_delay: float = 0.2
    #: Seconds; upper bound of any single wait.
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")

    def delay_cap(self, retry: int) -> float:
        """The largest wait before retry number `retry` (0 for the first retry)."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(retry, _MAX_EXPONENT))


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], object] = time.sleep,
    rng: random.Random | None = None,
    describe: str = "",
) -> T:
    """Call fn, retrying transient StorageErrors per policy; re-raise the last error.

    Permanent errors (and anything that is not a StorageError) propagate at once.
    `describe` names the operation in log lines; it must not contain secrets.
    """
    jitter = rng if rng is not None else _default_rng
    what = describe or getattr(fn, "__name__", "storage call")
    attempt = 1
    while True:
        try:
            return fn()
        except StorageError as exc:
            if not exc.transient or attempt >= policy.max_attempts:
                raise
            delay = jitter.uniform(0.0, policy.delay_cap(attempt - 1))
            # Sinks build messages from credential-free URIs, so the message is safe to log.
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.2fs",
                what,
                attempt,
                policy.max_attempts,
                exc,
                delay,
            )
            sleep(delay)
            attempt += 1


def _admit_every_attempt() -> None:
    """Calls other than a resumable writer's requests have nothing that refuses them."""


class RetryingSink:
    """A Sink whose calls are retried per `policy`; everything else is `inner`'s. Each
    attempt and each retry is reported to `observer` under the store kind `store` (a
    request refused unsent, its upload handed over, is neither).
    Backoffs are waited out by `sleep` when given (tests), else on the clock: a resumable
    upload's then in its journal, which ends the wait once the upload is handed over."""

    def __init__(
        self,
        inner: Sink,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        observer: StorageObserver = NO_STORAGE_OBSERVER,
        store: str = "local",
    ) -> None:
        self._inner = inner
        self._policy = policy if policy is not None else RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._observer = observer
        self._store = store

    @property
    def uri(self) -> str:
        return self._inner.uri

    @property
    def capabilities(self) -> Capabilities:
        return self._inner.capabilities

    def _call(
        self,
        fn: Callable[[], T],
        describe: str,
        backoff: Callable[[float], object] = time.sleep,
        admit: Callable[[], None] = _admit_every_attempt,
    ) -> T:
        # The operation is the first word of `describe` (create, open, list, ...; a
        # resumable writer's requests name theirs the same way).
        operation = describe.split(" ", 1)[0] or "call"
        attempts_made = 0

        def attempt() -> T:
            nonlocal attempts_made
            # Raises when the attempt is refused before anything is sent (a retry whose
            # upload was handed over during its backoff): no request, and no retry, in
            # the storage metrics.
            admit()
            if attempts_made:
                # Told after the backoff, once admitted, just before the request is
                # resent: a retry refused then was never made (sluice_storage_retries).
                self._observer.retry(self._store)
            attempts_made += 1
            try:
                result = fn()
            except BaseException:
                self._observer.request(self._store, operation, "error")
                raise
            self._observer.request(self._store, operation, "ok")
            return result

        return retry_call(
            attempt,
            self._policy,
            sleep=self._sleep if self._sleep is not None else backoff,
            rng=self._rng,
            describe=describe,
        )

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> SinkWriter:
        # Bytes streamed into a plain writer cannot be replayed from here, so its failed
        # write or commit surfaces to the caller. A resumable writer makes each request
        # (one part, immutable bytes) idempotent, so those requests are retried here.
        if journal is None and not replace_stale:
            writer = self._call(
                lambda: self._inner.create(key, overwrite=overwrite), f"create {key!r}"
            )
        else:
            writer = self._call(
                lambda: self._inner.create(
                    key, overwrite=overwrite, journal=journal, replace_stale=replace_stale
                ),
                f"create {key!r}",
            )
        if isinstance(writer, ResumableWriter):
            # A part waiting to retry when its upload is handed over would hold the
            # writer's suspend until its backoff ended (up to max_delay), only to be
            # refused then: the journal ends the wait as the hand-over comes.
            backoff = journal.wait_handed_over if journal is not None else time.sleep

            def run(
                request: Callable[[], object], describe: str, admit: Callable[[], None]
            ) -> object:
                return self._call(request, describe, backoff=backoff, admit=admit)

            writer.run_requests_with(run)
        return writer

    def open(self, key: str) -> BinaryIO:
        return self._call(lambda: self._inner.open(key), f"open {key!r}")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Materialised inside the retry: a listing that fails halfway restarts whole
        # instead of yielding some objects twice.
        listing = self._call(lambda: [*self._inner.list(prefix)], f"list {prefix!r}")
        yield from listing

    def remove(self, key: str) -> None:
        self._call(lambda: self._inner.remove(key), f"remove {key!r}")

    def abort_upload(self, key: str, state: str) -> None:
        self._call(lambda: self._inner.abort_upload(key, state), f"abort upload of {key!r}")

    def abort_stray_uploads(self, prefix: str) -> int:
        return self._call(
            lambda: self._inner.abort_stray_uploads(prefix),
            f"abort stray uploads under {prefix!r}",
        )

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        # Materialised inside the retry, like list().
        found = self._call(
            lambda: [*self._inner.temporaries(prefix)], f"list temporaries under {prefix!r}"
        )
        yield from found

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        # Safe to repeat: a temporary removed by a failed attempt is simply not found again.
        return self._call(
            lambda: self._inner.remove_stale_temporaries(prefix),
            f"remove stale temporaries under {prefix!r}",
        )
