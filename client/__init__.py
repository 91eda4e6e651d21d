"""Python client for the Sluice export daemon.

    from sluice.client import ExportClient

    with ExportClient("127.0.0.1:7070") as sluice:
        spec = ExportClient.build_spec(source="data/*.parquet", to="/exports", dataset="events")
        export = sluice.wait(sluice.create(spec).id)

Everything importable from here is public; the underscore modules are not.
"""

from sluice.client._client import ExportClient
from sluice.client._errors import (
    AlreadyExistsError,
    BatchSchemaError,
    DeadlineExceededError,
    ExportFailedError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServerUnreachableError,
    SluiceError,
    UnauthenticatedError,
    UnavailableError,
    error_from_rpc,
)
from sluice.client._webhooks import WebhookSignatureError, verify_webhook

__all__ = [
    "AlreadyExistsError",
    "BatchSchemaError",
    "DeadlineExceededError",
    "ExportClient",
    "ExportFailedError",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "ServerUnreachableError",
    "SluiceError",
    "UnauthenticatedError",
    "UnavailableError",
    "WebhookSignatureError",
    "error_from_rpc",
    "verify_webhook",
]
