"""A daemon stops on SIGTERM whichever of its threads the kernel hands the signal to.

A signal sent to a process goes to any one thread that does not block it, and CPython
runs the Python handler only on the main thread once that thread runs again: a main
thread asleep in a wait without a timeout never did, so the daemon went on serving until
Kubernetes' SIGKILL (seen as a 30 s hang of a replica test in 1 of 5 runs). The test
sends the signal to one named thread (tgkill), the way the kernel may pick it."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

import pytest

from tests.daemon import Daemon

pytestmark = pytest.mark.integration

_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}


def _tgkill(pid: int, tid: int, signum: int) -> None:
    number = _SYS_TGKILL.get(os.uname().machine)
    if number is None:
        pytest.skip(f"no tgkill syscall number for {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")


def _threads_taking(pid: int, signum: int) -> list[int]:
    """The daemon's threads other than the main one that do not block `signum`: those
    the kernel may hand a signal sent to the process (a thread blocking it would keep a
    thread-directed one pending forever)."""
    taking = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        tid = int(task.name)
        try:
            status = (task / "status").read_text()
        except OSError:
            continue  # ended meanwhile
        blocked = int(
            next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
        )
        if tid != pid and not blocked & (1 << (signum - 1)):
            taking.append(tid)
    return sorted(taking)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_taken_by_any_thread_stops_the_daemon(daemon_factory, signum: int) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("signals")
    daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    # The oldest such thread (long-lived, unlike a gRPC worker that may end before the
    # signal reaches it), never the main one.
    threads = _threads_taking(pid, signum)
    assert threads, "no thread but the main one may take the signal"
    _tgkill(pid, threads[0], signum)
    deadline = time.monotonic() + 15
    while daemon.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    exited = daemon.process.poll()
    if exited is None:
        daemon.kill()
    assert exited == 0, (
        f"still running 15 s after {signal.Signals(signum).name}: {daemon.log_tail()}"
    )
    assert "stopped" in daemon.log_tail()
