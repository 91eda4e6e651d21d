"""Storage for exported chunks: one small Sink contract, its backends, and retries.

Build sinks with `open_sink(uri)` (only for the URIs `classify` allows); the backends
are exported for tests and wiring (MemorySink only for in-process tests).
"""

from sluice.sinks.base import (
    Capabilities,
    ObjectInfo,
    Sink,
    SinkWriter,
    UploadJournal,
    join_key,
    validate_key,
)
from sluice.sinks.errors import (
    ContainerNotFound,
    CredentialsUnavailable,
    IntegrityError,
    JournalRefused,
    ObjectExists,
    ObjectImmutable,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
    UploadHandedOver,
)
from sluice.sinks.factory import open_sink
from sluice.sinks.local import LocalSink
from sluice.sinks.locations import Location, LocationRefused, classify
from sluice.sinks.memory import MemorySink
from sluice.sinks.retry import RetryingSink, RetryPolicy, retry_call

__all__ = [
    "Capabilities",
    "ContainerNotFound",
    "CredentialsUnavailable",
    "IntegrityError",
    "JournalRefused",
    "LocalSink",
    "Location",
    "LocationRefused",
    "MemorySink",
    "ObjectExists",
    "ObjectImmutable",
    "ObjectInfo",
    "ObjectNotFound",
    "RetryPolicy",
    "RetryingSink",
    "Sink",
    "SinkWriter",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnavailable",
    "UploadHandedOver",
    "UploadJournal",
    "classify",
    "join_key",
    "open_sink",
    "retry_call",
    "validate_key",
]
