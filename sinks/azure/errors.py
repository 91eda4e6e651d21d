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
    # Refused for what the blob's uncommitted blocks are (see _CAUSES), not for a blob
    # there: no attempt succeeds until they are gone (FAILED_PRECONDITION). Put Block's
    # documentation and the error code table spell the block count's code differently.
    "InvalidBlobOrBlock": StorageError,
    "BlockCountExceedsLimit": StorageError,
    "RequestEntityTooLargeBlockCountExceedsLimit": StorageError,
    "AuthenticationFailed": StorageAccessDenied,
    "AuthorizationFailure": StorageAccessDenied,
    "AuthorizationPermissionMismatch": StorageAccessDenied,
    "InsufficientAccountPermissions": StorageAccessDenied,
    "AccountIsDisabled": StorageAccessDenied,
    "ServerBusy": StorageUnavailable,
    "OperationTimedOut": StorageUnavailable,
    "InternalError": StorageUnavailable,
}
_LEFTOVERS_STAY = (
    "until a commit of the blob (Put Block List or Put Blob) drops them, or Azure deletes "
    "them a week after the blob's last successful Put Block"
)
#: What a code means where the code alone does not say it.
_CAUSES: dict[str, str] = {
    "InvalidBlobOrBlock": "InvalidBlobOrBlock: Azure refused the block; most likely the blob "
    "holds uncommitted blocks (left by another tool or block id scheme) whose ids have "
    f"another length, which Azure refuses beside them {_LEFTOVERS_STAY}",
    **{
        code: f"{code}: the blob holds as many blocks as Azure allows (100,000 uncommitted, "
        "or 50,000 committed); uncommitted ones, which aborted uploads leave, stay "
        f"{_LEFTOVERS_STAY}"
        for code in ("BlockCountExceedsLimit", "RequestEntityTooLargeBlockCountExceedsLimit")
    },
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
    cause = _CAUSES.get(code) or code or type(exc).__name__
    return kind(f"cannot {action} {location!r}: {cause}", location=location)
