"""`-o FILE` of commands that write records: the file appears (renamed into place) only
when every record was written, so a failure part-way never leaves something that looks
complete; `-` is stdout."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import IO

from sluice.client.cli.output import CliError


class AtomicOutput:
    """stdout, or a file that appears only when the block ends without an exception."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._temporary: str | None = None

    def __enter__(self) -> IO[bytes]:
        if self._target == "-":
            return sys.stdout.buffer
        if os.path.isdir(self._target):
            raise CliError(f"-o: {self._target} is a folder; give the file to write")
        folder = os.path.dirname(os.path.abspath(self._target))
        try:
            handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".sluice-read-", delete=False)
        except OSError as exc:
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
        self._temporary = handle.name
        self._handle: IO[bytes] = handle
        return handle

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._temporary is None:
            sys.stdout.buffer.flush()
            return
        self._handle.close()
        if exc_type is not None:
            os.unlink(self._temporary)
            return
        try:
            os.replace(self._temporary, self._target)
        except OSError as exc:
            os.unlink(self._temporary)
            raise CliError(f"-o: cannot write {self._target}: {exc.strerror or exc}") from None
