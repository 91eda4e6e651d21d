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
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sluice.sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sluice.sinks.errors import ObjectExists, ObjectNotFound, StorageAccessDenied, StorageError
from sluice.sinks.local_folders import LinkRefused, fsync_folder, open_folder, refuse_link
from sluice.sinks.local_folders import folder as local_folder

log = logging.getLogger("sluice.sinks")

#: Part of every in-flight file name (`<name>.sluice-tmp-<8 hex>`); never part of a key.
TEMP_MARKER = ".sluice-tmp-"

_CAPABILITIES = Capabilities(resumable=False)

#: Bytes written between two starts of the kernel's writeback (see _LocalWriter.write).
WRITEBACK_STEP = 8 * 1024 * 1024


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


class _LocalWriter:
    """Writes one object into an open folder descriptor, so a link swapped in for the
    folder's name after create() cannot redirect the commit."""

    def __init__(
        self, key: str, final: Path, folder: int, temporary: str, file: BinaryIO, *, overwrite: bool
    ) -> None:
        self._key = key
        self._final = final
        self._folder = folder
        self._temporary = temporary
        self._file = file
        self._overwrite = overwrite
        self._size = 0
        #: The size when the writeback was last started (see write).
        self._written_back = 0
        self._state = "open"

    @property
    def _temporary_path(self) -> Path:
        return self._final.with_name(self._temporary)

    def _ensure_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self._key!r} is already {self._state}")

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_open()
        try:
            self._file.write(data)
        except OSError as exc:
            raise _translate(exc, "write", self._temporary_path) from exc
        self._size += memoryview(data).nbytes
        if self._size - self._written_back >= WRITEBACK_STEP:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start writing what is written so far to the disk now, not at commit: left to
        the commit, fsync wrote a whole chunk at the export's end (a 52 MB Parquet chunk:
        16 ms of the export's wall time; started every 8 MiB, that fsync took 0.4 ms).
        posix_fadvise(DONTNEED) starts the writeback of the file's dirty pages without
        waiting for it, and drops its clean pages from the page cache (those written back
        since the previous call): nothing here reads them again, and an export's output
        no longer pushes other files out of the cache (as `dd oflag=nocache`). Only
        advice: a failure leaves the commit's fsync to do it all, as before."""
        try:
            self._file.flush()
        except OSError as exc:
            raise _translate(exc, "write", self._temporary_path) from exc
        if hasattr(os, "posix_fadvise"):  # Linux and BSDs; not macOS or Windows
            with contextlib.suppress(OSError):
                os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        self._written_back = self._size

    def commit(self) -> ObjectInfo:
        self._ensure_open()
        # Whatever happens below, this writer is finished: a failed commit is not resumable.
        self._state = "committed"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self._overwrite:
                name = self._final.name
                os.replace(self._temporary, name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
            else:
                self._link_exclusively()
            # The new name lives in the folder (new folders were fsynced when made).
            fsync_folder(self._folder)
        except OSError as exc:
            self._discard()
            raise _translate(exc, "commit", self._final) from exc
        except ObjectExists:
            self._discard()
            raise
        os.close(self._folder)
        return ObjectInfo(self._key, self._size)

    def _link_exclusively(self) -> None:
        try:
            os.link(
                self._temporary,
                self._final.name,
                src_dir_fd=self._folder,
                dst_dir_fd=self._folder,
                follow_symlinks=False,
            )
        except FileExistsError:
            raise ObjectExists(
                f"object {self._key!r} already exists", location=str(self._final)
            ) from None
        # The object is already published; a temporary left behind here is swept by
        # remove_stale_temporaries on the next resume, so failing commit would only lie.
        with contextlib.suppress(OSError):
            os.unlink(self._temporary, dir_fd=self._folder)

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
            os.unlink(self._temporary, dir_fd=self._folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning(
                "could not remove temporary file %s: %s", self._temporary_path, exc.strerror
            )
        finally:
            with contextlib.suppress(OSError):
                os.close(self._folder)


class LocalSink:
    """Objects under `root`, one file per key. The root is created on the first write.

    `root` is resolved once, here; afterwards no symbolic link is followed on the way to
    an object (sinks.local_folders), so a link planted under the root (or in place of
    it) makes reads and writes fail as access denied instead of leaving the root.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._real_root = Path(os.path.realpath(root))

    @property
    def root(self) -> Path:
        return self._root

    @property
    def uri(self) -> str:
        return "file://" + str(self._root.absolute())

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def _parts(self, key: str) -> list[str]:
        validate_key(key)
        if TEMP_MARKER in key:
            raise ValueError(f"object key {key!r} contains the reserved {TEMP_MARKER!r}")
        return key.split("/")

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*self._parts(key))

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
        parts = self._parts(key)
        final = self._root.joinpath(*parts)
        try:
            folder = open_folder(self._real_root, parts[:-1], create=True)
        except LinkRefused:
            raise
        except OSError as exc:
            raise _translate(exc, "create", final) from exc
        try:
            temporary, file = _open_temporary(folder, parts[-1])
        except OSError as exc:
            os.close(folder)
            raise _translate(exc, "create", final) from exc
        return _LocalWriter(key, final, folder, temporary, file, overwrite=overwrite)

    def open(self, key: str) -> BinaryIO:
        parts = self._parts(key)
        path = self._root.joinpath(*parts)
        try:
            with local_folder(self._real_root, parts[:-1], create=False) as parent:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
                return os.fdopen(fd, "rb")
        except LinkRefused:
            raise
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"object {key!r} not found", location=str(path)) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise refuse_link(path) from None
            raise _translate(exc, "open", path) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for key, name, folder in _walk(self._real_root, prefix, temporaries=False):
            try:
                found = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we were listing
            except OSError as exc:
                raise _translate(exc, "list", self._root / key) from exc
            # A commit renames a new file into place: a new inode, whatever the clock.
            yield ObjectInfo(key, found.st_size, f"{found.st_ino}-{found.st_mtime_ns}")

    def remove(self, key: str) -> None:
        parts = self._parts(key)
        path = self._root.joinpath(*parts)
        try:
            with local_folder(self._real_root, parts[:-1], create=False) as parent:
                os.unlink(parts[-1], dir_fd=parent)
        except LinkRefused:
            raise
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            if exc.errno == errno.EISDIR or (exc.errno == errno.EPERM and path.is_dir()):
                return
            raise _translate(exc, "remove", path) from exc
        if path.parent != self._root:
            # Only the object's own folder: rmdir fails while anything (a stray
            # temporary included) is left in it, and never touches a folder that a
            # concurrent export of the dataset may be creating.
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    # A local write is a temporary file (<key>.sluice-tmp-<hex>), never an upload.

    def abort_upload(self, key: str, state: str) -> None:
        return None

    def abort_stray_uploads(self, prefix: str) -> int:
        return 0

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        for key, _name, _folder in _walk(self._real_root, prefix, temporaries=True):
            yield key

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        removed = 0
        for key, name, folder in _walk(self._real_root, prefix, temporaries=True):
            try:
                os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _translate(exc, "remove", self._root / key) from exc
            removed += 1
        return removed


def _open_temporary(folder: int, name: str) -> tuple[str, BinaryIO]:
    # Exclusive creation: a name clash (with a live writer's file) must not be shared.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(8):
        temporary = f"{name}{TEMP_MARKER}{secrets.token_hex(4)}"
        try:
            fd = os.open(temporary, flags, 0o666, dir_fd=folder)
        except FileExistsError:
            continue
        return temporary, os.fdopen(fd, "wb")
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)


def _walk(root: Path, prefix: str, *, temporaries: bool) -> Iterator[tuple[str, str, int]]:
    """Files under root whose key starts with prefix, in key order, either committed
    objects or (temporaries=True) in-flight temporaries: (key, name, folder descriptor),
    the descriptor valid until the next item."""
    start_key = prefix.rpartition("/")[0]
    if start_key:
        try:
            validate_key(start_key)
        except ValueError:
            return  # no valid key lives under an invalid folder
    parts = start_key.split("/") if start_key else []
    try:
        start = open_folder(root, parts, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return
    except LinkRefused:
        raise
    except OSError as exc:
        raise _translate(exc, "list", root.joinpath(*parts)) from exc
    try:
        yield from _scan(start, root.joinpath(*parts), start_key, prefix, temporaries)
    finally:
        os.close(start)


def _scan(
    folder: int, path: Path, folder_key: str, prefix: str, temporaries: bool
) -> Iterator[tuple[str, str, int]]:
    try:
        with os.scandir(folder) as iterator:
            entries = list(iterator)
    except OSError as exc:
        raise _translate(exc, "list", path) from exc

    # Sorting a folder's own entries by name, with '/' appended to sub-folders, yields
    # keys in exactly the order of sorted full keys ("a-b" < "a/c" since '-' < '/'),
    # so the listing streams instead of collecting every key first.
    def order(entry: os.DirEntry[str]) -> str:
        return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name

    for entry in sorted(entries, key=order):
        key = f"{folder_key}/{entry.name}" if folder_key else entry.name
        # Symbolic links are not followed: they could loop or lead outside the root.
        if entry.is_dir(follow_symlinks=False):
            sub_folder = key + "/"
            if sub_folder.startswith(prefix) or prefix.startswith(sub_folder):
                yield from _scan_child(folder, entry.name, path, key, prefix, temporaries)
        elif (
            entry.is_file(follow_symlinks=False)
            and key.startswith(prefix)
            and (TEMP_MARKER in entry.name) == temporaries
        ):
            yield key, entry.name, folder


def _scan_child(
    parent: int, name: str, path: Path, key: str, prefix: str, temporaries: bool
) -> Iterator[tuple[str, str, int]]:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        child = os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return  # removed, or swapped for a file or a link, while we were listing
        raise _translate(exc, "list", path / name) from exc
    try:
        yield from _scan(child, path / name, key, prefix, temporaries)
    finally:
        os.close(child)
