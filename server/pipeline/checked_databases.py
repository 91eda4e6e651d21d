"""Database files (SQLite, DuckDB) opened as they were checked.

Confinement checks a database file's resolved path against the allowed source roots
when the export is planned; the plan's schema scan, the row count and every read connect
later, and the drivers open the file by name. A symlink or rename swapped in between
would make them read a file outside the roots. Neither driver can be handed an open
file: SQLite resolves a /proc/self/fd link back to a name before it opens it (so the
link gains nothing), DuckDB takes only a path. So each connection is checked instead:

1. before connecting, the resolved path is opened as checked (the kernel's path of the
   open file must be that path) and held open meanwhile. Only as a path (O_PATH): both
   drivers lock the file with POSIX locks, which closing any other descriptor of the
   file opened for reading would release (a writer could then change the file under a
   concurrent read of it); closing an O_PATH descriptor releases none;
2. after connecting, the file the driver opened must be that very file: an open file of
   the process that was not open before the connection has its device and inode (seen
   through /proc/self/fd), unless the file was already open in the process, where the
   driver may share that handle (SQLite keeps closed handles for reuse while another
   connection holds a lock; DuckDB shares one instance per path);
3. and the name still leads to it (and, for SQLite, the name SQLite resolved and opened
   is the checked path).

Otherwise the connection is closed before a row is read: PERMISSION_DENIED naming
spec.source.uri, or a named source by its name (its path is hidden from callers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sluice.server.errors import InvalidArgument, PermissionDenied, quoted

_FD_LINKS = "/proc/self/fd"


def between_check_and_open(path: str) -> None:
    """Called after `path` was opened as checked and before the driver opens it by
    name: the window a swapped symlink would use. Does nothing; tests replace it to
    swap a file at exactly this point instead of racing for it."""


#: Checks the connection opened by a driver; raises PermissionDenied when the file it
#: opened is not the one checked. The argument is the path the driver says it opened
#: (SQLite's PRAGMA database_list), or None when it does not say.
Verify = Callable[[str | None], None]


@contextmanager
def checked_database(path: str, source_name: str = "") -> Iterator[Verify]:
    """Hold the database file `path` (resolved, inside the allowed roots) open as checked
    while a driver connects to it by name; the caller connects, then calls the yielded
    verify before reading anything. `source_name`: the named source `path` is the hidden
    location of (its errors name it, not the path)."""
    where = f"named source {quoted(source_name)}" if source_name else ""
    handle = _open_path(path, where)
    try:
        checked = os.fstat(handle)
        identity = (checked.st_dev, checked.st_ino)
        before = _open_files()
        shared = any(file == identity for fd, file in before.items() if fd != handle)
        between_check_and_open(path)

        def verify(opened: str | None) -> None:
            if opened is not None and opened != path:
                raise _swapped(path, where)
            try:
                now = os.stat(path)
            except OSError:
                raise _swapped(path, where) from None
            if (now.st_dev, now.st_ino) != identity:
                raise _swapped(path, where)
            if before and not shared:
                opened_now = set(_open_files().items()) - set(before.items())
                if not any(file == identity for _, file in opened_now):
                    raise _swapped(path, where)

        yield verify
    finally:
        os.close(handle)


def _open_path(path: str, where: str) -> int:
    """`path` opened as a path only, PermissionDenied when the kernel's path of the file
    opened is not `path` (a symlink or rename since `path` was resolved)."""
    try:
        handle = os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidArgument("spec.source.uri", "the database file does not exist") from None
    except OSError:
        raise _swapped(path, where) from None
    try:
        if os.path.isdir(_FD_LINKS):
            opened = os.readlink(f"{_FD_LINKS}/{handle}")
        else:
            opened = os.path.realpath(path)  # no procfs: the name now, a narrower window
    except OSError:
        opened = ""
    if opened != path:
        os.close(handle)
        raise _swapped(path, where)
    return handle


def _open_files() -> dict[int, tuple[int, int]]:
    """Device and inode of each open file of this process ({} without procfs)."""
    if not os.path.isdir(_FD_LINKS):
        return {}
    files = {}
    for name in os.listdir(_FD_LINKS):
        try:
            status = os.stat(f"{_FD_LINKS}/{name}")
        except OSError:  # closed meanwhile (another thread), or the listing's own fd
            continue
        files[int(name)] = (status.st_dev, status.st_ino)
    return files


def _swapped(path: str, where: str) -> PermissionDenied:
    """`where`: how the source is named instead of its path ("" for the path)."""
    shown = where or "spec.source.uri: " + (path if len(path) <= 300 else path[:300] + "...")
    return PermissionDenied(
        f"{shown} is no longer the database file checked against the "
        "allowed source roots (a symlink or rename since it was checked); nothing of it "
        "was read"
    )
