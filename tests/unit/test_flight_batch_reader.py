"""A stream's batches are read against its schema's layout, found once per stream: looked
up per batch (functools.lru_cache keyed by the schema), hashing a 100-column schema cost
~200 us a batch, more than reading the batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pytest

from sluice.flight.batch_layout import layout_of_schema
from sluice.flight.ipc import BatchReader, FlightPayloadError


def test_a_batch_reader_finds_its_schemas_layout_once() -> None:
    columns = {f"c{i}": pa.array(range(10)) for i in range(100)}
    batch = pa.record_batch(columns)
    message = pa_ipc.read_message(batch.serialize())
    reader = BatchReader(batch.schema)
    assert reader.read(message).equals(batch)
    looked_up = layout_of_schema.cache_info()
    for _ in range(50):
        assert reader.read(message).equals(batch)
    after = layout_of_schema.cache_info()
    assert (after.hits, after.misses) == (looked_up.hits, looked_up.misses)


def test_a_batch_reader_still_refuses_a_batch_with_another_layout() -> None:
    reader = BatchReader(pa.schema([("a", pa.int64())]))
    other = pa.record_batch({"a": [1], "b": ["x"]})
    with pytest.raises(FlightPayloadError, match="2 field nodes, 1 field node more"):
        reader.read(pa_ipc.read_message(other.serialize()))
