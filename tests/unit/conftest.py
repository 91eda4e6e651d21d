"""Real storage servers (moto, Azurite) as session fixtures, for the tests that use them,
and a fresh SQLite job store for the runner tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.server.jobs.sqlite import SQLiteJobStore
from tests.servers.fixtures import azurite_server, moto_server
from tests.servers.postgres import postgres_server

__all__ = ["azurite_server", "moto_server", "postgres_server", "store"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteJobStore]:
    """A job store of its own in the test's folder (a test module's own `store` wins)."""
    opened = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()
