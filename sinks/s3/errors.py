"""botocore exceptions become storage errors here, once, by one table (STYLE: translate
foreign exceptions at the edge). Messages name the bucket and the cause, never secrets."""

from __future__ import annotations

from typing import Any

from botocore import exceptions as boto_errors  # type: ignore[import-untyped]

from sluice.sinks.errors import (
    ContainerNotFound,
    CredentialsUnavailable,
    ObjectExists,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

#: S3 error codes by the storage error they mean. Anything else is permanent, except
#: 5xx and throttling statuses (see `_TRANSIENT_STATUS`).
_CODES: dict[str, type[StorageError]] = {
    "NoSuchBucket": ContainerNotFound,
    "NoSuchKey": ObjectNotFound,
    "NoSuchUpload": ObjectNotFound,
    "NotFound": ObjectNotFound,
    "404": ObjectNotFound,
    "PreconditionFailed": ObjectExists,
    "412": ObjectExists,
    "ConditionalRequestConflict": StorageUnavailable,
    "AccessDenied": StorageAccessDenied,
    "403": StorageAccessDenied,
    "InvalidAccessKeyId": StorageAccessDenied,
    "SignatureDoesNotMatch": StorageAccessDenied,
    "ExpiredToken": StorageAccessDenied,
    "InvalidToken": StorageAccessDenied,
    "AccountProblem": StorageAccessDenied,
    "SlowDown": StorageUnavailable,
    "Throttling": StorageUnavailable,
    "ThrottlingException": StorageUnavailable,
    "RequestTimeout": StorageUnavailable,
    "RequestTimeTooSkewed": StorageUnavailable,
    "InternalError": StorageUnavailable,
    "ServiceUnavailable": StorageUnavailable,
}
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
#: Network-level failures: the request may not have reached the store, or its answer was lost.
_NETWORK = (
    boto_errors.EndpointConnectionError,
    boto_errors.ConnectionClosedError,
    boto_errors.ReadTimeoutError,
    boto_errors.ConnectTimeoutError,
    boto_errors.ProxyConnectionError,
    boto_errors.ResponseStreamingError,
    boto_errors.IncompleteReadError,
    ConnectionError,
    TimeoutError,
)


def translate_s3_error(exc: BaseException, action: str, location: str, bucket: str) -> StorageError:
    """The storage error for a failed S3 request (callers `raise ... from exc`)."""
    if isinstance(exc, boto_errors.ClientError):
        if str(exc.operation_name).startswith("AssumeRole"):
            return _role_refused(exc.response, action, location)
        return _from_response(exc.response, action, location, bucket)
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return CredentialsUnavailable(
            f"cannot {action} {location!r}: no S3 credentials (configure a storage profile)",
            location=location,
        )
    if isinstance(exc, boto_errors.CredentialRetrievalError):
        # Raised by the profile's own providers with messages that hold no secrets.
        return CredentialsUnavailable(f"cannot {action} {location!r}: {exc}", location=location)
    if isinstance(exc, _NETWORK):
        return StorageUnavailable(
            f"cannot {action} {location!r}: {type(exc).__name__}", location=location
        )
    if isinstance(exc, boto_errors.BotoCoreError):
        return StorageError(f"cannot {action} {location!r}: {exc}", location=location)
    return StorageError(f"cannot {action} {location!r}: {type(exc).__name__}", location=location)


def _role_refused(response: dict[str, Any], action: str, location: str) -> StorageError:
    """STS refused the profile's role: a bad or expired token, a trust policy that does
    not allow it (permanent), or STS throttling or failing (transient)."""
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"cannot {action} {location!r}: assuming the profile's role with web identity failed"
    detail = f"{message} ({code or status}): {str(error.get('Message', ''))[:300]}"
    if status in _TRANSIENT_STATUS or _CODES.get(code) is StorageUnavailable:
        return StorageUnavailable(detail, location=location)
    return CredentialsUnavailable(detail, location=location)


def _from_response(
    response: dict[str, Any], action: str, location: str, bucket: str
) -> StorageError:
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    kind = _CODES.get(code)
    if kind is None:
        kind = StorageUnavailable if status in _TRANSIENT_STATUS else StorageError
    if kind is ContainerNotFound:
        return ContainerNotFound(
            f"cannot {action} {location!r}: bucket {bucket!r} does not exist", location=location
        )
    if kind is StorageAccessDenied:
        return StorageAccessDenied(
            f"cannot {action} {location!r}: access to bucket {bucket!r} denied ({code}); "
            "check the storage profile's credentials and permissions",
            location=location,
        )
    detail = str(error.get("Message", "")) or code or f"HTTP {status}"
    return kind(
        f"cannot {action} {location!r}: {code or status} {detail}".strip(), location=location
    )
