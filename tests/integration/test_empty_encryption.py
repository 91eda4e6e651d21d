"""A secret's name that is present but empty is the caller's INVALID_ARGUMENT naming the
field, never a plaintext export: a library caller who sets a secret's name to "" (a
variable that was empty) asked for encryption. Checked on every way in: CreateExport,
CreateSchedule, GDPR packages, Flight puts, the client's build_spec, and `ask` (whose
plans must not carry an Encryption message themselves). An Encryption message with
nothing in it is what clients before field presence always sent for no encryption: it
is accepted as no encryption (with a warning in the daemon's log), never refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc
import polars as pl
import pyarrow as pa
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sluice.client import ExportClient, InvalidArgumentError
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.server.flight.ipc_codec import schema_payload
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon
from tests.integration import flight_helpers
from tests.integration.flight_helpers import command, finish, put

reap_clients = flight_helpers.reap_clients
pytestmark = pytest.mark.integration

GDPR = {
    "controller": "Example Ltd",
    "contact": "privacy@example.com",
    "purposes": "Testing.",
    "retention": "A day.",
    "recipients": "Nobody.",
}


@pytest.fixture
def sealed_daemon(daemon_factory, tmp_path: Path) -> Daemon:  # type: ignore[no-untyped-def]
    (tmp_path / "pw").write_text("a zip password\n")
    daemon: Daemon = daemon_factory(
        "sealed",
        gdpr=GDPR,
        templates={"unsealed": {"description": "Packages left unencrypted"}},
    )
    daemon.sources.mkdir(parents=True, exist_ok=True)
    people = daemon.sources / "people.parquet"
    pl.DataFrame({"id": [1, 2, 3], "user_id": [42, 42, 7], "note": ["a", "b", "c"]}).write_parquet(
        people
    )
    daemon.settings["sources"] = {"people": {"uri": str(people), "subject_column": "user_id"}}
    daemon.start()
    return daemon


def _export_spec(daemon: Daemon, dataset: str) -> pb.ExportSpec:
    return pb.ExportSpec(
        source=pb.Source(uri=str(daemon.sources / "people.parquet")),
        destination=pb.Destination(uri=str(daemon.exports), dataset=dataset),
    )


def _empty_passphrase(spec: pb.ExportSpec) -> pb.ExportSpec:
    spec.encryption.age_passphrase_ref = ""
    return spec


def _empty_zip_password(spec: pb.ExportSpec) -> pb.ExportSpec:
    spec.output.compression = "zip"
    spec.encryption.zip_password_ref = ""
    return spec


def _empty_message(spec: pb.ExportSpec) -> pb.ExportSpec:
    spec.encryption.SetInParent()
    return spec


EMPTY = [
    (_empty_passphrase, "spec.encryption.age_passphrase_ref"),
    (_empty_zip_password, "spec.encryption.zip_password_ref"),
]
#: The daemon's warning for an empty Encryption message (it names nothing of the request).
OLD_CLIENT_WARNING = "spec.encryption is set but empty"


def _violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


def _nothing_written(daemon: Daemon) -> None:
    written = [p for p in daemon.exports.rglob("*") if p.is_file()]
    assert written == [], written


@pytest.mark.parametrize(("empty", "field"), EMPTY)
def test_create_export_schedule_and_package_refuse_set_but_empty_encryption(
    sealed_daemon: Daemon, empty: Callable[[pb.ExportSpec], pb.ExportSpec], field: str
) -> None:
    daemon = sealed_daemon
    package = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        template="unsealed",
    )
    package.subject.subject_id = "42"
    with daemon.channel() as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        calls = [
            lambda: stub.CreateExport(
                pb.CreateExportRequest(spec=empty(_export_spec(daemon, "people"))), timeout=30
            ),
            lambda: stub.CreateSchedule(
                pb.CreateScheduleRequest(
                    name="nightly", cron="@daily", spec=empty(_export_spec(daemon, "people"))
                ),
                timeout=30,
            ),
            lambda: stub.CreateExport(pb.CreateExportRequest(spec=empty(package)), timeout=30),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            assert caught.value.details().startswith(f"{field}:"), caught.value.details()
            assert _violations(caught.value) == [field]
            assert len(caught.value.details().splitlines()) == 1
        assert list(stub.ListSchedules(pb.ListSchedulesRequest(), timeout=30).schedules) == []
    _nothing_written(daemon)


def _plaintext_manifest(daemon: Daemon, export: pb.Export) -> None:
    manifest = json.loads(Path(export.manifest_uri.removeprefix("file://")).read_text())
    assert manifest["output"]["encryption"]["scheme"] == "none", manifest["output"]


def test_an_empty_encryption_message_is_no_encryption_everywhere(sealed_daemon: Daemon) -> None:
    """What every client before field presence sent (build_spec always set
    `encryption {}`): an export, a schedule and a package without encryption."""
    daemon = sealed_daemon
    package = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        template="unsealed",
    )
    package.subject.subject_id = "42"
    with daemon.channel() as channel, ExportClient(daemon.address, timeout=30) as client:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        export = stub.CreateExport(
            pb.CreateExportRequest(spec=_empty_message(_export_spec(daemon, "people"))),
            timeout=30,
        )
        finished = client.wait(export.id)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error.message
        assert not finished.spec.HasField("encryption")
        _plaintext_manifest(daemon, finished)
        schedule = stub.CreateSchedule(
            pb.CreateScheduleRequest(
                name="nightly", cron="@daily", spec=_empty_message(_export_spec(daemon, "people"))
            ),
            timeout=30,
        )
        assert not schedule.spec.HasField("encryption")
        packaged = stub.CreateExport(
            pb.CreateExportRequest(spec=_empty_message(package)), timeout=30
        )
        finished = client.wait(packaged.id)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error.message
        _plaintext_manifest(daemon, finished)
    assert OLD_CLIENT_WARNING in daemon.log_path.read_text()


def _length_delimited(field: int, payload: bytes) -> bytes:
    """One protobuf length-delimited field (tag, varint length, bytes), by hand."""
    length = len(payload)
    varint = b""
    while True:
        byte, length = length & 0x7F, length >> 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([field << 3 | 2]) + varint + payload


def test_an_old_clients_request_bytes_are_an_export_without_encryption(daemon: Daemon) -> None:
    """The bytes a pre-upgrade client sends (its build_spec always set the Encryption
    message, field 8, empty), written by hand and sent as they are: accepted, and a
    retry of the same bytes (same request id) answers the same export."""
    source = daemon.sources / "old.parquet"
    daemon.sources.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": [1, 2, 3]}).write_parquet(source)
    spec = (
        _length_delimited(1, _length_delimited(1, str(source).encode()))  # source.uri
        + _length_delimited(
            5,  # destination {uri, dataset}
            _length_delimited(1, str(daemon.exports).encode()) + _length_delimited(2, b"old"),
        )
        + b"\x42\x00"  # encryption {} (field 8, length 0)
    )
    request = _length_delimited(1, spec) + _length_delimited(2, b"old-client-retry")
    parsed = pb.CreateExportRequest.FromString(request)
    assert parsed.spec.HasField("encryption") and parsed.request_id == "old-client-retry"
    with daemon.channel() as channel, ExportClient(daemon.address, timeout=30) as client:
        create = channel.unary_unary(
            "/sluice.v1.ExportService/CreateExport",
            request_serializer=lambda raw: raw,
            response_deserializer=pb.Export.FromString,
        )
        first = create(request, timeout=30)
        again = create(request, timeout=30)
        assert again.id == first.id
        finished = client.wait(first.id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error.message
    assert not finished.spec.HasField("encryption")
    _plaintext_manifest(daemon, finished)


def test_a_flight_put_refuses_an_empty_secret_name(daemon: Daemon) -> None:
    field = "spec.encryption.age_passphrase_ref"
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        list(_put(channel, daemon, {"agePassphraseRef": ""}, "put-empty-name"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert caught.value.details().startswith(f"{field}:"), caught.value.details()
    _nothing_written(daemon)


def test_a_flight_put_with_empty_encryption_is_plaintext(daemon: Daemon) -> None:
    """An older client's Flight JSON carried `"encryption": {}` for no encryption."""
    acks = finish(put(daemon, command(daemon, "put-empty-encryption", encryption={}), 100))
    with ExportClient(daemon.address, timeout=30) as client:
        (export,) = client.list()
        finished = client.wait(export.id)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, (acks[-1:], finished.error.message)
    _plaintext_manifest(daemon, finished)


def _put(
    channel: grpc.Channel, daemon: Daemon, encryption: dict[str, str], request_id: str
) -> Iterable[fl.PutResult]:
    cmd = json.dumps(
        {
            "requestId": request_id,
            "spec": {
                "destination": {"uri": str(daemon.exports), "dataset": "pushed"},
                "encryption": encryption,
            },
        }
    ).encode()
    descriptor = fl.FlightDescriptor(type=fl.FlightDescriptor.CMD, cmd=cmd)
    payload = schema_payload(pa.schema([("id", pa.int64())]))
    message = fl.FlightData(data_header=payload.header, data_body=payload.body)
    message.flight_descriptor.CopyFrom(descriptor)
    return Flight_pb2_grpc.FlightServiceStub(channel).DoPut(iter([message]), timeout=60)


def test_build_spec_sends_an_empty_secret_name_as_set_and_nothing_when_not_given(
    sealed_daemon: Daemon,
) -> None:
    daemon = sealed_daemon
    source = daemon.sources / "people.parquet"
    plain = ExportClient.build_spec(source=source, to=daemon.exports, dataset="people")
    assert not plain.HasField("encryption")
    with ExportClient(daemon.address, timeout=30) as client:
        for options, field in [
            ({"passphrase_secret": ""}, "spec.encryption.age_passphrase_ref"),
            ({"zip_password_secret": "", "compression": "zip"}, "spec.encryption.zip_password_ref"),
        ]:
            spec = ExportClient.build_spec(
                source=source,
                to=daemon.exports,
                dataset="people",
                **options,  # type: ignore[arg-type]
            )
            with pytest.raises(InvalidArgumentError) as caught:
                client.create(spec)
            assert [v.field for v in caught.value.violations] == [field]
    _nothing_written(daemon)


def test_a_plan_without_encryption_carries_no_encryption_message(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("ask")
    daemon.sources.mkdir(parents=True, exist_ok=True)
    orders = daemon.sources / "orders.parquet"
    pl.DataFrame({"id": [1, 2]}).write_parquet(orders)
    daemon.settings["sources"] = {"orders": {"uri": str(orders)}}
    daemon.start()
    with ExportClient(daemon.address, timeout=30) as client:
        plan = client.plan_from_text("orders as csv")
        assert not plan.spec.HasField("encryption")
        spec = pb.ExportSpec()
        spec.CopyFrom(plan.spec)
        spec.source.name = plan.source_name
        spec.destination.uri = str(daemon.exports)
        export = client.create(spec)
        assert client.wait(export.id).state == pb.EXPORT_STATE_SUCCEEDED
