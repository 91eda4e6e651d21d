"""A fallback sink over any fsspec filesystem without a dedicated Sluice backend.

Each object is spooled locally while it is written and uploaded in one go on commit,
so a failed upload starts over from the first byte: nothing here is resumable. The
dedicated backends (local, S3, Azure) exist for the destinations that need more.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

import fsspec

from sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sinks.errors import (
    ObjectExists,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

log = logging.getLogger("sluice.sinks")

#: Bytes a writer keeps in memory before spilling the rest of the object to a local
#: temporary file; bounds memory per in-flight upload.
DEFAULT_SPOOL_BYTES = 8 * 1024 * 1024

# Each fsspec backend publishes an upload when it completes (object stores) or writes in
# place (filesystem-like protocols); overwrite=False is only checked before uploading.
_CAPABILITIES = Capabilities(atomic_commit=True, conditional_create=False, resumable=False)
_COPY_BLOCK = 1024 * 1024

_warned_protocols: set[str] = set()
_warned_lock = threading.Lock()


def translate_fsspec_error(exc: OSError, action: str, location: str) -> StorageError:
    """Map an fsspec backend's OSError to a storage error (callers `raise ... from exc`)."""
    message = f"cannot {action} {location!r}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return ObjectNotFound(message, location=location)
    if isinstance(exc, PermissionError):
        return StorageAccessDenied(message, location=location)
    if isinstance(exc, ConnectionError | TimeoutError):
        return StorageUnavailable(message, location=location)
    return StorageError(message, location=location)


def _protocol_name(fs: Any) -> str:
    protocol = fs.protocol
    return str(protocol if isinstance(protocol, str) else protocol[0])


class _SpooledWriter:
    def __init__(self, sink: FsspecSink, key: str, *, overwrite: bool, spool_bytes: int) -> None:
        self._sink = sink
        self._key = key
        self._overwrite = overwrite
        self._spool_bytes = spool_bytes
        self._spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes)  # noqa: SIM115
        self._size = 0
        self._state = "open"

    def _ensure_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self._key!r} is already {self._state}")

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_open()
        try:
            self._spool.write(data)
        except OSError as exc:
            raise StorageError(
                f"cannot spool {self._key!r} to a local temporary file: {exc.strerror or exc}",
                location=self._sink.location(self._key),
            ) from exc
        self._size += memoryview(data).nbytes

    def commit(self) -> ObjectInfo:
        self._ensure_open()
        self._state = "committed"
        try:
            self._spool.seek(0)
            self._sink._upload(self._key, self._spool, self._size, overwrite=self._overwrite)
        finally:
            self._spool.close()
        return ObjectInfo(self._key, self._size)

    def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"
            self._spool.close()

    #: The generic fallback cannot resume: a spooled upload starts over anyway.
    suspend = abort


class FsspecSink:
    """Objects under `root` of an fsspec filesystem. `uri` is shown to users and must
    already be free of credentials; `spool_bytes` is the in-memory part of each write."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        uri: str,
        *,
        spool_bytes: int = DEFAULT_SPOOL_BYTES,
    ) -> None:
        self._fs: Any = fs
        self._root = fs._strip_protocol(root).rstrip("/") if root else ""
        self._uri = uri
        self._spool_bytes = spool_bytes
        protocol = _protocol_name(fs)
        with _warned_lock:
            first = protocol not in _warned_protocols
            _warned_protocols.add(protocol)
        if first:
            log.warning(
                "uploads through protocol %r are not resumable: an interrupted chunk is "
                "uploaded again from its first byte",
                protocol,
            )

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if self._root else key

    def location(self, key: str) -> str:
        """Where `key` lives, for messages (built from `uri`, so free of credentials)."""
        return f"{self._uri.rstrip('/')}/{key}"

    def create(
        self, key: str, *, overwrite: bool = True, journal: UploadJournal | None = None
    ) -> SinkWriter:
        # Not resumable: a journal has nothing to continue here.
        validate_key(key)
        return _SpooledWriter(self, key, overwrite=overwrite, spool_bytes=self._spool_bytes)

    def _upload(self, key: str, spool: IO[bytes], size: int, *, overwrite: bool) -> None:
        path = self._path(key)
        try:
            if not overwrite and self._fs.exists(path):
                raise ObjectExists(f"object {key!r} already exists", location=self.location(key))
            parent = path.rpartition("/")[0]
            if parent:
                # Object stores ignore this; filesystem-like protocols need the folders.
                self._fs.makedirs(parent, exist_ok=True)
            if size <= self._spool_bytes:
                # Still in memory: one request, which object stores publish atomically.
                self._fs.pipe_file(path, spool.read())
            else:
                with self._fs.open(path, "wb") as remote:
                    shutil.copyfileobj(spool, remote, _COPY_BLOCK)
        except OSError as exc:
            raise translate_fsspec_error(exc, "upload", self.location(key)) from exc

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        try:
            return cast(BinaryIO, self._fs.open(self._path(key), "rb"))
        except (IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"object {key!r} not found", location=self.location(key)) from exc
        except OSError as exc:
            raise translate_fsspec_error(exc, "open", self.location(key)) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Start at the deepest folder the prefix names, so listing one export does not
        # walk the whole destination.
        folder = prefix.rpartition("/")[0]
        if folder:
            try:
                validate_key(folder)
            except ValueError:
                return  # no valid key lives under an invalid folder
        start = self._path(folder) if folder else self._root
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(start, detail=True)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise translate_fsspec_error(exc, "list", self.location(folder)) from exc
        base = self._root + "/" if self._root else ""
        objects: list[ObjectInfo] = []
        for path, info in found.items():
            if info.get("type") == "directory" or not path.startswith(base):
                continue
            key = path[len(base) :] if base else path.lstrip("/")
            if key.startswith(prefix):
                objects.append(ObjectInfo(key, int(info.get("size") or 0)))
        objects.sort(key=lambda item: item.key)
        yield from objects

    def remove(self, key: str) -> None:
        validate_key(key)
        try:
            self._fs.rm_file(self._path(key))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise translate_fsspec_error(exc, "remove", self.location(key)) from exc
