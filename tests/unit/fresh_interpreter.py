"""Run code in a fresh Python interpreter: what a process imports at start is seen only
in one that has imported nothing yet (this test run has imported everything)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_fresh(code: str) -> str:
    """Run `code` (dedented) in a new interpreter; return what it printed, stripped."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()
