"""Storage for exported chunks: one small Sink contract, its backends, and retries.

Build sinks with `open_sink(uri)`; the backends are exported for tests and wiring.
"""

from sinks.base import (
    Capabilities,
    ObjectInfo,
    ResumableSink,
    Sink,
    SinkWriter,
    UploadJournal,
    join_key,
    validate_key,
)
from sinks.errors import (
    ContainerNotFound,
    CredentialsUnavailable,
    IntegrityError,
    ObjectExists,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)
from sinks.factory import is_local_uri, local_path, open_sink, reset_memory_sinks
from sinks.fsspec_sink import FsspecSink
from sinks.local import LocalSink
from sinks.memory import MemorySink
from sinks.retry import RetryingSink, RetryPolicy, retry_call

__all__ = [
    "Capabilities",
    "ContainerNotFound",
    "CredentialsUnavailable",
    "FsspecSink",
    "IntegrityError",
    "LocalSink",
    "MemorySink",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "ResumableSink",
    "RetryPolicy",
    "RetryingSink",
    "Sink",
    "SinkWriter",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnavailable",
    "UploadJournal",
    "is_local_uri",
    "join_key",
    "local_path",
    "open_sink",
    "reset_memory_sinks",
    "retry_call",
    "validate_key",
]
