"""Which failures are transient (server/errors.is_transient, the one place that decides)
and how the retry policy counts failed attempts and spaces them."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime

import pytest

from sluice.server.errors import (
    Abandoned,
    DataLoss,
    ErrorCode,
    FailedPrecondition,
    Interrupted,
    InvalidArgument,
    LeaseLost,
    NotFound,
    PermissionDenied,
    ServerBusy,
    SluiceError,
    Unauthenticated,
    Unavailable,
    as_domain_error,
    is_transient,
)
from sluice.server.jobs.model import AttemptOutcome, ExportAttempt
from sluice.server.service.retry_policy import MAX_BACKOFF_SECONDS, ExportRetryPolicy
from sluice.server.storage_errors import translate_storage_error
from sluice.sinks.errors import (
    ContainerNotFound,
    CredentialsUnavailable,
    IntegrityError,
    ObjectNotFound,
    StorageAccessDenied,
    StorageUnavailable,
)

TRANSIENT: list[BaseException] = [
    Unavailable("storage answered 503"),
    ServerBusy("too many exports"),
    translate_storage_error(StorageUnavailable("503 after 5 calls", location="s3://b/k")),
    ConnectionResetError(104, "Connection reset by peer"),
    ConnectionRefusedError(111, "refused"),
    TimeoutError("timed out"),
]
PERMANENT: list[BaseException] = [
    InvalidArgument("spec.source.uri", "no such file"),
    PermissionDenied("not allowed"),
    Unauthenticated("no token"),
    NotFound("gone"),
    DataLoss("sha256 mismatch"),
    FailedPrecondition("bucket missing"),
    SluiceError("internal error"),
    translate_storage_error(StorageAccessDenied("403")),
    translate_storage_error(CredentialsUnavailable("no identity")),
    translate_storage_error(ObjectNotFound("404")),
    translate_storage_error(IntegrityError("digest")),
    translate_storage_error(ContainerNotFound("no bucket")),
    ValueError("invalid literal for int(): '4111 1111 1111 1111'"),
    KeyError("card"),
    sqlite3.IntegrityError("UNIQUE constraint failed"),
]
#: Stops on purpose: not failures, so never retried.
STOPS: list[BaseException] = [Interrupted("cancelled"), Abandoned("gone"), LeaseLost("lost")]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures(error: BaseException) -> None:
    assert is_transient(error)
    domain = as_domain_error(error)
    assert domain.transient
    assert domain.code in (ErrorCode.UNAVAILABLE, ErrorCode.RESOURCE_EXHAUSTED)


@pytest.mark.parametrize("error", PERMANENT + STOPS, ids=lambda e: type(e).__name__)
def test_permanent_failures_and_stops(error: BaseException) -> None:
    assert not is_transient(error)
    assert not as_domain_error(error).transient


def test_a_foreign_failure_never_shows_its_message() -> None:
    # An unexpected exception's text may quote the data it failed on.
    for error in (
        ValueError("invalid literal for int(): '4111 1111 1111 1111'"),
        ConnectionResetError(104, "reset while sending 4111 1111 1111 1111"),
    ):
        message = as_domain_error(error).message
        assert "4111" not in message and type(error).__name__ in message


def attempt(number: int, outcome: AttemptOutcome) -> ExportAttempt:
    return ExportAttempt(number, "replica-a", datetime.now(UTC), outcome=outcome)


def test_failures_are_counted_in_a_row_since_the_last_final_outcome() -> None:
    policy = ExportRetryPolicy(max_attempts=3, backoff_seconds=5)
    R, F, H, S, L = (
        AttemptOutcome.RETRIED,
        AttemptOutcome.FAILED,
        AttemptOutcome.HANDED_BACK,
        AttemptOutcome.STOPPED,
        AttemptOutcome.LEASE_LOST,
    )
    running = attempt(9, AttemptOutcome.RUNNING)

    def count(*outcomes: AttemptOutcome) -> int:
        earlier = [attempt(n, o) for n, o in enumerate(outcomes, 1)]
        return policy.failures_in_a_row([*earlier, running])

    assert count() == 1
    assert count(R) == 2
    assert count(R, H, S, L, R) == 3  # a shutdown or a dead replica is not the export's fault
    # A resume after the export failed (or was cancelled) starts afresh.
    assert count(R, R, F) == 1
    assert count(R, AttemptOutcome.CANCELLED, R) == 2
    assert [policy.retries_left(n) for n in (1, 2, 3)] == [True, True, False]
    assert not ExportRetryPolicy(max_attempts=1, backoff_seconds=5).retries_left(1)


def test_backoff_doubles_with_jitter_between_half_and_all_of_it() -> None:
    policy = ExportRetryPolicy(max_attempts=10, backoff_seconds=5)
    rng = random.Random(3)
    for failures, cap in ((1, 5.0), (2, 10.0), (3, 20.0), (40, MAX_BACKOFF_SECONDS)):
        delays = [policy.delay(failures, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 4  # jittered, not one fixed value


def test_retry_settings_defaults_environment_and_bounds() -> None:
    from sluice.server.settings import SettingsError, load_settings

    defaults = load_settings(None, None, environ={})
    assert (defaults.max_attempts, defaults.retry_backoff_seconds) == (3, 5.0)
    given = load_settings(
        None,
        None,
        environ={"SLUICE_MAX_ATTEMPTS": "1", "SLUICE_RETRY_BACKOFF_SECONDS": "0.5"},
    )
    assert (given.max_attempts, given.retry_backoff_seconds) == (1, 0.5)
    with pytest.raises(SettingsError, match="max_attempts"):
        load_settings(None, None, environ={"SLUICE_MAX_ATTEMPTS": "0"})
    overridden = load_settings(None, {"max_attempts": 7, "retry_backoff_seconds": 2.0}, environ={})
    assert (overridden.max_attempts, overridden.retry_backoff_seconds) == (7, 2.0)


def test_serve_has_the_retry_flags() -> None:
    from click.testing import CliRunner

    from sluice.client.cli.main import cli

    shown = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--max-attempts" in shown and "SLUICE_MAX_ATTEMPTS" in shown
    assert "--retry-backoff-seconds" in shown and "SLUICE_RETRY_BACKOFF_SECONDS" in shown


def test_the_daemons_missing_storage_credentials_are_its_failed_precondition() -> None:
    """Not UNAUTHENTICATED (that blames the caller's credentials) and not retried; the
    URI the sink's message names is not repeated."""
    uri = "s3://bucket/exports/events/e1/part-000000.jsonl.zst"
    error = translate_storage_error(
        CredentialsUnavailable(f"cannot write {uri!r}: no S3 credentials", location=uri)
    )
    assert error.code == ErrorCode.FAILED_PRECONDITION
    assert not is_transient(error)
    assert error.message.count(uri) == 1, error.message
