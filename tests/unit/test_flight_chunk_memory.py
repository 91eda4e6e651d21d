"""The daemon-wide budget of chunk bytes Flight reads hold in memory: a chunk that fits
is read into memory and its bytes given back once read; one that does not is spooled,
with the same records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from sluice.client.cli.main import cli
from sluice.format.manifest import OutputInfo
from sluice.format.stored_objects import ChunkEntry
from sluice.server.errors import DataLoss
from sluice.server.flight.chunk_memory import ChunkMemoryBudget
from sluice.server.flight.chunk_records import (
    ChunkKeys,
    chunk_batches,
    chunks_batches,
    parquet_chunk_schema,
)
from sluice.server.settings import load_settings
from sluice.sinks.local import LocalSink

PARQUET = OutputInfo(format="parquet", compression="zstd", compression_applied="internal")


def _stored(tmp_path: Path, rows: int = 5000) -> tuple[LocalSink, ChunkEntry, pa.Table]:
    table = pa.table({"id": range(rows), "name": [f"user-{i}" for i in range(rows)]})
    folder = tmp_path / "out"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet", row_group_size=1000, compression="zstd")
    data = (folder / "part-0.parquet").read_bytes()
    chunk = ChunkEntry(0, "part-0.parquet", rows, len(data), hashlib.sha256(data).hexdigest())
    return LocalSink(folder), chunk, table


def test_reservations_stop_at_the_cap_and_count_what_spools() -> None:
    budget = ChunkMemoryBudget(100)
    assert budget.reserve(60)
    assert not budget.reserve(41)
    assert budget.reserve(40)
    budget.release(60)
    assert budget.used == 40
    assert budget.spooled == 1


@pytest.mark.parametrize("capacity", [1 << 30, 1], ids=["in-memory", "spooled"])
def test_a_chunk_reads_the_same_in_memory_or_spooled(tmp_path: Path, capacity: int) -> None:
    sink, chunk, table = _stored(tmp_path)
    budget = ChunkMemoryBudget(capacity)
    batches = chunk_batches(sink, "part-0.parquet", chunk, PARQUET, ChunkKeys(), budget)
    first = next(batches)
    # While the chunk is being read its bytes are held (or, spooled, none are).
    assert budget.used == (chunk.stored_bytes if capacity > 1 else 0)
    got = pa.Table.from_batches([first, *batches])
    assert got.equals(table)
    assert budget.used == 0
    assert budget.spooled == (0 if capacity > 1 else 1)


def test_the_footer_schema_is_left_to_the_spooled_read_when_there_is_no_room(
    tmp_path: Path,
) -> None:
    sink, chunk, table = _stored(tmp_path)
    assert (
        parquet_chunk_schema(sink, "part-0.parquet", chunk, PARQUET, ChunkMemoryBudget(1)) is None
    )
    roomy = ChunkMemoryBudget(1 << 30)
    assert parquet_chunk_schema(sink, "part-0.parquet", chunk, PARQUET, roomy) == table.schema
    assert roomy.used == 0


def test_a_corrupt_chunk_gives_its_reservation_back(tmp_path: Path) -> None:
    sink, chunk, _table = _stored(tmp_path)
    bad = ChunkEntry(0, chunk.path, chunk.records, chunk.stored_bytes, "0" * 64)
    budget = ChunkMemoryBudget(1 << 30)
    with pytest.raises(DataLoss):
        list(chunk_batches(sink, "part-0.parquet", bad, PARQUET, ChunkKeys(), budget))
    assert budget.used == 0


def test_the_cap_is_a_setting_with_env_and_flag() -> None:
    environ = {"SLUICE_FLIGHT_GET_MEMORY_BYTES": "1024"}
    assert load_settings(environ=environ).flight_get_memory_bytes == 1024
    assert load_settings(environ={}).flight_get_memory_bytes == 512 << 20
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--flight-get-memory-bytes" in help_text
    assert "SLUICE_FLIGHT_GET_MEMORY_BYTES" in help_text


def _three_chunks(tmp_path: Path) -> tuple[LocalSink, list[tuple[str, ChunkEntry]], list[pa.Table]]:
    folder = tmp_path / "three"
    folder.mkdir()
    keyed, tables = [], []
    for index in range(3):
        table = pa.table({"id": range(index * 1000, (index + 1) * 1000)})
        name = f"part-{index}.parquet"
        pq.write_table(table, folder / name, row_group_size=250)
        data = (folder / name).read_bytes()
        keyed.append(
            (name, ChunkEntry(index, name, 1000, len(data), hashlib.sha256(data).hexdigest()))
        )
        tables.append(table)
    return LocalSink(folder), keyed, tables


def test_chunks_read_one_ahead_give_the_same_records_and_every_reservation_back(
    tmp_path: Path,
) -> None:
    """DoGet fetches and verifies the next chunk while this one is decoded: the records
    and their order are those of reading each chunk alone, at most two chunks are held,
    and leaving early or on a corrupt chunk gives every reservation back."""
    sink, keyed, tables = _three_chunks(tmp_path)
    budget = ChunkMemoryBudget(1 << 30)
    read = chunks_batches(sink, keyed, PARQUET, ChunkKeys(), budget)
    pairs = list(read)
    assert [chunk.index for chunk, _ in pairs] == [0, 1, 2]
    assert pa.Table.from_batches([batch for _, batch in pairs]).equals(pa.concat_tables(tables))
    assert budget.used == 0
    sizes = [chunk.stored_bytes for _, chunk in keyed]
    early = chunks_batches(sink, keyed, PARQUET, ChunkKeys(), budget)
    next(early)
    assert budget.used <= sizes[0] + sizes[1]
    early.close()
    assert budget.used == 0
    # The second chunk does not match its manifest entry: the first chunk's records are
    # read, then DATA_LOSS names the second, and nothing stays reserved.
    name, second = keyed[1]
    tampered = [
        keyed[0],
        (name, ChunkEntry(1, name, 1000, second.stored_bytes, "0" * 64)),
        keyed[2],
    ]
    got = []
    with pytest.raises(DataLoss, match="chunk 1"):
        for chunk, _batch in chunks_batches(sink, tampered, PARQUET, ChunkKeys(), budget):
            got.append(chunk.index)
    assert got == [0]
    assert budget.used == 0
