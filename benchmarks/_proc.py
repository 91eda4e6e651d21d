"""Linux /proc readings shared by the benchmark processes. Imports nothing heavy, so a
peer's own process can use it without inflating the memory it reports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")


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
    """CPU seconds (user + system) of each live thread of `pid`, by thread id.

    From schedstat's nanoseconds on CPU where the kernel has it, not stat's utime and
    stime: those count whole clock ticks (10 ms), each thread's rounded down, so a
    warm Parquet export's ~8 threads started and ended per export lost ~5 ms each to
    the rounding, ~0.05 of the ~0.1 CPU s a per-thread table could not place."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(task: Path) -> float:
        try:
            return int((task / "schedstat").read_text().split()[0]) / 1e9
        except FileNotFoundError:  # a kernel without scheduler statistics
            pass
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return _per_thread(pid, cpu)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) `pid` has used so far, all its threads together
    (Linux /proc); None where there is no such file."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    # The state may hold a "+" ("active+gil"): a thread busy in Python at that moment.
    return {int(m[1]): m[2] for m in re.finditer(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.M)}


def thread_os_names(pid: int) -> dict[int, str]:
    """Thread id -> the kernel's name of each live thread of `pid` (15 characters at
    most: native threads name themselves, e.g. gRPC's `event_engine`)."""
    return _per_thread(pid, lambda task: (task / "comm").read_text().strip())


def _per_thread(pid: int, read: Callable[[Path], _T]) -> dict[int, _T]:
    """`read` of each live thread's /proc/PID/task/TID folder, by thread id (threads that
    end meanwhile are left out)."""
    values: dict[int, _T] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return values
    for task in tasks:
        try:
            values[int(task.name)] = read(task)
        except OSError:
            continue
    return values
