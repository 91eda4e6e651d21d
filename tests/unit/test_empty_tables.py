"""Which types Polars reads is asked with a table of no rows; pyarrow cannot build one
as arrays for a list of dictionaries of string views (what Polars writes for a list of
categoricals), so a DoPut of such a column was refused as unsupported."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from sluice.server.pipeline.stream_source import polars_schema

CATEGORICAL_LIST = pa.large_list(pa.dictionary(pa.uint32(), pa.string_view()))


def test_a_put_of_a_list_of_categoricals_is_read_as_polars_reads_it() -> None:
    schema = polars_schema(pa.schema([("id", pa.int64()), ("tags", CATEGORICAL_LIST)]))
    assert schema == pl.Schema({"id": pl.Int64(), "tags": pl.List(pl.Categorical())})
