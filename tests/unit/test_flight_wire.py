"""FlightData serialized by hand (sluice.flight.ipc.flight_data_wire, what DoGet sends)
is byte for byte what protobuf serializes for the same message, and decodes back to the
same records."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice.flight import Flight_pb2 as fl
from sluice.flight.ipc import (
    Payload,
    batch_payload,
    batch_wire,
    read_batch,
    read_message,
    schema_payload,
    schema_wire,
)


def _protobuf(payload: Payload) -> bytes:
    return fl.FlightData(data_header=payload.header, data_body=payload.body).SerializeToString()


@pytest.mark.parametrize("rows", [0, 1, 300, 70_000])
def test_batches_serialize_as_protobuf_does(rows: int) -> None:
    batch = pa.record_batch(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"row {i}" * (i % 5) for i in range(rows)]),
            "maybe": pa.array([None if i % 3 else i * 0.5 for i in range(rows)], pa.float64()),
        }
    )
    wire = batch_wire(batch)
    assert wire == _protobuf(batch_payload(batch))
    parsed = fl.FlightData.FromString(wire)
    message = read_message(Payload(parsed.data_header, parsed.data_body))
    assert read_batch(message, batch.schema).equals(batch)


def test_a_schema_serializes_as_protobuf_does() -> None:
    schema = pa.schema([("at", pa.timestamp("us", tz="UTC")), ("tags", pa.list_(pa.string()))])
    assert schema_wire(schema) == _protobuf(schema_payload(schema))
