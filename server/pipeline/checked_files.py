"""Local source files opened as they were checked.

Confinement checks a file's resolved path (symlinks followed, `..` gone) against the
allowed source roots and the principal's source_roots when the export is planned; the
run reads later. Reading the name the caller gave would follow whatever link is there by
then, so a symlink swapped in between would escape the roots. A checked file is opened by
its resolved path instead, and the opened file's own path (the kernel's, from
/proc/self/fd) must still be that resolved path, else nothing of it is read. Readers
that reopen a file by name (Polars' Parquet scan, once per slice) are given the open
file's /proc/self/fd link, which names that very file whatever the folder holds by then.
"""

from __future__ import annotations

import os
from typing import IO

from fsspec.implementations.local import LocalFileSystem

from sluice.server.errors import PermissionDenied

_FD_LINKS = "/proc/self/fd"


def open_checked(name: str, real: str) -> IO[bytes]:
    """`real` (the resolved path confinement checked for the source file `name`), opened
    for reading through fsspec's local opener (which the readers recognise). Raises
    PermissionDenied naming `name` when the file opened is no longer the one checked."""
    handle = LocalFileSystem().open(real, "rb")
    try:
        opened = _opened_path(handle, real)
    except OSError:
        opened = ""
    if opened != real:
        handle.close()
        raise PermissionDenied(
            f"spec.source.uri: {_shown(name)} is no longer the file checked against the "
            "allowed source roots (a symlink or rename since the export was planned); "
            "nothing of it was read",
        )
    if os.path.isdir(_FD_LINKS):
        # Only reopened by name from here on (reading mode never moves or renames it).
        handle.path = f"{_FD_LINKS}/{handle.fileno()}"
    opened_file: IO[bytes] = handle
    return opened_file


def _opened_path(handle: IO[bytes], real: str) -> str:
    """The path of the file `handle` has open: the kernel's own where /proc shows it,
    else (no procfs) the resolved name now, which leaves a narrower window."""
    if os.path.isdir(_FD_LINKS):
        return os.readlink(f"{_FD_LINKS}/{handle.fileno()}")
    return os.path.realpath(real)


def _shown(name: str) -> str:
    return name if len(name) <= 300 else name[:300] + "..."
