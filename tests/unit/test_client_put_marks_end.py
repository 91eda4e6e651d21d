"""The Python client's DoPut says where its records end (sluice.flight.end_of_records):
its first message announces the marker and an empty batch after the last carries it,
so the daemon never takes a stream that stopped for the end of the records. Checked on
the wire: the client (sluice.client._flight.put) talks to a Flight DoPut served here by
grpcio that records what arrives and answers as the daemon does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pyarrow as pa
import pytest

from sluice.client import _flight
from sluice.flight import Flight_pb2 as fl
from sluice.flight.end_of_records import ANNOUNCEMENT, MARKER
from sluice.flight.ipc import Payload, read_batch, read_message, read_schema
from sluice.v1 import export_pb2

SCHEMA = pa.schema([("id", pa.int64())])


class RecordingPut:
    """DoPut answering {"committed_records": 0} first, then the final result once the
    stream ends; keeps every FlightData received."""

    def __init__(self) -> None:
        self.received: list[fl.FlightData] = []

    def __call__(
        self, requests: Iterator[fl.FlightData], context: grpc.ServicerContext
    ) -> Iterator[fl.PutResult]:
        self.received.append(next(requests))
        yield _result({"export_id": "e", "committed_records": 0})
        for request in requests:
            self.received.append(request)
        yield _result({"export_id": "e", "committed_records": 5, "state": "succeeded"})


def _result(metadata: dict[str, object]) -> fl.PutResult:
    return fl.PutResult(app_metadata=json.dumps(metadata).encode())


@pytest.fixture
def served() -> Iterator[tuple[RecordingPut, grpc.Channel]]:
    put = RecordingPut()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    handler = grpc.stream_stream_rpc_method_handler(
        put,
        request_deserializer=fl.FlightData.FromString,
        response_serializer=fl.PutResult.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_SERVICE, {"DoPut": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield put, channel
    server.stop(0)


_SERVICE = "arrow.flight.protocol.FlightService"


def _ids(data: fl.FlightData) -> list[int]:
    payload = Payload(data.data_header, data.data_body)
    return list(read_batch(read_message(payload), SCHEMA).column(0).to_pylist())


def _batches(*sizes: int) -> list[pa.RecordBatch]:
    out, start = [], 0
    for size in sizes:
        out.append(pa.record_batch([pa.array(range(start, start + size), pa.int64())], SCHEMA))
        start += size
    return out


def test_the_first_message_announces_and_an_empty_batch_after_the_last_marks_the_end(
    served: tuple[RecordingPut, grpc.Channel],
) -> None:
    put, channel = served
    final = _flight.put(channel, export_pb2.ExportSpec(), SCHEMA, _batches(2, 2, 1), "r")
    assert final["state"] == "succeeded"
    first, *batches = put.received
    assert first.app_metadata == ANNOUNCEMENT
    assert read_schema(Payload(first.data_header, first.data_body)) == SCHEMA
    assert [b.app_metadata for b in batches] == [b"", b"", b"", MARKER]
    assert [_ids(b) for b in batches] == [[0, 1], [2, 3], [4], []]


def test_each_batch_is_sent_before_the_next_is_known(
    served: tuple[RecordingPut, grpc.Channel],
) -> None:
    """A slow or live source: its newest batch reaches the daemon (to be acked and made
    durable) without waiting for the one after it."""
    put, channel = served
    first, second = _batches(2, 3)
    arrived: list[bool] = []

    def source() -> Iterator[pa.RecordBatch]:
        yield first
        deadline = time.monotonic() + 5
        while len(put.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        arrived.append(len(put.received) >= 2)
        yield second

    _flight.put(channel, export_pb2.ExportSpec(), SCHEMA, source(), "r")
    assert arrived == [True]
    assert [_ids(b) for b in put.received[1:]] == [[0, 1], [2, 3, 4], []]


def test_with_no_batch_to_send_an_empty_one_marks_the_end(
    served: tuple[RecordingPut, grpc.Channel],
) -> None:
    """An empty source (or a resumed put whose rows are all committed) still says its
    records ended, in a batch: a daemon older than the marker refuses a message
    without data but ignores a batch's app_metadata."""
    put, channel = served
    _flight.put(channel, export_pb2.ExportSpec(), SCHEMA, [], "r")
    _, *batches = put.received
    assert [b.app_metadata for b in batches] == [MARKER]
    assert [_ids(b) for b in batches] == [[]]
