"""The edge between the daemon and sinks: storage errors become domain errors here,
once, with their transience kept (STYLE: translate foreign exceptions at the edge)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sluice.server.errors import (
    DataLoss,
    FailedPrecondition,
    LeaseLost,
    NotFound,
    PermissionDenied,
    SluiceError,
    Unavailable,
)
from sluice.sinks.errors import (
    CredentialsUnavailable,
    IntegrityError,
    JournalRefused,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    UploadHandedOver,
)


def translate_storage_error(exc: StorageError) -> SluiceError:
    if isinstance(exc, JournalRefused) and isinstance(exc.reason, SluiceError):
        # The job store refused (LeaseLost) or could not be asked (Unavailable): the run
        # ends with that error, as when its lease renewal fails the same way.
        return exc.reason
    message = str(exc)
    if exc.location and exc.location not in message:
        message += f" ({exc.location})"  # the URI once: most sinks' messages name it
    if exc.transient:
        return Unavailable(message)
    if isinstance(exc, CredentialsUnavailable):
        # The daemon's own storage credentials, not the caller's: UNAUTHENTICATED would
        # tell the caller to sign in again. Permanent like any configuration problem
        # (never retried): the daemon's operator fixes its storage profile.
        return FailedPrecondition(f"{message}; the daemon's storage credentials are at fault")
    if isinstance(exc, StorageAccessDenied):
        return PermissionDenied(message)
    if isinstance(exc, ObjectNotFound):
        return NotFound(message)
    if isinstance(exc, IntegrityError):
        return DataLoss(message)
    if isinstance(exc, UploadHandedOver):
        # Refused because the lease is gone: the run ends as any run that lost it.
        return LeaseLost(message)
    return FailedPrecondition(message)


@contextmanager
def storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        raise translate_storage_error(exc) from exc
