"""SIGUSR1 makes a running daemon print every thread's stack, and it carries on serving:
how an operator (or a test whose daemon will not stop) finds where it hangs."""

from __future__ import annotations

import signal
import time

from tests.daemon import Daemon


def test_sigusr1_dumps_every_threads_stack_and_the_daemon_keeps_serving(daemon: Daemon) -> None:
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGUSR1)
    # faulthandler writes thread after thread as it walks them: under load the file can
    # be read between two threads, so wait for the main thread's (the last one walked).
    deadline = time.monotonic() + 10
    while "main.py" not in daemon.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, daemon.log_tail()
        time.sleep(0.1)
    log = daemon.log_path.read_text(errors="replace")
    assert "most recent call first" in log
    assert "Current thread" in log or "Thread 0x" in log
    assert daemon.process.poll() is None and daemon.healthy()
    assert daemon.stop() == 0
