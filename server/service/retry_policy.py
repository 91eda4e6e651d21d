"""When a transiently failed export runs again: how many failed attempts in a row it may
have (`max_attempts`) and how long it waits before the next one (`retry_backoff_seconds`,
doubled per failure, with jitter). Which failures are transient is decided elsewhere, in
one place (server/errors.is_transient); this module only counts and waits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from sluice.server.jobs.model import AttemptOutcome, ExportAttempt

#: Longest wait before any one retry, whatever the base and the failure count.
MAX_BACKOFF_SECONDS = 3600.0
#: Outcomes that neither break nor extend a run of failures: the attempt stopped for a
#: reason of its replica (shutdown, death, a lost lease), not of the export.
_NEUTRAL = frozenset(
    {
        AttemptOutcome.RUNNING,
        AttemptOutcome.HANDED_BACK,
        AttemptOutcome.STOPPED,
        AttemptOutcome.LEASE_LOST,
    }
)

_default_rng = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class ExportRetryPolicy:
    #: Failed attempts in a row before the export fails for good (1: never retry).
    max_attempts: int
    #: Seconds before the first retry; each further one waits twice as long.
    backoff_seconds: float

    def failures_in_a_row(self, earlier: Sequence[ExportAttempt]) -> int:
        """How many attempts have failed in a row when the latest one fails now: one,
        plus the RETRIED attempts right before it. A final outcome (a resume after a
        failure or a cancel) starts the count afresh."""
        failures = 1
        for attempt in reversed(earlier):
            if attempt.outcome in _NEUTRAL:
                continue
            if attempt.outcome != AttemptOutcome.RETRIED:
                break
            failures += 1
        return failures

    def retries_left(self, failures: int) -> bool:
        return failures < self.max_attempts

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th failure in a row: the exponential cap
        times a uniform factor in [0.5, 1]. Half of it is a floor, so an outage is not
        hit again at once; the other half is jitter, so replicas that failed together
        (one storage outage) do not retry in step."""
        cap = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2.0 ** min(failures - 1, 30))
        return cap * (rng or _default_rng).uniform(0.5, 1.0)
