"""azure-core exceptions become storage errors here, once, by one table. Messages name
the container and the cause, never credentials."""

from __future__ import annotations

from azure.core import exceptions as azure_errors

from sluice.sinks.errors import (
    ContainerNotFound,
    CredentialsUnavailable,
    ObjectExists,
    ObjectImmutable,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

#: Azure error codes by the storage error they mean; otherwise the HTTP status decides.
_CODES: dict[str, type[StorageError]] = {
    "ContainerNotFound": ContainerNotFound,
    "ContainerBeingDeleted": ContainerNotFound,
    "BlobNotFound": ObjectNotFound,
    "BlobAlreadyExists": ObjectExists,
    "ConditionNotMet": ObjectExists,
    # A write refused because the blob is immutable (a time-based retention policy or a
    # legal hold on its container or version): a 409 that says nothing about the blob's
    # version, and that no attempt overcomes until the policy allows it.
    "BlobImmutableDueToPolicy": ObjectImmutable,
    "BlobImmutableDueToLegalHold": ObjectImmutable,
    "AuthenticationFailed": StorageAccessDenied,
    "AuthorizationFailure": StorageAccessDenied,
    "AuthorizationPermissionMismatch": StorageAccessDenied,
    "InsufficientAccountPermissions": StorageAccessDenied,
    "AccountIsDisabled": StorageAccessDenied,
    "ServerBusy": StorageUnavailable,
    "OperationTimedOut": StorageUnavailable,
    "InternalError": StorageUnavailable,
}
#: The codes of a write refused because the blob is immutable.
IMMUTABLE_CODES = frozenset(code for code, kind in _CODES.items() if kind is ObjectImmutable)
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_BY_STATUS: dict[int, type[StorageError]] = {
    401: StorageAccessDenied,
    403: StorageAccessDenied,
    404: ObjectNotFound,
    409: ObjectExists,
    412: ObjectExists,
}


def _code(exc: azure_errors.HttpResponseError) -> str:
    raw_code = getattr(exc, "error_code", None) or ""
    return str(getattr(raw_code, "value", raw_code))  # sometimes a StorageErrorCode enum


def translate_azure_error(
    exc: BaseException, action: str, location: str, container: str
) -> StorageError:
    """The storage error for a failed Azure request (callers `raise ... from exc`)."""
    if isinstance(exc, azure_errors.ServiceRequestError | azure_errors.ServiceResponseError):
        return StorageUnavailable(
            f"cannot {action} {location!r}: {type(exc).__name__}", location=location
        )
    if isinstance(exc, azure_errors.ClientAuthenticationError) and exc.status_code is None:
        # Raised by the credential before any request reached the store (azure-identity
        # messages name the credential and the cause, never a secret).
        cause = (str(exc.message or "").strip().splitlines() or [type(exc).__name__])[0]
        return CredentialsUnavailable(
            f"cannot {action} {location!r}: the storage profile's Azure credential is "
            f"unavailable: {cause[:300]}",
            location=location,
        )
    if isinstance(exc, azure_errors.HttpResponseError):
        code = _code(exc)
        status = int(exc.status_code or 0)
        found = _CODES.get(code) or _BY_STATUS.get(status)
        if found is None:
            found = StorageUnavailable if status in _TRANSIENT_STATUS else StorageError
        kind = found
    elif isinstance(exc, ConnectionError | TimeoutError):
        return StorageUnavailable(
            f"cannot {action} {location!r}: {type(exc).__name__}", location=location
        )
    else:
        return StorageError(
            f"cannot {action} {location!r}: {type(exc).__name__}", location=location
        )
    if kind is ContainerNotFound:
        return ContainerNotFound(
            f"cannot {action} {location!r}: container {container!r} does not exist",
            location=location,
        )
    if kind is StorageAccessDenied:
        return StorageAccessDenied(
            f"cannot {action} {location!r}: access to container {container!r} denied ({code}); "
            "check the storage profile's credentials and permissions",
            location=location,
        )
    return kind(f"cannot {action} {location!r}: {code or type(exc).__name__}", location=location)
