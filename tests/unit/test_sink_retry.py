"""Retries: only transient errors, full-jitter backoff, and the RetryingSink wrapper."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import BinaryIO

import pytest
from prometheus_client import CollectorRegistry

from sluice.server.metrics.export_metrics import ExportMetrics
from sluice.sinks import (
    Capabilities,
    MemorySink,
    ObjectInfo,
    ObjectNotFound,
    RetryingSink,
    RetryPolicy,
    SinkWriter,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
    UploadHandedOver,
    retry_call,
)
from tests.unit.recording_upload import PART, RecordingSink
from tests.unit.upload_journal import MemoryJournal


class FlakySink:
    """A real Sink over MemorySink whose first `failures` calls fail as a throttled
    store would; it counts every call so tests see how often the wrapper tried.
    `broken_listings` listings fail after yielding their first object."""

    def __init__(self, failures: int, error: StorageError | None = None) -> None:
        self.inner = MemorySink("flaky")
        self.failures = failures
        self.broken_listings = 0
        self.error = error or StorageUnavailable("503 Slow Down", location="memory://flaky")
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error

    @property
    def uri(self) -> str:
        return self.inner.uri

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def create(self, key: str, *, overwrite: bool = True) -> SinkWriter:
        self._maybe_fail()
        return self.inner.create(key, overwrite=overwrite)

    def open(self, key: str) -> BinaryIO:
        self._maybe_fail()
        return self.inner.open(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._maybe_fail()
        for index, info in enumerate(self.inner.list(prefix)):
            if index == 1 and self.broken_listings:
                self.broken_listings -= 1
                raise self.error
            yield info

    def remove(self, key: str) -> None:
        self._maybe_fail()
        self.inner.remove(key)

    def abort_upload(self, key: str, state: str) -> None:
        self._maybe_fail()
        self.inner.abort_upload(key, state)

    def abort_stray_uploads(self, prefix: str) -> int:
        self._maybe_fail()
        return self.inner.abort_stray_uploads(prefix)

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        self._maybe_fail()
        return self.inner.temporaries(prefix)

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        self._maybe_fail()
        return self.inner.remove_stale_temporaries(prefix)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def retrying(flaky: FlakySink, policy: RetryPolicy, sleeps: Sleeps) -> RetryingSink:
    return RetryingSink(flaky, policy, sleep=sleeps, rng=random.Random(7))


def seed(flaky: FlakySink, key: str, data: bytes) -> None:
    writer = flaky.inner.create(key)
    writer.write(data)
    writer.commit()


def test_transient_failures_are_retried_until_success(caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakySink(failures=3)
    seed(flaky, "k", b"v")
    sleeps = Sleeps()
    sink = retrying(flaky, RetryPolicy(), sleeps)
    with caplog.at_level(logging.WARNING, logger="sluice.sinks"), sink.open("k") as f:
        assert f.read() == b"v"
    assert flaky.calls == 4
    assert len(sleeps.delays) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "attempt 1 of 5" in messages[0]
    assert "attempt 3 of 5" in messages[2]
    assert all("503 Slow Down" in m and "open 'k'" in m for m in messages)


def test_every_sink_call_is_retried() -> None:
    flaky = FlakySink(failures=0)
    seed(flaky, "a", b"1")
    seed(flaky, "b", b"2")
    sink = retrying(flaky, RetryPolicy(), Sleeps())
    flaky.failures, flaky.calls = 1, 0
    sink.remove("a")
    flaky.failures, flaky.calls = 1, 0
    writer = sink.create("c")
    writer.write(b"3")
    writer.commit()
    flaky.failures, flaky.calls = 1, 0
    assert [info.key for info in sink.list()] == ["b", "c"]
    # The clean-up duties too: a sweep that hit a throttled store is tried again.
    flaky.failures, flaky.calls = 1, 0
    sink.abort_upload("c", "{}")
    assert flaky.calls == 2
    flaky.failures, flaky.calls = 1, 0
    assert sink.abort_stray_uploads("") == 0
    assert flaky.calls == 2
    flaky.failures, flaky.calls = 1, 0
    assert list(sink.temporaries()) == []
    assert flaky.calls == 2
    flaky.failures, flaky.calls = 1, 0
    assert sink.remove_stale_temporaries() == 0
    assert flaky.calls == 2
    assert sink.uri == "memory://flaky"
    assert sink.capabilities == flaky.capabilities


def test_a_listing_that_fails_halfway_restarts_whole() -> None:
    flaky = FlakySink(failures=0)
    for key in ("a", "b", "c"):
        seed(flaky, key, b"x")
    flaky.broken_listings = 2
    sleeps = Sleeps()
    listed = list(retrying(flaky, RetryPolicy(), sleeps).list())
    # Each broken attempt yielded "a" before failing; none of that reaches the caller.
    assert [info.key for info in listed] == ["a", "b", "c"]
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize(
    "error",
    [
        ObjectNotFound("gone"),
        StorageAccessDenied("403"),
        StorageError("disk full"),
    ],
)
def test_permanent_errors_are_not_retried(error: StorageError) -> None:
    flaky = FlakySink(failures=10, error=error)
    sleeps = Sleeps()
    with pytest.raises(type(error)) as caught:
        retrying(flaky, RetryPolicy(), sleeps).remove("k")
    assert caught.value is error
    assert flaky.calls == 1
    assert sleeps.delays == []


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    errors = [StorageUnavailable(f"timeout {n}") for n in range(1, 5)]
    calls: list[int] = []

    def always_fails() -> None:
        calls.append(1)
        raise errors[len(calls) - 1]

    sleeps = Sleeps()
    with pytest.raises(StorageUnavailable) as caught:
        retry_call(always_fails, RetryPolicy(max_attempts=4), sleep=sleeps)
    assert caught.value is errors[-1]
    assert len(calls) == 4
    assert len(sleeps.delays) == 3


def test_other_exceptions_pass_through() -> None:
    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry_call(broken, RetryPolicy(), sleep=Sleeps())


def test_delays_stay_within_full_jitter_bounds() -> None:
    policy = RetryPolicy(max_attempts=12, base_delay=0.5, max_delay=8.0)
    sleeps = Sleeps()

    def unavailable() -> None:
        raise StorageUnavailable("throttled")

    with pytest.raises(StorageUnavailable):
        retry_call(unavailable, policy, sleep=sleeps, rng=random.Random(1234))
    assert len(sleeps.delays) == 11
    caps = [min(8.0, 0.5 * 2**n) for n in range(11)]
    assert caps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    for delay, cap in zip(sleeps.delays, caps, strict=True):
        assert 0.0 <= delay <= cap
    # Jittered, not fixed: the seeded draws use the room the caps give them.
    assert len(set(sleeps.delays)) == len(sleeps.delays)
    assert max(sleeps.delays[4:]) > 4.0


def test_same_seed_same_delays() -> None:
    def unavailable() -> None:
        raise StorageUnavailable("x")

    def run() -> list[float]:
        sleeps = Sleeps()
        with pytest.raises(StorageUnavailable):
            retry_call(
                unavailable, RetryPolicy(max_attempts=4), sleep=sleeps, rng=random.Random(99)
            )
        return sleeps.delays

    assert run() == run()


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=5000, base_delay=0.1, max_delay=2.0)
    assert policy.delay_cap(0) == 0.1
    assert policy.delay_cap(4000) == 2.0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay=-1.0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(max_delay=-0.5)


class RecordingObserver:
    """A StorageObserver that keeps what it is told."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.retries: list[str] = []

    def request(self, store: str, operation: str, outcome: str) -> None:
        self.requests.append((store, operation, outcome))

    def retry(self, store: str) -> None:
        self.retries.append(store)


def test_every_attempt_and_retry_is_reported_to_the_observer() -> None:
    flaky = FlakySink(failures=2)
    seed(flaky, "k", b"v")
    observer = RecordingObserver()
    sink = RetryingSink(
        flaky, RetryPolicy(), sleep=Sleeps(), rng=random.Random(1), observer=observer, store="s3"
    )
    with sink.open("k") as f:
        assert f.read() == b"v"
    sink.remove("k")
    assert observer.requests == [
        ("s3", "open", "error"),
        ("s3", "open", "error"),
        ("s3", "open", "ok"),
        ("s3", "remove", "ok"),
    ]
    assert observer.retries == ["s3", "s3"]


def test_a_retry_refused_for_a_hand_over_is_reported_as_no_request() -> None:
    """Part 2 failed and waits out its backoff as the run loses its lease: its retry is
    refused before anything is sent, so it is no request, no error and no retry in the
    storage metrics; the failed attempt is all that is reported."""
    journal = MemoryJournal()
    observer = RecordingObserver()
    inner = RecordingSink(fail_once=frozenset({2}))
    sink = RetryingSink(
        inner,
        RetryPolicy(),
        sleep=lambda _: journal.lose_lease(),
        rng=random.Random(1),
        observer=observer,
        store="s3",
    )
    writer = sink.create("k", overwrite=False, journal=journal)
    with pytest.raises(UploadHandedOver):
        writer.write(b"x" * (2 * PART))

    assert inner.writer is not None
    assert inner.writer.calls == ["exists", "start", "part1", "part2"]
    assert observer.requests == [
        ("s3", "create", "ok"),
        ("s3", "look", "ok"),
        ("s3", "start", "ok"),
        ("s3", "upload", "ok"),
        ("s3", "upload", "error"),
    ]
    assert observer.retries == []


class _HandedOverDuringBackoff(MemoryJournal):
    """A journal whose lease is handed over while a retry waits out its backoff (the
    wait RetryingSink takes in the journal, as the daemon's)."""

    def wait_handed_over(self, timeout: float) -> bool:
        self.lose_lease()
        return super().wait_handed_over(timeout)


def test_a_retry_refused_for_a_hand_over_is_no_retry_in_the_metrics() -> None:
    """sluice_storage_retries_total counts the retries made: a part's retry refused
    because the lease was handed over during its backoff was never sent, so it is none.
    A retry that was sent, first, shows the counter is the one the observer feeds."""
    registry = CollectorRegistry()
    metrics = ExportMetrics(registry, dataset_label=False)
    sink = RetryingSink(
        RecordingSink(fail_once=frozenset({2})),
        RetryPolicy(base_delay=0.001, max_delay=0.001),
        observer=metrics.storage,
        store="s3",
    )

    def retries() -> float | None:
        return registry.get_sample_value("sluice_storage_retries_total", {"store": "s3"})

    sent = sink.create("sent", overwrite=False, journal=MemoryJournal())
    sent.write(b"x" * (2 * PART))
    sent.commit()
    assert retries() == 1

    refused = sink.create("refused", overwrite=False, journal=_HandedOverDuringBackoff())
    with pytest.raises(UploadHandedOver):
        refused.write(b"x" * (2 * PART))
    assert retries() == 1
    failed_parts = registry.get_sample_value(
        "sluice_storage_requests_total", {"store": "s3", "operation": "upload", "outcome": "error"}
    )
    assert failed_parts == 2  # one failed attempt per writer, and nothing more
