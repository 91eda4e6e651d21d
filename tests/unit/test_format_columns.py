"""Planning's per-format column checks: every refusal is InvalidArgument naming the
column, the format and the key type, whatever characters those hold."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.planning.format_columns import check_columns_fit

KEYS = [
    pl.Struct({"a": pl.Int64}),  # its text has braces, which once went through str.format
    pl.List(pl.Int64),
    pl.Int64,
]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
@pytest.mark.parametrize("key", KEYS, ids=str)
def test_a_map_whose_keys_are_not_text_is_refused_naming_column_format_and_keys(
    fmt: str, key: pl.DataType
) -> None:
    schema = pl.Schema({"{m}": pl.Map(key, pl.Int64)})
    with pytest.raises(InvalidArgument) as refused:
        check_columns_fit(fmt, schema)
    message = str(refused.value)
    assert "'{m}'" in message and f"which {fmt} cannot write" in message
    assert f"map with {key} keys" in message


@pytest.mark.parametrize("fmt", ["xml", "yaml"])
def test_a_map_is_refused_for_formats_without_maps(fmt: str) -> None:
    with pytest.raises(InvalidArgument, match=f"holds a map, which {fmt} cannot write"):
        check_columns_fit(fmt, pl.Schema({"m": pl.Map(pl.Struct({"a": pl.Int64}), pl.Int64)}))


def test_text_keyed_maps_and_parquet_pass() -> None:
    check_columns_fit("jsonl", pl.Schema({"m": pl.Map(pl.String, pl.Int64)}))
    check_columns_fit("parquet", pl.Schema({"m": pl.Map(pl.Struct({"a": pl.Int64}), pl.Int64)}))
