"""What a daemon's Python threads are doing right now, read from outside by `py-spy dump`
(a development dependency): for tests that wait until a daemon has settled (a thread
ended, a worker went back to waiting for work) rather than sleeping a guessed while."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: py-spy's words when the system refuses it the process (ptrace), which no retry mends.
_DENIED = ("Permission denied", "Operation not permitted", "ptrace")


@dataclass(frozen=True)
class PythonThread:
    name: str
    #: Function names, innermost first (methods as Class.method).
    frames: tuple[str, ...]


def python_threads(pid: int) -> list[PythonThread] | None:
    """The Python threads of process `pid` and their stacks; None when this one look
    failed (a thread that ended mid-read can fail it: ask again)."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not on PATH
    spy = shutil.which("py-spy") or str(beside)
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: it comes with the dev extra")
    dumped = subprocess.run(
        [spy, "dump", "--json", "--pid", str(pid)], capture_output=True, text=True, timeout=30
    )
    if dumped.returncode != 0:
        if any(word in dumped.stderr for word in _DENIED):
            # No retry helps: fail with the cause, not a timed-out wait an instant later.
            raise RuntimeError(f"py-spy may not read process {pid}: {dumped.stderr.strip()}")
        return None
    return [
        PythonThread(str(t["thread_name"]), tuple(str(f["name"]) for f in t["frames"]))
        for t in json.loads(dumped.stdout)
    ]
