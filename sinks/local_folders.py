"""Folders under a local sink's root, reached without following symbolic links.

Each path is walked one component at a time from "/", every folder opened relative to
its parent with O_NOFOLLOW (openat-style), and missing folders are made the same way.
A link planted anywhere on the way after the destination was checked (say at
`<root>/<dataset>/<export_id>` while the export waited in the queue) is refused instead
of followed, so nothing is read or written outside the root; the descriptor a writer
holds keeps pointing at the folder it checked even if the name is swapped later.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from sluice.sinks.errors import StorageAccessDenied

#: Walking needs search permission only (O_PATH where the platform has it).
_SEARCH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: The last folder is listed, fsynced and written in: opened for reading.
_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkRefused(StorageAccessDenied):
    """A symbolic link stands where a folder or object of the sink should be."""


def refuse_link(path: Path | str) -> LinkRefused:
    return LinkRefused(
        f"refusing to follow the symbolic link at {str(path)!r}: a sink never reads or "
        "writes through links inside its root",
        location=str(path),
    )


def is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def fsync_folder(folder: int) -> None:
    """fsync a folder given by a descriptor (any kind, O_PATH included)."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some network and FUSE mounts refuse fsync on a directory; the entry is then
        # as durable as that filesystem can make it.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def open_folder(root: Path, parts: Sequence[str], *, create: bool) -> int:
    """A readable descriptor of `root`/`parts` (root absolute and already resolved),
    reached without following links. With `create`, missing folders are made (and their
    parent fsynced, so the new entry survives a power loss).

    Raises FileNotFoundError / NotADirectoryError as os.open does, LinkRefused for a link.
    """
    components = [*root.parts[1:], *parts]
    current = os.open(root.anchor or os.sep, _READ if not components else _SEARCH)
    try:
        walked = Path(root.anchor or os.sep)
        for position, name in enumerate(components):
            walked = walked / name
            flags = _READ if position == len(components) - 1 else _SEARCH
            child = _open_child(current, name, flags, walked, create=create)
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


@contextlib.contextmanager
def folder(root: Path, parts: Sequence[str], *, create: bool) -> Iterator[int]:
    fd = open_folder(root, parts, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_child(parent: int, name: str, flags: int, path: Path, *, create: bool) -> int:
    for _ in range(2):
        try:
            return os.open(name, flags, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, 0o777, dir_fd=parent)
            except FileExistsError:
                continue  # made meanwhile (another writer): open it
            fsync_folder(parent)
        except OSError as exc:
            # O_NOFOLLOW on a link: ELOOP; with O_PATH|O_DIRECTORY: ENOTDIR.
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and is_link(name, parent):
                raise refuse_link(path) from None
            raise
    return os.open(name, flags, dir_fd=parent)
