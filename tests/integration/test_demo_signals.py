"""`sluice demo` stopped by SIGTERM or SIGHUP (a timeout, a CI job cancelled, a closed
terminal) stops its daemon too: the daemon runs in its own session (a Ctrl-C meant for
the demo must not reach it mid-export), so the signal's default action left it running,
orphaned, holding the state folder and its port. A real demo process and its daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.daemon import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _daemon_of(pid: int) -> int:
    """The demo's `sluice serve` child once it runs (libraries may start others)."""
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"serve" in command:
            return int(child)
    return 0


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_demo_stopped_by_a_signal_stops_its_daemon(tmp_path: Path, signum: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    command = ["demo", "--rows", "2000", "--state-dir", str(tmp_path / "demo")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "sluice.client.cli.main", *command],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon = 0
    try:
        deadline = time.monotonic() + 240
        while not daemon and demo.poll() is None and time.monotonic() < deadline:
            daemon = _daemon_of(demo.pid)
            time.sleep(0.05)
        assert daemon, demo.communicate(timeout=60)
        demo.send_signal(signum)
        out, err = demo.communicate(timeout=120)
        assert demo.returncode == 128 + signum, (out, err)
        assert f"{signal.Signals(signum).name}: stopping the demo and its daemon" in err, err
        # The demo waited for its daemon to exit before it did.
        assert not _running(daemon), "the demo's daemon was left running"
    finally:
        demo.kill()
        demo.wait()
        if daemon and _running(daemon):
            os.kill(daemon, signal.SIGKILL)
