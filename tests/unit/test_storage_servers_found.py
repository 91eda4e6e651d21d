"""The test servers' programs are found from the environment running the tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.servers.processes import MOTO_SERVER


def test_moto_server_comes_from_the_interpreters_own_environment() -> None:
    # A git worktree has no .venv of its own; its tests run with another checkout's venv,
    # so the console script must be looked for beside the running interpreter's scripts.
    assert MOTO_SERVER.exists(), MOTO_SERVER
    assert MOTO_SERVER.parent == Path(sys.executable).parent
