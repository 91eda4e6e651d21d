"""A cloud Parquet object rewritten at the same size after planning read its footer (and
the row count and the reader's survey used the kept one): the run reads the object's
new bytes with their own footer, by column name, or fails FAILED_PRECONDITION naming
the file when they no longer hold the plan's columns, as before footers were kept;
never the new bytes with the old footer (values in other columns). S3 (moto) and Azure
(Azurite) through their real sinks."""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import ROW_INDEX, count_rows, read_schema, resolve_source
from tests.unit.cloud_stores import CloudStore, cloud_store


def _parquet(columns: dict[str, list[int]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="none", write_statistics=False)
    return buffer.getvalue()


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CloudStore:
    return cloud_store(str(request.param), request, monkeypatch)


def _planned_then_rewritten(
    store: CloudStore, rewritten: bytes
) -> tuple[Callable[[], pl.DataFrame], pl.Schema]:
    """A glob of two objects planned (footers kept: schema, row count, survey), then its
    second object rewritten with `rewritten`; the read of the glob, and the plan."""
    first = _parquet({"amount": [0], "refund": [5]})
    second = _parquet({"amount": [1, 2, 3], "refund": [10, 20, 30]})
    assert len(rewritten) == len(second)  # the same size: only the version tells
    store.put("in/a.parquet", first)
    store.put("in/b.parquet", second)
    source = resolve_source(f"{store.root}/in/*.parquet", "", [], store.profile)
    schema = read_schema(source)
    assert count_rows(source) == 4  # every footer read, and kept
    store.put("in/b.parquet", rewritten)

    def read() -> pl.DataFrame:
        frames = read_batches(source, schema, ["amount", "refund"], 100)
        return pl.concat(list(frames)).drop(ROW_INDEX)

    return read, schema


def test_an_object_rewritten_in_another_column_order_is_read_by_name(
    store: CloudStore,
) -> None:
    rewritten = _parquet({"refund": [10, 20, 30], "amount": [1, 2, 3]})
    read, _ = _planned_then_rewritten(store, rewritten)
    assert read().to_dict(as_series=False) == {"amount": [0, 1, 2, 3], "refund": [5, 10, 20, 30]}


def test_an_object_rewritten_without_a_planned_column_fails_naming_it(
    store: CloudStore,
) -> None:
    rewritten = _parquet({"amount": [1, 2, 3], "refunz": [10, 20, 30]})
    read, _ = _planned_then_rewritten(store, rewritten)
    with pytest.raises(FailedPrecondition) as failed:
        read()
    message = str(failed.value)
    assert "b.parquet" in message and "refund" in message, message
