"""FlightData serialized by hand (sluice.flight.ipc.flight_data_wire, what DoGet sends)
is byte for byte what protobuf serializes for the same message, and decodes back to the
same records; FlightData parsed by hand (parse_flight_data, how DoPut reads) gives the
fields protobuf's parser gives, and says when bytes are not a FlightData."""

from __future__ import annotations

import mmap
import struct

import polars as pl
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pytest

from sluice.flight import Flight_pb2 as fl
from sluice.flight.ipc import (
    MAX_HEADER_BYTES,
    BatchWireWriter,
    FlightPayloadError,
    Payload,
    PayloadView,
    batch_payload,
    batch_wire,
    parse_flight_data,
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


def test_parsed_by_hand_as_protobuf_parses() -> None:
    batch = pa.record_batch({"id": pa.array(range(1000), pa.int64())})
    payload = batch_payload(batch)
    descriptor = fl.FlightDescriptor(type=fl.FlightDescriptor.CMD, cmd=b'{"requestId": "r"}')
    raw = fl.FlightData(
        flight_descriptor=descriptor,
        data_header=payload.header,
        app_metadata=b"ignored",
        data_body=payload.body,
    ).SerializeToString()
    parsed = parse_flight_data(raw)
    assert not parsed.malformed and parsed.has_descriptor
    assert fl.FlightDescriptor.FromString(parsed.descriptor) == descriptor
    assert bytes(parsed.header) == payload.header and bytes(parsed.body) == payload.body
    assert read_batch(read_message(parsed.payload), batch.schema).equals(batch)
    bare = parse_flight_data(fl.FlightData(data_header=payload.header).SerializeToString())
    assert not bare.has_descriptor and bytes(bare.body) == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"\x12\xff",  # a length that never ends
        b"\x12\x05ab",  # a field longer than the message
        b"\x0b",  # wire type 3 (groups): not in FlightData
        b"\xff" * 11,  # a varint past 64 bits
        b"\x09abc",  # a fixed 64-bit field cut short
        b"\x02\x00",  # field number 0
    ],
)
def test_bytes_that_are_not_a_flight_data_say_so(raw: bytes) -> None:
    assert parse_flight_data(raw).malformed.startswith("not a FlightData message")


def test_a_batch_whose_string_offsets_point_past_its_data_is_refused() -> None:
    batch = pa.record_batch([pa.array(["ab", "cd"])], names=["s"])
    raw = batch.serialize().to_pybytes()
    good = struct.pack("<3i", 0, 2, 4)
    assert raw.count(good) == 1
    forged = raw.replace(good, struct.pack("<3i", 0, 2, 1_000_000))
    message = pa_ipc.read_message(pa.py_buffer(forged))
    with pytest.raises(FlightPayloadError, match="does not match the stream's schema"):
        read_batch(message, batch.schema)


def test_a_data_header_declared_over_2_gib_is_refused_naming_the_limit() -> None:
    # Only the declared length: the limit is checked before the field's bytes are looked at.
    declared = b"\x12" + bytes([0x80, 0x80, 0x80, 0x80, 0x08])  # field 2, length 2**31
    malformed = parse_flight_data(declared + b"ab").malformed
    assert malformed.startswith("not a FlightData message")
    assert f"{MAX_HEADER_BYTES:,}" in malformed and "2 GiB" in malformed


def test_a_data_header_of_2_gib_is_refused_before_the_frame_is_built() -> None:
    # A lazily mapped 2 GiB: its pages are never touched, as the header is refused first
    # (the frame's int32 length once failed with struct.error, an INTERNAL in DoPut).
    with mmap.mmap(-1, MAX_HEADER_BYTES + 1) as header:
        view = memoryview(header)
        try:
            with pytest.raises(FlightPayloadError, match="2 GiB"):
                read_message(PayloadView(view, b""))
        finally:
            view.release()


def _mixed_batch(rows: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array(range(rows), pa.int64()),
            "ratio": pa.array([i / 7 for i in range(rows)], pa.float64()),
            "name": pa.array([f"name {i}" * (i % 4) for i in range(rows)], pa.large_string()),
            "code": pa.array([None if i % 5 else f"c{i}" for i in range(rows)], pa.string()),
            "tags": pa.array([[f"t{i}", "x"] for i in range(rows)], pa.list_(pa.string())),
        }
    )


@pytest.mark.parametrize("shift", range(8))
def test_a_received_body_is_read_in_place_at_any_alignment(shift: int) -> None:
    # grpc hands DoPut the message as bytes, the body wherever the protobuf put it:
    # its buffers are read there (no copy), and Polars realigns what it needs to.
    batch = _mixed_batch(3000)
    raw = b"\0" * shift + batch_wire(batch)
    start = pa.py_buffer(raw).address
    message = read_message(parse_flight_data(memoryview(raw)[shift:]).payload)
    assert start <= message.body.address < start + len(raw)
    read = read_batch(message, batch.schema)
    assert read.equals(batch)
    assert pl.from_arrow(read).equals(pl.from_arrow(batch))  # type: ignore[union-attr]


def test_a_body_shorter_than_its_header_declares_is_refused() -> None:
    payload = batch_payload(_mixed_batch(100))
    with pytest.raises(FlightPayloadError, match="not an Arrow IPC message"):
        read_message(PayloadView(payload.header, payload.body[:-8]))


def _nested_batch(rows: int) -> pa.RecordBatch:
    device = pa.StructArray.from_arrays(
        [
            pa.array([None if i % 6 == 0 else f"os{i % 3}" for i in range(rows)], pa.string()),
            pa.array(
                [[f"t{j}" for j in range(i % 4)] for i in range(rows)],
                pa.large_list(pa.large_string()),
            ),
        ],
        names=["os", "tags"],
    )
    return pa.record_batch(
        {
            **{name: _mixed_batch(rows).column(name) for name in _mixed_batch(rows).schema.names},
            "at": pa.array([i * 1_000_003 for i in range(rows)], pa.timestamp("us", tz="UTC")),
            "flag": pa.array([None if i % 7 == 0 else i % 2 == 0 for i in range(rows)], pa.bool_()),
            "device": device,
        }
    )


def test_the_stream_writer_gives_the_bytes_batch_wire_gives() -> None:
    # Slices at offsets that are not multiples of 8 make the writer rebase offsets and
    # shift validity bitmaps; the first message also carries the stream's schema, which
    # must not leak into it; an empty slice has no body.
    batch = _nested_batch(5000)
    writer = BatchWireWriter(batch.schema)
    pieces = [batch.slice(0, 1234), batch.slice(1234, 3), batch.slice(1237, 0), batch.slice(1237)]
    pieces += [batch, _nested_batch(2)]
    for piece in pieces:
        assert piece.schema.equals(batch.schema)
        wire = writer.wire(piece)
        assert wire == batch_wire(piece)
        message = parse_flight_data(wire)
        assert read_batch(read_message(message.payload), batch.schema).equals(piece)


def test_a_batch_the_stream_writer_cannot_take_goes_through_batch_wire() -> None:
    batch = _mixed_batch(100)
    other = pa.record_batch({"id": pa.array(range(5), pa.int64())})
    writer = BatchWireWriter(batch.schema)
    assert writer.wire(other) == batch_wire(other)
    assert writer.wire(batch) == batch_wire(batch)
    # A dictionary inside a list: the stream writer would send its dictionary first.
    codes = pa.array(["a", "b", "a"]).dictionary_encode()
    nested = pa.record_batch(
        {"codes": pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), codes)}
    )
    assert BatchWireWriter(nested.schema).wire(nested) == batch_wire(nested)


@pytest.mark.parametrize(
    "extra",
    [
        pa.array(["s1", "s2"]),
        pa.array([[1], [2, 3]], pa.list_(pa.int64())),
        pa.array([{"x": 1}, {"x": 2}], pa.struct([("x", pa.int64())])),
    ],
)
def test_a_batch_with_a_column_the_schema_lacks_is_refused_not_cut(extra: pa.Array) -> None:
    """pyarrow's read_record_batch reads the schema's columns and ignores the rest."""
    batch = pa.record_batch([pa.array([1, 2]), extra], names=["a", "secret"])
    message = pa_ipc.read_message(batch.serialize())
    with pytest.raises(FlightPayloadError, match=r"more than the stream's schema \(1 column: a\)"):
        read_batch(message, pa.schema([("a", pa.int64())]))


def test_view_columns_with_data_buffers_of_their_own_are_read() -> None:
    # A view column's buffer count depends on its data (variadicBufferCounts).
    batch = pa.record_batch([pa.array(["x" * 20, "y" * 30, None], pa.string_view())], names=["v"])
    message = pa_ipc.read_message(batch.serialize())
    assert read_batch(message, batch.schema).equals(batch)
