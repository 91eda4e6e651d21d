"""Arrow Flight reads of committed exports against a real daemon, with pyarrow.flight's
own client in a separate process (tests/integration/flight_get_client.py): DoGet of the
whole export and of each GetFlightInfo endpoint give back the records pushed in."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import grpc
import polars as pl
import pytest

from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from tests.daemon import Daemon, run_cli
from tests.integration import flight_helpers
from tests.integration.flight_helpers import (
    command,
    expected,
    finish,
    get,
    put,
)
from tests.integration.helpers import manifest_path
from tests.python_stacks import python_threads
from tests.waiting import until

#: The shared fixture, under the name the tests ask for.
flight_daemon = flight_helpers.flight_daemon
reap_clients = flight_helpers.reap_clients
pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 30_000


def pushed(daemon: Daemon, request_id: str, **spec: Any) -> dict[str, Any]:
    """Push ROWS records through DoPut; the final PutResult."""
    spec.setdefault("chunking", {"maxRows": 8_000})
    acks = finish(put(daemon, command(daemon, request_id, **spec), ROWS))
    return acks[-1]


def raw_get(daemon: Daemon, ticket: dict[str, Any]) -> list[fl.FlightData]:
    with daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        return list(stub.DoGet(fl.Ticket(ticket=json.dumps(ticket).encode()), timeout=60))


@pytest.mark.parametrize(
    "spec",
    [
        {"output": {"format": "jsonl", "compression": "zstd"}},
        {"output": {"format": "parquet"}, "encryption": {"agePassphraseRef": "pp"}},
        {"output": {"format": "arrow", "compression": "gzip"}},
        {"output": {"format": "json", "compression": "zstd"}},
        # Chunks that are their own plaintext: decoded straight from memory.
        {"output": {"format": "parquet"}},
        {"output": {"format": "arrow", "compression": "none"}},
    ],
    ids=[
        "jsonl-zstd",
        "parquet-age-passphrase",
        "arrow-gzip",
        "json-document-zstd",
        "parquet",
        "arrow-uncompressed",
    ],
)
def test_do_get_and_endpoints_equal_the_records_pushed(
    flight_daemon: Daemon, tmp_path: Path, spec: dict[str, Any]
) -> None:
    # One export per spec (request ids named by length alone collided: 54 for three).
    request_id = "get-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    final = pushed(flight_daemon, request_id, **spec)
    export_id = final["export_id"]
    answer = get(flight_daemon, "pushed", export_id, tmp_path)
    assert "error" not in answer, answer
    assert answer["records"] == ROWS
    assert answer["endpoints"] == [{"export_id": export_id, "chunk": n} for n in range(4)]
    assert answer["schema_is_info_schema"] and answer["schema_is_data_schema"]
    assert export_id in answer["flights"]
    assert answer["actions"] == ["cancel", "get"]
    assert answer["get"]["state"] == "succeeded"
    assert answer["get"]["manifest_uri"] == final["manifest_uri"]
    for name in ("whole.parquet", "endpoints.parquet"):
        records = pl.read_parquet(tmp_path / name)
        assert records.equals(expected(ROWS).cast(dict(records.schema))), name


def test_corrupt_chunk_is_data_loss_naming_it_and_nothing_of_it_is_sent(
    flight_daemon: Daemon,
) -> None:
    final = pushed(flight_daemon, "get-corrupt", output={"format": "parquet"})
    folder = manifest_path(final["manifest_uri"]).parent
    chunk = sorted(folder.glob("part-000001.*"))[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(grpc.RpcError) as caught:
        raw_get(flight_daemon, {"export_id": final["export_id"], "chunk": 1})
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert "chunk 1 (part-000001" in caught.value.details()
    # The whole export: chunk 0's records, then DATA_LOSS before any of chunk 1's.
    sent: list[fl.FlightData] = []
    with flight_daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        ticket = fl.Ticket(ticket=json.dumps({"export_id": final["export_id"]}).encode())
        with pytest.raises(grpc.RpcError) as caught:
            sent.extend(stub.DoGet(ticket, timeout=60))
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert len(sent) >= 2  # the schema, then chunk 0's batches
    # Chunk 0 is still served on its own.
    assert raw_get(flight_daemon, {"export_id": final["export_id"], "chunk": 0})


def test_recipient_encrypted_export_points_to_export_read(flight_daemon: Daemon) -> None:
    key = flight_daemon.root / "identity.txt"
    recipient = run_cli(flight_daemon, "keygen", "-o", str(key)).stdout.strip()
    final = pushed(flight_daemon, "get-recipient", encryption={"ageRecipients": [recipient]})
    with pytest.raises(grpc.RpcError) as caught:
        raw_get(flight_daemon, {"export_id": final["export_id"]})
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "sluice export read" in caught.value.details()


def test_a_format_for_people_is_failed_precondition_naming_what_do_get_serves(
    flight_daemon: Daemon,
) -> None:
    final = pushed(flight_daemon, "get-yaml", output={"format": "yaml"})
    with pytest.raises(grpc.RpcError) as caught:
        raw_get(flight_daemon, {"export_id": final["export_id"]})
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = caught.value.details()
    assert "is yaml" in details and "arrow, csv, json, jsonl, parquet" in details, details


@pytest.mark.parametrize(
    ("ticket", "code"),
    [
        (b"nope", grpc.StatusCode.INVALID_ARGUMENT),
        (b'{"export_id": "20200101T000000Z-000000000000"}', grpc.StatusCode.NOT_FOUND),
        (b'{"export_id": "x", "chunk": -1}', grpc.StatusCode.INVALID_ARGUMENT),
        # Nested past Python's recursion limit (was INTERNAL), and far too long.
        (b"[" * 100_000, grpc.StatusCode.INVALID_ARGUMENT),
        (b'{"export_id": "' + b"x" * 5_000 + b'"}', grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_tickets(daemon: Daemon, ticket: bytes, code: grpc.StatusCode) -> None:
    with daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.DoGet(fl.Ticket(ticket=ticket), timeout=30))
    assert caught.value.code() == code, caught.value.details()


def test_unserved_calls_are_unimplemented_with_a_message(daemon: Daemon) -> None:
    with daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.DoExchange(iter([fl.FlightData()]), timeout=30))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "DoPut" in caught.value.details()


def _threads(daemon: Daemon) -> int:
    assert daemon.process is not None
    return len(os.listdir(f"/proc/{daemon.process.pid}/task"))


def _settled(daemon: Daemon) -> bool:
    """No DoGet thread is left (its read-ahead, its fetches) and every gRPC worker waits
    for its next call: the next call then takes one of them, where a worker still
    finishing the last call would have it start another (a thread that stays)."""
    assert daemon.process is not None
    threads = python_threads(daemon.process.pid)
    if threads is None:
        return False
    for thread in threads:
        if thread.name.startswith(("flight-get", "flight-fetch")):
            return False
        if thread.name.startswith("grpc_") and thread.frames[:1] != ("_worker",):
            return False
    return True


def test_a_do_get_cancelled_midway_leaves_no_thread_behind(flight_daemon: Daemon) -> None:
    """DoGet prepares batches on a thread of its own (server/flight/read_ahead.py): a
    client that goes away mid-stream must not leave it waiting, and the next DoGet reads
    everything."""
    final = pushed(flight_daemon, "get-cancelled", output={"format": "parquet"})
    ticket = fl.Ticket(ticket=json.dumps({"export_id": final["export_id"]}).encode())
    whole = raw_get(flight_daemon, {"export_id": final["export_id"]})  # warms the workers
    until(lambda: _settled(flight_daemon), "the first DoGet's threads never settled", within=20)
    baseline = _threads(flight_daemon)
    with flight_daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        call = stub.DoGet(ticket, timeout=60)
        next(call), next(call)  # the schema and the first batch
        call.cancel()
    until(
        lambda: _threads(flight_daemon) <= baseline,
        f"the cancelled DoGet left threads (more than {baseline})",
        within=20,
    )
    again = raw_get(flight_daemon, {"export_id": final["export_id"]})
    assert [m.SerializeToString() for m in again] == [m.SerializeToString() for m in whole]
