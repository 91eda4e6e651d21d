"""Arrow Flight DoPut against a real daemon, driven by pyarrow.flight's own client in a
separate process (tests/integration/flight_put_client.py): records pushed in become an
export, acked per durable chunk, resumable by requestId, each record exactly once."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import polars as pl
import pyarrow as pa
import pyarrow.flight as pa_flight
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.server.flight.ipc_codec import batch_payload, schema_payload
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc as pb_grpc
from tests.daemon import Daemon, run_cli
from tests.integration import flight_helpers
from tests.integration.flight_helpers import (
    PASSPHRASE,
    command,
    expected,
    finish,
    put,
)
from tests.integration.helpers import load_manifest, read_export

#: The shared fixture, under the name the tests ask for.
flight_daemon = flight_helpers.flight_daemon
reap_clients = flight_helpers.reap_clients
pytestmark = [pytest.mark.integration, pytest.mark.slow]
TYPED_CLIENT = Path(__file__).with_name("flight_typed_put_client.py")


def acks_until(process: subprocess.Popen[str], committed: int) -> list[dict[str, Any]]:
    """Read the client's acks until one reports at least `committed` records."""
    assert process.stdout is not None
    acks = []
    for line in process.stdout:
        acks.append(json.loads(line))
        if acks[-1].get("committed_records", 0) >= committed:
            return acks
    raise AssertionError(f"the put ended before {committed} records were committed: {acks}")


def assert_exactly_once(manifest_uri: str, rows: int) -> None:
    records = read_export(manifest_uri)
    assert records["id"].to_list() == list(range(rows))
    assert records.equals(expected(rows).select(records.columns))
    assert load_manifest(manifest_uri)["totals"]["records"] == rows


def test_put_with_redaction_and_encryption_reads_back_equal(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    rows = 200_000
    cmd = command(
        flight_daemon,
        "put-encrypted",
        output={"format": "parquet"},
        chunking={"maxRows": 50_000},
        redaction={"rules": [{"column": "email", "action": "drop"}]},
        encryption={"agePassphraseRef": "pp"},
    )
    acks = finish(put(flight_daemon, cmd, rows, "20000"))
    export_id = acks[0]["export_id"]
    assert acks[0] == {"export_id": export_id, "committed_records": 0}
    committed = [a["committed_records"] for a in acks[1:-1]]
    assert committed == sorted(committed) and committed[-1] == rows
    final = acks[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == rows
    manifest = load_manifest(final["manifest_uri"])
    assert manifest["source"]["format"] == "flight"
    assert manifest["output"]["encryption"]["passphrase"] is True
    assert [c["records"] for c in manifest["chunks"]] == [50_000] * 4
    out = tmp_path / "back.parquet"
    manifest_file = final["manifest_uri"].removeprefix("file://")
    result = run_cli(
        flight_daemon,
        *["export", "read", manifest_file, "--passphrase-env", "PP"],
        *["--format", "parquet", "-o", str(out)],
        env={"PP": PASSPHRASE},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert pl.read_parquet(out).equals(expected(rows).drop("email"))
    # The same request again: nothing is exported twice, the caller learns the outcome.
    again = finish(put(flight_daemon, cmd, rows))
    assert again == [final]


def test_killed_client_resumes_with_the_same_request_id_exactly_once(
    flight_daemon: Daemon,
) -> None:
    rows = 120_000
    cmd = command(flight_daemon, "put-killed", chunking={"maxRows": 10_000})
    first = put(flight_daemon, cmd, rows, "2000", "--hold-after=70000")
    acks_until(first, 30_000)
    first.kill()
    first.wait()
    resumed = finish(put(flight_daemon, cmd, rows, "3000"))
    assert resumed[0]["export_id"] == resumed[-1]["export_id"]
    assert 30_000 <= resumed[0]["committed_records"] <= 70_000
    assert resumed[-1]["state"] == "succeeded"
    assert_exactly_once(resumed[-1]["manifest_uri"], rows)


def test_daemon_killed_mid_put_resumes_after_restart_exactly_once(
    flight_daemon: Daemon,
) -> None:
    rows = 120_000
    cmd = command(flight_daemon, "put-crash", chunking={"maxRows": 10_000})
    first = put(flight_daemon, cmd, rows, "2000", "--hold-after=70000")
    acks_until(first, 30_000)
    flight_daemon.kill()
    first.kill()
    first.wait()
    flight_daemon.start()
    resumed = finish(put(flight_daemon, cmd, rows, "2500"))
    assert 30_000 <= resumed[0]["committed_records"] <= 70_000
    assert resumed[-1]["state"] == "succeeded"
    assert_exactly_once(resumed[-1]["manifest_uri"], rows)


def _flight_data(payload: Any, descriptor: fl.FlightDescriptor | None = None) -> fl.FlightData:
    data = fl.FlightData(data_header=payload.header, data_body=payload.body)
    if descriptor is not None:
        data.flight_descriptor.CopyFrom(descriptor)
    return data


def _raw_put(daemon: Daemon, messages: list[fl.FlightData]) -> list[bytes]:
    with daemon.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        return [r.app_metadata for r in stub.DoPut(iter(messages), timeout=60)]


def test_schema_change_mid_stream_is_invalid_argument_and_its_export_fails_at_once(
    flight_daemon: Daemon,
) -> None:
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(flight_daemon, "put-schema").encode()
    )
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    other = pa.schema([("id", pa.string())])
    messages = [
        _flight_data(schema_payload(batch.schema), descriptor),
        _flight_data(batch_payload(batch)),
        _flight_data(schema_payload(other)),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(flight_daemon, messages)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "schema changed mid-stream" in caught.value.details()
    # The export fails with the refusal (it waited for a resume, holding a run slot, for
    # flight_put_idle_timeout, and then ended cancelled).
    with ExportClient(flight_daemon.address) as client:
        (job,) = [j for j in client.list() if j.request_id == "put-schema"]
        deadline = time.monotonic() + 120
        while client.get(job.id).state != pb.EXPORT_STATE_FAILED and time.monotonic() < deadline:
            time.sleep(0.2)
        failed = client.get(job.id)
        assert failed.state == pb.EXPORT_STATE_FAILED
        assert failed.error.code == "INVALID_ARGUMENT"
        assert "schema changed mid-stream" in failed.error.message
    # The same request id resumes the failed export: nothing was committed, so all
    # rows are sent again, and it succeeds.
    answers = [json.loads(a) for a in _raw_put(flight_daemon, messages[:2])]
    assert answers[0] == {"export_id": job.id, "committed_records": 0}
    assert answers[-1]["state"] == "succeeded" and answers[-1]["committed_records"] == 3


def test_a_put_export_resumes_only_by_a_put_not_by_resume_export(
    flight_daemon: Daemon,
) -> None:
    """ResumeExport requeued a DoPut export that nothing feeds: a principal could hold
    every run slot with its broken puts (review33 probe_resume_put.py)."""
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(flight_daemon, "put-not-resumed").encode()
    )
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    messages = [
        _flight_data(schema_payload(batch.schema), descriptor),
        _flight_data(batch_payload(batch)),
        _flight_data(schema_payload(pa.schema([("id", pa.string())]))),
    ]
    with pytest.raises(grpc.RpcError):
        _raw_put(flight_daemon, messages)
    with ExportClient(flight_daemon.address) as client:
        (job,) = [j for j in client.list() if j.request_id == "put-not-resumed"]
        deadline = time.monotonic() + 120
        while client.get(job.id).state != pb.EXPORT_STATE_FAILED and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get(job.id).state == pb.EXPORT_STATE_FAILED
    said = "a DoPut export resumes by a DoPut with the same request id"
    with flight_daemon.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.ExportServiceStub(channel).ResumeExport(
            pb.ResumeExportRequest(id=job.id), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert said in caught.value.details(), caught.value.details()
    cli = run_cli(flight_daemon, "export", "resume", job.id)
    assert cli.returncode != 0 and said in cli.stderr, (cli.returncode, cli.stderr)
    with ExportClient(flight_daemon.address) as client:
        assert client.get(job.id).state == pb.EXPORT_STATE_FAILED  # not queued, no slot
    # A put with the same request id resumes it still.
    answers = [json.loads(a) for a in _raw_put(flight_daemon, messages[:2])]
    assert answers[0] == {"export_id": job.id, "committed_records": 0}
    assert answers[-1]["state"] == "succeeded" and answers[-1]["committed_records"] == 3


def test_a_put_again_with_another_schema_says_the_schema_differs(daemon: Daemon) -> None:
    """The same requestId with another schema was refused as "already used for a
    different export request", which named neither the cause nor the way on."""
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(daemon, "put-other-schema").encode()
    )
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    answers = _raw_put(
        daemon,
        [
            _flight_data(schema_payload(batch.schema), descriptor),
            _flight_data(batch_payload(batch)),
        ],
    )
    assert json.loads(answers[-1])["state"] == "succeeded"
    other = pa.record_batch({"id": pa.array(["1", "2", "3"])})
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(
            daemon,
            [
                _flight_data(schema_payload(other.schema), descriptor),
                _flight_data(batch_payload(other)),
            ],
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details()
    assert details.startswith("FlightData: the stream's schema differs"), details
    assert "requestId 'put-other-schema'" in details


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (b"not json", "FlightDescriptor.cmd"),
        (b'{"spec": {"source": {"uri": "/etc/passwd"}}}', "FlightDescriptor.cmd.spec.source"),
        (b'{"spec": {"destination": {"uri": "/elsewhere", "dataset": "x"}}}', "spec.destination"),
        (b'{"spec": ' * 100_000, "FlightDescriptor.cmd"),  # nested past the stack: was INTERNAL
        (b" " * (2 << 20), "FlightDescriptor.cmd"),
    ],
)
def test_bad_put_commands_are_invalid_argument(daemon: Daemon, cmd: bytes, field: str) -> None:
    descriptor = fl.FlightDescriptor(type=fl.FlightDescriptor.CMD, cmd=cmd)
    schema = pa.schema([("id", pa.int64())])
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(daemon, [_flight_data(schema_payload(schema), descriptor)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field), caught.value.details()


@pytest.mark.parametrize("on_bad_rows", ["skip", "fail"])
def test_a_put_asking_for_on_bad_rows_is_refused_naming_it(
    daemon: Daemon, on_bad_rows: str
) -> None:
    """on_bad_rows is about reading a source; a put's rows arrive as Arrow batches taken
    whole (one of another schema is refused), so there is no row to skip: a put that
    asks was taken and the field ignored. It is refused at its start, from pyarrow's own
    Flight client and from Sluice's (which dropped the field unsent), exporting nothing."""
    cmd = command(daemon, f"bad-rows-{on_bad_rows}", source={"onBadRows": on_bad_rows})
    table = expected(1000).to_arrow()
    client = pa_flight.connect(f"grpc://{daemon.address}")
    with pytest.raises(pa.ArrowInvalid) as refused:
        writer, reader = client.do_put(pa_flight.FlightDescriptor.for_command(cmd), table.schema)
        reader.read()
        for batch in table.to_batches(max_chunksize=100):
            writer.write_batch(batch)
        writer.done_writing()
        while reader.read() is not None:
            pass
        writer.close()
    message = str(refused.value)
    assert "FlightDescriptor.cmd.spec.source.on_bad_rows" in message, message
    client.close()

    spec = ExportClient.build_spec(
        source="", to=str(daemon.exports), dataset="pushed", on_bad_rows=on_bad_rows
    )
    with ExportClient(daemon.address) as sluice:
        with pytest.raises(InvalidArgumentError, match=r"spec\.source\.on_bad_rows"):
            sluice.put(spec, table.to_batches(max_chunksize=100))
        assert list(sluice.list()) == []
    assert not (daemon.exports / "pushed").exists()


@pytest.mark.parametrize(
    "app_metadata",
    [b"{'end_of_records': true}", b'{"end_of_records": 1}', b"end_of_records"],
)
def test_an_end_of_records_marker_written_wrong_is_invalid_argument(
    daemon: Daemon, app_metadata: bytes
) -> None:
    """A marker the daemon cannot read is the caller's mistake, not a plain put's own
    metadata: taken as one, the put's end would be the half-close it meant to avoid."""
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(daemon, "put-bad-marker").encode()
    )
    batch = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    marked = _flight_data(batch_payload(batch))
    marked.app_metadata = app_metadata
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(daemon, [_flight_data(schema_payload(batch.schema), descriptor), marked])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("FlightData.app_metadata"), caught.value.details()


@pytest.mark.parametrize(
    ("first", "field"),
    [
        (b"\x12\x05ab", "FlightData"),  # a field longer than the message
        (b"\x0a\x02\xff\xff", "FlightData.flight_descriptor"),  # not a FlightDescriptor
    ],
)
def test_bytes_that_are_not_flight_data_are_invalid_argument(
    daemon: Daemon, first: bytes, field: str
) -> None:
    """DoPut reads FlightData by hand (no copies); what protobuf would refuse is refused
    as the caller's mistake, not INTERNAL."""
    with daemon.channel() as channel:
        do_put = channel.stream_stream(
            "/arrow.flight.protocol.FlightService/DoPut",
            request_serializer=bytes,
            response_deserializer=fl.PutResult.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(do_put(iter([first]), timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field), caught.value.details()


def test_a_message_over_the_receive_limit_is_resource_exhausted(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    small = daemon_factory("small", grpc_max_receive_message_length=1024 * 1024)
    small.start()
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(small, "put-big").encode()
    )
    batch = pa.record_batch({"text": pa.array(["x" * (2 * 1024 * 1024)])})
    messages = [
        _flight_data(schema_payload(batch.schema), descriptor),
        _flight_data(batch_payload(batch)),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(small, messages)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_cancel_action_ends_a_waiting_put_at_once(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    patient = daemon_factory("patient", batch_rows=2048, flight_put_idle_timeout=600)
    patient.start()
    client = put(
        patient,
        command(patient, "put-cancel", chunking={"maxRows": 5_000}),
        50_000,
        "1000",
        "--hold-after=12000",
    )
    (first, *_) = acks_until(client, 10_000)
    began = time.monotonic()
    with patient.channel() as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        body = json.dumps({"export_id": first["export_id"]}).encode()
        (result,) = list(stub.DoAction(fl.Action(type="cancel", body=body), timeout=60))
    assert json.loads(result.body)["state"] == "cancelled"
    assert time.monotonic() - began < 15
    client.kill()
    client.wait()


def test_a_put_batch_longer_than_a_pipeline_batch_with_an_array_holding_nulls_reads_back(
    flight_daemon: Daemon,
) -> None:
    """The daemon cuts a received batch into pipeline batches (65,536 rows): Polars failed
    on a slice of a fixed-size list column with nulls ('validity mask length must be
    equal...'), so the put failed at its second slice (server/pipeline/reader.py _frame)."""
    rows = 70_000
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD,
        cmd=command(flight_daemon, "put-array", output={"format": "parquet"}).encode(),
    )
    values = pa.array([i if i % 5 else None for i in range(rows * 2)], pa.int64())
    missing = pa.array([i % 7 == 3 for i in range(rows)])
    batch = pa.record_batch(
        {
            "id": pa.array(range(rows), pa.int64()),
            "pair": pa.FixedSizeListArray.from_arrays(values, 2, mask=missing),
        }
    )
    answers = [
        json.loads(a)
        for a in _raw_put(
            flight_daemon,
            [
                _flight_data(schema_payload(batch.schema), descriptor),
                _flight_data(batch_payload(batch)),
            ],
        )
    ]
    final = answers[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == rows, answers
    records = read_export(final["manifest_uri"])
    sent = pl.from_arrow(batch)
    assert isinstance(sent, pl.DataFrame)
    assert records.schema["pair"] == pl.Array(pl.Int64, 2)
    assert records.equals(sent)
    assert records["pair"].null_count() == rows // 7


@pytest.mark.parametrize(
    ("bad", "difference"),
    [
        ({"id": [4, 5, 6], "secret": ["s1", "s2", "s3"]}, "2 field nodes, 1 field node more"),
        ({}, "0 field nodes, 1 field node fewer"),
    ],
)
def test_a_put_batch_with_other_columns_is_refused_naming_it_and_the_put_resumes(
    daemon: Daemon, bad: dict[str, list[Any]], difference: str
) -> None:
    """pyarrow reads the schema's columns from a batch and ignored any after them: a
    batch with an extra column was accepted and the column dropped without a word."""
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(daemon, "put-extra-column").encode()
    )
    good = pa.record_batch({"id": pa.array([1, 2, 3], pa.int64())})
    other = pa.record_batch(bad) if bad else pa.RecordBatch.from_pylist([])
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(
            daemon,
            [
                _flight_data(schema_payload(good.schema), descriptor),
                _flight_data(batch_payload(good)),
                _flight_data(batch_payload(other)),
            ],
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details()
    said = f"FlightData: batch 1 of this DoPut: a record batch holds {difference}"
    # Said by the put's own refusal, or (when the failed export ends the stream first,
    # under load) as "export ID failed: <the same words>".
    assert details.startswith(said) or f" failed: {said}" in details, details
    assert "(1 column: id)" in details
    # What the refused put committed stays: the same request id continues it.
    rest = pa.record_batch({"id": pa.array([4, 5, 6], pa.int64())})
    with ExportClient(daemon.address) as client:
        final = client.put(
            pb.ExportSpec(destination=pb.Destination(uri=str(daemon.exports), dataset="pushed")),
            pa.Table.from_batches([good, rest]),
            "put-extra-column",
        )
    assert final["state"] == "succeeded"
    records = read_export(final["manifest_uri"])
    assert records.columns == ["id"] and records["id"].to_list() == [1, 2, 3, 4, 5, 6]


def _typed_puts(daemon: Daemon, *cases: str) -> list[dict[str, Any]]:
    """Run flight_typed_put_client.py (pyarrow.flight's own DoPut) with `cases`."""
    result = subprocess.run(
        [sys.executable, str(TYPED_CLIENT), daemon.address, str(daemon.exports), *cases],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_refused_puts_leave_the_daemon_free_for_the_next_put(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Each put refused for a message it sent left its export waiting for a resume,
    holding one of max_concurrent_exports run slots for flight_put_idle_timeout: after
    two, every later DoPut queued behind them and hung until its deadline."""
    daemon = daemon_factory(
        "refused", batch_rows=2048, max_concurrent_exports=2, flight_put_idle_timeout=300.0
    )
    daemon.start()
    answers = _typed_puts(daemon, "dictionary:30", "int64")
    refusals = {(a["case"], a.get("code")) for a in answers[:-1]}
    assert refusals == {("dictionary", "INVALID_ARGUMENT")}
    assert answers[-1] == {"case": "int64", "state": "succeeded", "committed": 5}
    with ExportClient(daemon.address) as client:
        states = {j.state for j in client.list() if j.request_id.startswith("dictionary-")}
    assert states == {pb.EXPORT_STATE_FAILED}


@pytest.mark.parametrize(
    ("case", "shown"),
    [
        ("sparse_union", "sparse_union<0: int64=0, 1: string=1>"),
        ("run_end_encoded", "run_end_encoded<run_ends: int32, values: string>"),
        ("list_view", "list_view<item: int64>"),
        ("decimal256", "decimal256(50, 2)"),
        # Polars panics importing it (a BaseException): refused by planning's check.
        ("month_day_nano", "month_day_nano_interval"),
    ],
)
def test_a_put_of_a_type_the_daemon_cannot_export_is_invalid_argument_naming_the_column(
    daemon: Daemon, case: str, shown: str
) -> None:
    """Such a schema reached the planner's message for file sources (an IndexError on a
    stream's files: INTERNAL), and decimal256 panicked Polars at the first batch."""
    (answer,) = _typed_puts(daemon, case)
    assert answer["code"] == "INVALID_ARGUMENT", answer
    # decimal256 is refused first by planning's check of every source's columns (w31-out:
    # "column 'a' has type decimal256(50, 2), which Sluice cannot read"), the others by
    # the stream's own check; both name the column and its type.
    said = f"column 'a' has type {shown}, which "
    assert said in answer["message"], answer


def test_a_batch_header_longer_than_its_buffers_is_invalid_argument(daemon: Daemon) -> None:
    """pyarrow raises this read error as a plain OSError, which the put took for a
    broken stream: the call hung until the client's deadline."""
    batch = pa.record_batch({"id": pa.array(range(10), pa.int64())})
    payload = batch_payload(batch)
    header = bytearray(payload.header)
    at = header.find(struct.pack("<q", 10))  # the batch's length
    header[at : at + 8] = struct.pack("<q", 11)
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=command(daemon, "put-long-header").encode()
    )
    messages = [
        _flight_data(schema_payload(batch.schema), descriptor),
        fl.FlightData(data_header=bytes(header), data_body=payload.body),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        _raw_put(daemon, messages)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    said = "FlightData: batch 0 of this DoPut: a record batch does not match the stream's schema"
    assert caught.value.details() == said
