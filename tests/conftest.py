from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.scratch_space import make_run_folder, remove_run_folder

#: This run's folder in memory (tests/scratch_space.py), made by the controlling process.
_run_folder: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest's tmp_path plugin reads the base folder, and before xdist starts its
    # workers (they inherit TMPDIR and take their base folders under this one).
    global _run_folder
    if config.option.basetemp is None:
        _run_folder = make_run_folder()
        if _run_folder is not None:
            config.option.basetemp = str(_run_folder / "pytest")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _run_folder is not None:
        remove_run_folder(_run_folder)


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
