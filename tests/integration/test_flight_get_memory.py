"""flight_get_memory_bytes: a cap on the chunk bytes Flight reads hold in memory across
calls. Below one chunk every call spools its chunks (the in-process check that it does
is tests/unit/test_flight_chunk_memory.py); concurrent DoGets still give back every
record, each with pyarrow.flight's own client in its own process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from tests.daemon import Daemon
from tests.integration import flight_helpers
from tests.integration.flight_helpers import command, expected, finish, get, put

reap_clients = flight_helpers.reap_clients
pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 12_000


def test_concurrent_do_gets_past_the_memory_cap_return_every_record(
    daemon_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    daemon: Daemon = daemon_factory("capped", batch_rows=2048, flight_get_memory_bytes=1)
    daemon.start()
    spec = {"output": {"format": "parquet"}, "chunking": {"maxRows": 4_000}}
    final = finish(put(daemon, command(daemon, "capped-get", **spec), ROWS))[-1]
    export_id = final["export_id"]

    def read(n: int) -> dict[str, object]:
        (tmp_path / f"client-{n}").mkdir()
        return get(daemon, "pushed", export_id, tmp_path / f"client-{n}")

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(read, range(3)))
    for n, answer in enumerate(answers):
        assert "error" not in answer, answer
        assert answer["records"] == ROWS
        for name in ("whole.parquet", "endpoints.parquet"):
            records = pl.read_parquet(tmp_path / f"client-{n}" / name)
            assert records.equals(expected(ROWS).cast(dict(records.schema))), name
