"""An in-process sink for tests and demos.

It is a test double that keeps the real behaviour: writes are invisible until commit,
overwrite=False is enforced, and every object carries the sha256 taken at commit,
re-checked on each read, so tests that corrupt storage (see `tamper`) see the same
IntegrityError a real verification would raise.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import BinaryIO

from sluice.sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sluice.sinks.errors import IntegrityError, ObjectExists, ObjectNotFound

_CAPABILITIES = Capabilities(resumable=False)


class _MemoryWriter:
    def __init__(self, sink: MemorySink, key: str, *, overwrite: bool) -> None:
        self._sink = sink
        self._key = key
        self._overwrite = overwrite
        self._buffer = bytearray()
        self._state = "open"

    def _ensure_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self._key!r} is already {self._state}")

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_open()
        self._buffer += data

    def commit(self) -> ObjectInfo:
        self._ensure_open()
        self._state = "committed"
        data = bytes(self._buffer)
        self._buffer = bytearray()
        self._sink._store(self._key, data, overwrite=self._overwrite)
        return ObjectInfo(self._key, len(data))

    def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"
            self._buffer = bytearray()

    #: Nothing in memory outlives the process: suspending is aborting.
    suspend = abort


class MemorySink:
    """Objects in a dict guarded by a lock; `name` only distinguishes instances in `uri`."""

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[bytes, str]] = {}

    @property
    def uri(self) -> str:
        return f"memory://{self._name}"

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> SinkWriter:
        # Not resumable: a journal has nothing to continue here, and no stale object is
        # left by one (the pipeline writes chunks here with overwrite=True).
        return _MemoryWriter(self, validate_key(key), overwrite=overwrite)

    def _store(self, key: str, data: bytes, *, overwrite: bool) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if not overwrite and key in self._objects:
                raise ObjectExists(f"object {key!r} already exists", location=self._location(key))
            self._objects[key] = (data, digest)

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._lock:
            stored = self._objects.get(key)
        if stored is None:
            raise ObjectNotFound(f"object {key!r} not found", location=self._location(key))
        data, digest = stored
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(
                f"object {key!r} does not match the sha256 recorded when it was written",
                location=self._location(key),
            )
        return io.BytesIO(data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            snapshot = [
                (k, len(data), digest)
                for k, (data, digest) in self._objects.items()
                if k.startswith(prefix)
            ]
        for key, size, digest in sorted(snapshot):
            yield ObjectInfo(key, size, digest)

    def remove(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    # An unfinished write lives only in its writer: nothing is ever left behind.

    def abort_upload(self, key: str, state: str) -> None:
        return None

    def abort_stray_uploads(self, prefix: str) -> int:
        return 0

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        return iter(())

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        return 0

    def tamper(self, key: str, data: bytes) -> None:
        """Replace the stored bytes but keep the recorded digest, as bit rot would."""
        with self._lock:
            if key not in self._objects:
                raise ObjectNotFound(f"object {key!r} not found", location=self._location(key))
            self._objects[key] = (data, self._objects[key][1])

    def _location(self, key: str) -> str:
        return f"{self.uri}/{key}"
