"""Storage for exported chunks: one small Sink contract, its backends, and retries.

Build sinks with `open_sink(uri)`; the backends are exported for tests and wiring.
"""

from sinks.base import Capabilities, ObjectInfo, Sink, SinkWriter, join_key, validate_key
from sinks.errors import (
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
    "FsspecSink",
    "IntegrityError",
    "LocalSink",
    "MemorySink",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "RetryPolicy",
    "RetryingSink",
    "Sink",
    "SinkWriter",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnavailable",
    "is_local_uri",
    "join_key",
    "local_path",
    "open_sink",
    "reset_memory_sinks",
    "retry_call",
    "validate_key",
]
