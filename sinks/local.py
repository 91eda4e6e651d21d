"""Objects as files under a local folder.

A write goes to a temporary file beside its final path and is published by a rename
(or, when overwriting is refused, a hard link, which fails if the name is taken), with
fsyncs on both sides: readers never see a partial file, and once commit() returns the
object survives a power loss.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sinks.errors import ObjectExists, ObjectNotFound, StorageAccessDenied, StorageError

log = logging.getLogger("sluice.sinks")

#: Part of every in-flight file name (`<name>.sluice-tmp-<8 hex>`); never part of a key.
TEMP_MARKER = ".sluice-tmp-"

_CAPABILITIES = Capabilities(atomic_commit=True, conditional_create=True, resumable=False)


def _translate(exc: OSError, action: str, path: Path | str) -> StorageError:
    """One table from OSError to storage errors, so every method reports alike."""
    where = str(path)
    if isinstance(exc, PermissionError):
        return StorageAccessDenied(f"cannot {action} {where!r}: permission denied", location=where)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # Permanent on purpose: retrying a full disk only delays the failure report.
        return StorageError(
            f"cannot {action} {where!r}: no space left on the device (or quota exceeded)",
            location=where,
        )
    return StorageError(f"cannot {action} {where!r}: {exc.strerror or exc}", location=where)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some network and FUSE mounts refuse fsync on a directory; the rename is then
        # as durable as that filesystem can make it.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


class _LocalWriter:
    def __init__(
        self,
        key: str,
        final: Path,
        temporary: Path,
        file: BinaryIO,
        *,
        overwrite: bool,
        new_directories: list[Path],
    ) -> None:
        self._key = key
        self._final = final
        self._temporary = temporary
        self._file = file
        self._overwrite = overwrite
        self._new_directories = new_directories
        self._size = 0
        self._state = "open"

    def _ensure_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self._key!r} is already {self._state}")

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_open()
        try:
            self._file.write(data)
        except OSError as exc:
            raise _translate(exc, "write", self._temporary) from exc
        self._size += memoryview(data).nbytes

    def commit(self) -> ObjectInfo:
        self._ensure_open()
        # Whatever happens below, this writer is finished: a failed commit is not resumable.
        self._state = "committed"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self._overwrite:
                self._temporary.replace(self._final)
            else:
                self._link_exclusively()
            # The new name lives in the parent directory; a freshly created folder's
            # own entry lives in its parent, so both must reach the disk.
            for directory in {self._final.parent, *(d.parent for d in self._new_directories)}:
                _fsync_directory(directory)
        except OSError as exc:
            self._discard()
            raise _translate(exc, "commit", self._final) from exc
        except ObjectExists:
            self._discard()
            raise
        return ObjectInfo(self._key, self._size)

    def _link_exclusively(self) -> None:
        try:
            os.link(self._temporary, self._final)
        except FileExistsError:
            raise ObjectExists(
                f"object {self._key!r} already exists", location=str(self._final)
            ) from None
        # The object is already published; a temporary left behind here is swept by
        # remove_stale_temporaries on the next resume, so failing commit would only lie.
        with contextlib.suppress(OSError):
            self._temporary.unlink()

    def abort(self) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        self._discard()

    #: A local write is not resumable: a temporary file is not worth keeping.
    suspend = abort

    def _discard(self) -> None:
        # Never raises: abort() runs in error paths, where a second error would hide the first.
        with contextlib.suppress(OSError):
            self._file.close()
        try:
            self._temporary.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove temporary file %s: %s", self._temporary, exc.strerror)


class LocalSink:
    """Objects under `root`, one file per key. The root is created on the first write."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def uri(self) -> str:
        return "file://" + str(self._root.absolute())

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def _path(self, key: str) -> Path:
        validate_key(key)
        if TEMP_MARKER in key:
            raise ValueError(f"object key {key!r} contains the reserved {TEMP_MARKER!r}")
        return self._root.joinpath(*key.split("/"))

    def create(
        self, key: str, *, overwrite: bool = True, journal: UploadJournal | None = None
    ) -> SinkWriter:
        # Not resumable: a journal has nothing to continue here.
        final = self._path(key)
        try:
            new_directories = _make_parents(final.parent)
            temporary, file = _open_temporary(final)
        except OSError as exc:
            raise _translate(exc, "create", final) from exc
        return _LocalWriter(
            key,
            final,
            temporary,
            file,
            overwrite=overwrite,
            new_directories=new_directories,
        )

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"object {key!r} not found", location=str(path)) from exc
        except OSError as exc:
            raise _translate(exc, "open", path) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for key, entry in _walk(self._root, prefix, temporaries=False):
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue  # removed while we were listing
            except OSError as exc:
                raise _translate(exc, "list", entry.path) from exc
            yield ObjectInfo(key, size)

    def remove(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise _translate(exc, "remove", path) from exc

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        """Keys of the temporary files under `prefix` (`<key>.sluice-tmp-<hex>`), in key
        order: writers in flight, or stale ones a killed writer left. Never in list()."""
        for key, _entry in _walk(self._root, prefix, temporaries=True):
            yield key

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        """Delete temporaries left by writers that died before commit or abort; returns
        how many. Only call this when no writer of this process or another is active
        under `prefix` (on resume after a crash), or their uploads will fail."""
        removed = 0
        for _key, entry in list(_walk(self._root, prefix, temporaries=True)):
            try:
                Path(entry.path).unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _translate(exc, "remove", entry.path) from exc
            removed += 1
        return removed


def _make_parents(directory: Path) -> list[Path]:
    """Create `directory` and its missing ancestors; return the ones that were missing."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def _open_temporary(final: Path) -> tuple[Path, BinaryIO]:
    # Exclusive creation: a name clash (with a live writer's file) must not be shared.
    for _ in range(8):
        temporary = final.with_name(f"{final.name}{TEMP_MARKER}{secrets.token_hex(4)}")
        try:
            return temporary, temporary.open("xb")
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(final))


def _walk(root: Path, prefix: str, *, temporaries: bool) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Files under root whose key starts with prefix, in key order, either committed
    objects or (temporaries=True) in-flight temporaries."""
    start_key = prefix.rpartition("/")[0]
    if start_key:
        try:
            validate_key(start_key)
        except ValueError:
            return  # no valid key lives under an invalid folder
    start = root.joinpath(*start_key.split("/")) if start_key else root
    yield from _scan(start, start_key, prefix, temporaries)


def _scan(
    directory: Path | str, directory_key: str, prefix: str, temporaries: bool
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    try:
        with os.scandir(directory) as iterator:
            entries = list(iterator)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise _translate(exc, "list", directory) from exc

    # Sorting a folder's own entries by name, with '/' appended to sub-folders, yields
    # keys in exactly the order of sorted full keys ("a-b" < "a/c" since '-' < '/'),
    # so the listing streams instead of collecting every key first.
    def order(entry: os.DirEntry[str]) -> str:
        return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name

    for entry in sorted(entries, key=order):
        key = f"{directory_key}/{entry.name}" if directory_key else entry.name
        # Symbolic links are not followed: they could loop or lead outside the root.
        if entry.is_dir(follow_symlinks=False):
            folder = key + "/"
            if folder.startswith(prefix) or prefix.startswith(folder):
                yield from _scan(entry.path, key, prefix, temporaries)
        elif (
            entry.is_file(follow_symlinks=False)
            and key.startswith(prefix)
            and (TEMP_MARKER in entry.name) == temporaries
        ):
            yield key, entry
