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


def _other_threads(pid: int) -> list[int]:
    return sorted(
        int(task.name) for task in Path(f"/proc/{pid}/task").iterdir() if int(task.name) != pid
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_taken_by_any_thread_stops_the_daemon(daemon_factory, signum: int) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("signals")
    daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    threads = _other_threads(pid)
    assert threads, "the daemon runs more than its main thread"
    # The newest thread: a gRPC or pool worker, never the main one.
    _tgkill(pid, threads[-1], signum)
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
