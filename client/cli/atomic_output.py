"""`-o FILE` of commands that write records: a regular file (or a new path) appears,
renamed into place, only when every record was written, so a failure part-way never
leaves something that looks complete; `-` is stdout.

What already exists and is no regular file (/dev/null, a FIFO, a shell's
`>(process)` /dev/fd/N) is written through as `open()` would, never replaced by a
file; a symlink is followed and the file it names replaced, the link kept. The file
gets the mode `open()` would give it: the existing file's, or 0666 less the umask.
A descriptor the CLI inherited (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N)
is written to as it is, as a shell does: opened again by its name it would be
truncated, and replaced it would lose what the caller had put there (`>> log`)."""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from typing import IO

from sluice.client.cli.output import CliError

#: The names of a descriptor the process already holds, and which one.
_INHERITED = re.compile(r"/dev/(?:(stdout)|(stderr)|fd/(\d+))|/proc/self/fd/(\d+)")


def _inherited_descriptor(target: str) -> int | None:
    found = _INHERITED.fullmatch(os.path.normpath(os.path.abspath(target)))
    if found is None:
        return None
    stdout, stderr, number, proc = found.groups()
    return 1 if stdout else 2 if stderr else int(number or proc)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


class AtomicOutput:
    """stdout, a file written through, or a file that appears only when the block ends
    without an exception."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._temporary: str | None = None
        self._replaced = target
        self._mode = 0o666

    def __enter__(self) -> IO[bytes]:
        if self._target == "-":
            return sys.stdout.buffer
        descriptor = _inherited_descriptor(self._target)
        if descriptor is not None:
            return self._write_to(descriptor)
        try:
            existing: os.stat_result | None = os.stat(self._target)
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise CliError(f"-o: {self._target} is a folder; give the file to write")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            return self._open_through()
        self._replaced = os.path.realpath(self._target)
        self._mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask()
        folder = os.path.dirname(self._replaced)
        try:
            handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".sluice-read-", delete=False)
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
        self._temporary = handle.name
        self._handle: IO[bytes] = handle
        return handle

    def _write_to(self, descriptor: int) -> IO[bytes]:
        try:
            self._handle = os.fdopen(os.dup(descriptor), "wb")
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
        return self._handle

    def _open_through(self) -> IO[bytes]:
        try:
            self._handle = open(self._target, "wb")  # noqa: SIM115 - closed in __exit__
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
        return self._handle

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._target == "-":
            sys.stdout.buffer.flush()
            return
        if self._temporary is None:
            self._close_through()
            return
        self._handle.close()
        if exc_type is not None:
            os.unlink(self._temporary)
            return
        try:
            os.chmod(self._temporary, self._mode)
            os.replace(self._temporary, self._replaced)
        except OSError as exc:
            os.unlink(self._temporary)
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None

    def _close_through(self) -> None:
        try:
            self._handle.close()
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
