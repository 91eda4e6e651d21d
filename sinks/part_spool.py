"""The parts of an object re-produced while the object already stored under its key is
verified (see ResumableWriter): kept on local disk, not in memory, so that when the
verification finds other bytes a stale object can still be replaced from them, without
having uploaded anything while it might have been identical. Memory stays one part."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator

from sluice.sinks.errors import StorageUnavailable

log = logging.getLogger("sluice.sinks")


class PartSpool:
    """Parts appended in order, read back in the same order by their sizes."""

    def __init__(self, location: str) -> None:
        self._location = location
        # In the process's temporary folder (TMPDIR); unnamed where the OS allows it
        # (O_TMPFILE on Linux), so not even a killed process leaves it behind.
        self._file = tempfile.TemporaryFile(prefix="sluice-parts-")  # noqa: SIM115
        self._size = 0
        #: Why the parts could not be kept (a full or unwritable disk), once they cannot.
        self._lost: OSError | None = None

    def append(self, payload: bytes) -> None:
        """Keep one part. A disk that fails does not fail the verification the parts are
        produced for (the stored object is most likely identical): it only leaves
        nothing to replace a stale object from (`parts` then raises)."""
        if self._lost is not None:
            return
        try:
            self._file.write(payload)
        except OSError as exc:
            log.warning("could not keep the parts of %s on local disk: %s", self._location, exc)
            self._lost = exc
            self._file.close()
            return
        self._size += len(payload)

    def parts(self, sizes: list[int]) -> Iterator[bytes]:
        """The parts appended, one at a time, in order; `sizes` are theirs. Raises here,
        before any is read, when they could not be kept."""
        if self._lost is not None:
            raise self._unavailable(self._lost)
        if sum(sizes) != self._size:
            raise ValueError(f"spooled {self._size} bytes, asked for {sum(sizes)}")
        try:
            self._file.seek(0)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return self._read(sizes)

    def _read(self, sizes: list[int]) -> Iterator[bytes]:
        for size in sizes:
            try:
                payload = self._file.read(size)
            except OSError as exc:
                raise self._unavailable(exc) from exc
            if len(payload) != size:
                raise self._unavailable(OSError(f"{len(payload)} bytes left, {size} expected"))
            yield payload

    def close(self) -> None:
        self._file.close()

    def _unavailable(self, cause: OSError) -> StorageUnavailable:
        # Transient: the export's next attempt re-produces the parts, and the disk may
        # have room again by then.
        error = StorageUnavailable(
            f"cannot replace {self._location}, stored by an earlier run with other bytes: "
            f"its parts could not be kept on local disk ({cause})",
            location=self._location,
        )
        error.__cause__ = cause
        return error
