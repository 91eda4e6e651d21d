"""Linux /proc readings shared by the benchmark processes. Imports nothing heavy, so a
peer's own process can use it without inflating the memory it reports."""

from __future__ import annotations

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
