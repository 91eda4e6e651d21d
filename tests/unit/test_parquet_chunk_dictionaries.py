"""A Parquet chunk's first row group is small (PARQUET_FIRST_ROWS, for its size estimate),
but its dictionaries are still chosen from the chunk's first whole batch: a column with
~10k distinct values repeats enough in 65,536 rows, not in 8,192, and chosen from those it
lost its dictionary for the whole chunk (+15% bytes in the review's measurement)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from sluice.server.pipeline.encoders import PARQUET_FIRST_ROWS
from tests.unit.exporting import export_parquet_chunks

BATCH_ROWS = 65_536
ROWS = 2 * BATCH_ROWS


def test_dictionaries_are_chosen_from_the_first_whole_batch(tmp_path: Path) -> None:
    rng = random.Random(7)
    source = tmp_path / "src" / "places.parquet"
    source.parent.mkdir()
    pl.DataFrame(
        {
            "id": range(ROWS),
            "city": [f"city-{rng.randrange(10_000)}" for _ in range(ROWS)],
            "country": [f"country-{rng.randrange(200)}" for _ in range(ROWS)],
        }
    ).write_parquet(source)
    first = pl.read_parquet(source).head(PARQUET_FIRST_ROWS)
    # The case: the small first row group alone would not give `city` a dictionary.
    assert first["city"].n_unique() > PARQUET_FIRST_ROWS // 2

    plan, sink, journal = export_parquet_chunks(tmp_path, source, 64 * 1024 * 1024, BATCH_ROWS)

    assert [c.records for c in journal.chunks] == [ROWS]
    with sink.open(plan.pipeline.chunk_key(0)) as handle:
        metadata = pq.ParquetFile(handle).metadata
    assert metadata.num_row_groups >= 2
    assert metadata.row_group(0).num_rows == PARQUET_FIRST_ROWS
    names = metadata.schema.names
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        with_dictionary = {
            names[column]
            for column in range(row_group.num_columns)
            if row_group.column(column).has_dictionary_page
        }
        assert with_dictionary == {"city", "country"}, (group, with_dictionary)
