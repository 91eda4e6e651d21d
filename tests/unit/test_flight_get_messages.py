"""DoGet's batches cut into messages of a bounded size: the same records, in order."""

from __future__ import annotations

import pyarrow as pa

from sluice.flight.ipc import parse_flight_data, read_batch, read_message
from sluice.server.flight.get_messages import message_slices, wire_messages


def _batch(rows: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array(range(rows), pa.int64()),
            "text": pa.array([f"row {i} " * 8 for i in range(rows)], pa.large_string()),
        }
    )


def test_a_big_batch_is_sliced_into_pieces_near_the_target_in_order() -> None:
    batch = _batch(10_000)
    pieces = list(message_slices(batch, batch.nbytes // 7))
    assert 7 <= len(pieces) <= 8
    assert all(p.nbytes <= batch.nbytes // 7 * 1.1 for p in pieces)
    assert pa.Table.from_batches(pieces).equals(pa.Table.from_batches([batch]))


def test_small_and_single_row_batches_pass_as_they_are() -> None:
    small = _batch(10)
    assert list(message_slices(small, 1 << 20)) == [small]
    one = _batch(1)
    assert list(message_slices(one, 1)) == [one]
    empty = _batch(0)
    assert list(message_slices(empty, 1)) == [empty]


def test_wire_messages_carry_every_record_once_in_order() -> None:
    batches = [_batch(3000), _batch(5)]
    got = []
    for wire in wire_messages(iter(batches), target_bytes=50_000):
        message = parse_flight_data(wire)
        assert not message.malformed
        got.append(read_batch(read_message(message.payload), batches[0].schema))
    assert len(got) > 2
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches(batches))
