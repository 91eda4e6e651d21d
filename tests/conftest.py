from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[Daemon]]:
    """Make daemons rooted in this test's tmp_path; every one is stopped afterwards."""
    started: list[Daemon] = []

    def make(name: str = "d", **settings: object) -> Daemon:
        daemon = Daemon(root=tmp_path / name, settings=dict(settings))
        started.append(daemon)
        return daemon

    yield make  # type: ignore[misc]
    for daemon in started:
        try:
            daemon.stop(timeout=20)
        except Exception:
            daemon.kill()


@pytest.fixture
def daemon(daemon_factory) -> Daemon:  # type: ignore[no-untyped-def]
    """A running daemon with small batches, so modest test data spans many chunks."""
    d = daemon_factory("main", batch_rows=2048)
    d.start()
    return d
