"""ListSources reads each named source's schema, one after another, within the
caller's deadline: a PostgreSQL source whose server never answers is tried once, with
a short connect timeout, and listed as unreachable while the others are listed with
their columns (an export's connect retries, 4 x connect_timeout, took ~42 s per such
source and the whole listing hit the deadline)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.server.service.source_catalog import list_sources
from sluice.server.settings import Settings


class _SilentServer:
    """A TCP listener that accepts connections and never says a word."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self._listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent() -> Iterator[_SilentServer]:
    server = _SilentServer()
    yield server
    server.close()


def test_a_silent_postgresql_source_is_listed_unreachable_after_one_attempt(
    tmp_path: Path, silent: _SilentServer
) -> None:
    pytest.importorskip("psycopg")
    pl.DataFrame({"id": [1, 2]}).write_parquet(tmp_path / "local.parquet")
    settings = Settings.model_validate(
        {
            "allowed_source_roots": [tmp_path],
            "source_profiles": {"pg": {"hosts": [f"127.0.0.1:{silent.port}"], "user": "reader"}},
            "sources": {
                "silent": {
                    "uri": f"postgresql://127.0.0.1:{silent.port}/db",
                    "profile": "pg",
                    "table": "t",
                },
                "local": {"uri": str(tmp_path / "local.parquet")},
            },
        }
    )
    listings = {listing.name: listing for listing in list_sources(settings, lambda name: True)}
    assert listings["local"].columns == (("id", "int64"),)
    assert listings["local"].error == ""
    assert listings["silent"].columns == ()
    assert "unreachable" in listings["silent"].error
    assert len(silent.accepted) == 1
