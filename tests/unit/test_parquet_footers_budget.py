"""The footers a run keeps are bounded by the memory they take, not their size on disk
(~8 times less): past the budget a footer is read again when needed. Real Parquet files
of 50 columns x 4 row groups, opened from disk (what ParquetFooters does with a handle
does not depend on where it reads)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from sluice.server.pipeline.parquet_footers import ParquetFooters

COLUMNS, ROW_GROUPS = 50, 4


def _files(folder: Path, count: int) -> list[str]:
    table = pa.table({f"c{n}": pa.array(range(ROW_GROUPS)) for n in range(COLUMNS)})
    paths = []
    for index in range(count):
        path = folder / f"f{index}.parquet"
        pq.write_table(table, path, row_group_size=1)
        paths.append(str(path))
    return paths


def test_footers_past_the_memory_budget_are_read_again(tmp_path: Path) -> None:
    paths = _files(tmp_path, 4)
    serialized = pq.read_metadata(paths[0]).serialized_size
    # Four serialized footers fit, with room to spare; in memory, ~0.2 MiB each, not two.
    budget = 400 * 1024
    assert 4 * serialized < budget / 4
    opened: Counter[str] = Counter()

    def open_file(path: str) -> IO[bytes]:
        opened[path] += 1
        return open(path, "rb")  # ParquetFooters closes it

    footers = ParquetFooters(kept_bytes=budget)
    for _ in range(2):
        rows = [footer.num_rows for footer in footers.each(paths, open_file)]
        assert rows == [ROW_GROUPS] * 4
    # The first footer read is kept (one fits); the other three are read again.
    assert sorted(opened.values()) == [1, 2, 2, 2], opened
