"""One daemon per state folder.

The embedded job store is single-daemon: a second daemon on the same folder would pick
up the first one's running exports and both would write them. The folder is therefore
locked for the daemon's lifetime with flock(2) on `<state_dir>/daemon.lock`, which the
kernel releases when the process ends however it ends (SIGKILL included), so a crash
never leaves a stale lock. The holder writes its pid into the file for the refusal
message; the file itself is never removed (removing it would let two daemons lock two
different files of the same name).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from sluice.server.errors import FailedPrecondition

LOCK_FILE = "daemon.lock"


def lock_state_folder(state_dir: Path) -> StateFolderLock:
    """Create the state folder if needed and lock it; FailedPrecondition naming the
    holder's pid when another daemon holds it, or naming the folder when it is unusable."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        return StateFolderLock(state_dir)
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot use state folder {state_dir}: {exc.strerror or exc}"
        ) from None


class StateFolderLock:
    """An exclusive lock on a state folder, held until `release` (or the process ends)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        # Not inherited by child processes (PEP 446), so none can outlive us holding it.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(self._fd)
            os.close(self._fd)
            raise FailedPrecondition(
                f"state folder {state_dir} is in use by another Sluice daemon "
                f"({'pid ' + holder if holder else 'pid unknown'}, lock {self.path}); "
                "stop it, or give this daemon its own --state-dir"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._fd >= 0:
            # Closing the descriptor drops the flock.
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StateFolderLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    """The holder's pid as it wrote it, or "" (it may not have written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
