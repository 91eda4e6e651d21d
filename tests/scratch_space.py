"""Where the suite writes its files: memory (tmpfs) when the machine has room for it.

Deleting files on this project's CI disk costs about a millisecond each (ext4 mounted
with `discard`: every unlink is trimmed). A worker's PostgreSQL cluster holds ~300 files
per database the tests create, and its removal at the end of a session took 50-70 s per
worker; every daemon's chunks, journals and state folders pay the same on their way out.
On tmpfs the same removal takes a fiftieth of that (11,100 files: 10.3 s on the disk,
0.22 s in /dev/shm).

The suite's data is throwaway and nothing in it tests the disk itself (durability is
tested by killing processes, which tmpfs survives the same way), so a run puts its pytest
base folder and TMPDIR (the servers' and daemons' temporary files) in one fresh folder
under /dev/shm when that has room, and removes the folder at the end. Without room, or
with SLUICE_TEST_TMPDIR=disk, the run uses pytest's own folders as before;
SLUICE_TEST_TMPDIR=PATH puts the run's folder under PATH.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: What a full run holds at its peak (three workers' clusters, daemons' folders), with
#: room to spare; below it the run stays on disk rather than fill the machine's memory.
NEEDED_BYTES = 8 * 1024**3

MEMORY_FOLDER = Path("/dev/shm")

#: Set for the workers by the run that made the folder, so they share it.
_RUN_FOLDER_ENV = "SLUICE_TEST_RUN_FOLDER"


def _room(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def chosen_parent() -> Path | None:
    """The folder the run's own folder goes under, or None for pytest's defaults."""
    wanted = os.environ.get("SLUICE_TEST_TMPDIR", "")
    if wanted == "disk":
        return None
    if wanted:
        return Path(wanted)
    if MEMORY_FOLDER.is_dir() and _room(MEMORY_FOLDER) >= NEEDED_BYTES:
        return MEMORY_FOLDER
    return None


def make_run_folder() -> Path | None:
    """A fresh folder for this run (pytest's base folder and TMPDIR inside), or None.

    Made once, by the controlling process; the workers it starts inherit TMPDIR and the
    folder's name through the environment."""
    if os.environ.get(_RUN_FOLDER_ENV):
        return None
    parent = chosen_parent()
    if parent is None:
        return None
    run = Path(tempfile.mkdtemp(prefix="sluice-tests-", dir=parent))
    temporary = run / "tmp"
    temporary.mkdir()
    # Open like /tmp: PostgreSQL's initdb runs as `postgres` when the suite runs as root,
    # and must reach its folder under TMPDIR.
    run.chmod(0o755)
    temporary.chmod(0o1777)
    os.environ[_RUN_FOLDER_ENV] = str(run)
    os.environ["TMPDIR"] = str(temporary)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    return run


def remove_run_folder(run: Path) -> None:
    shutil.rmtree(run, ignore_errors=True)
