"""Linux /proc readings shared by the benchmark processes. Imports nothing heavy, so a
peer's own process can use it without inflating the memory it reports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def high_water_mark(pid: int) -> int | None:
    """VmHWM from /proc (Linux), in bytes; None where there is no such file."""
    return _status_bytes(pid, "VmHWM:")


def resident(pid: int) -> int | None:
    """VmRSS from /proc (Linux), in bytes; None where there is no such file."""
    return _status_bytes(pid, "VmRSS:")


def _status_bytes(pid: int, field: str) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return None


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each live thread of `pid`, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[int, float] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return seconds
    for task in tasks:
        try:
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def python_thread_names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name of a running Python process, read by `py-spy dump`
    without pausing it; empty when py-spy is missing or may not attach."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not on PATH
    spy = shutil.which("py-spy") or str(beside)
    try:
        dump = subprocess.run(
            [spy, "dump", "--nonblocking", "--pid", str(pid)],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    return {int(m[1]): m[2] for m in re.finditer(r'^Thread (\d+) \(\w+\): "([^"]*)"', dump, re.M)}


def thread_os_names(pid: int) -> dict[int, str]:
    """Thread id -> the kernel's name of each live thread of `pid` (15 characters at
    most: native threads name themselves, e.g. gRPC's `event_engine`)."""
    names: dict[int, str] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return names
    for task in tasks:
        try:
            names[int(task.name)] = (task / "comm").read_text().strip()
        except OSError:
            continue
    return names
