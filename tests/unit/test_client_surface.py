"""The public surface of the `client` package is a promise: changing it must be a
deliberate edit to this test."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta, timezone

from sluice import client
from sluice.client import ExportClient
from sluice.v1 import export_pb2

EXPECTED = [
    "AlreadyExistsError",
    "BatchSchemaError",
    "DeadlineExceededError",
    "ExportClient",
    "ExportFailedError",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "ServerUnreachableError",
    "SluiceError",
    "UnauthenticatedError",
    "UnavailableError",
    "WebhookSignatureError",
    "error_from_rpc",
    "verify_webhook",
]


def test_exported_members() -> None:
    assert client.__all__ == EXPECTED
    public = {
        name
        for name, value in vars(client).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(EXPECTED)
    for name in EXPECTED:
        # Everything is defined in a private module and only re-exported here.
        assert getattr(client, name).__module__.startswith("sluice.client._")


def test_every_error_is_a_sluice_error() -> None:
    errors = [getattr(client, n) for n in EXPECTED if n.endswith("Error") and n != "SluiceError"]
    assert errors
    for error_type in errors:
        assert issubclass(error_type, client.SluiceError)


def test_client_methods() -> None:
    expected = {
        "build_spec",
        "cancel",
        "close",
        "create",
        "create_schedule",
        "delete_schedule",
        "get",
        "get_schedule",
        "health",
        "list",
        "list_page",
        "list_schedules",
        "pause_schedule",
        "plan_from_text",
        "put",
        "read",
        "resume",
        "resume_schedule",
        "server_info",
        "trigger_schedule",
        "sources",
        "templates",
        "wait",
        "watch",
    }
    public = {n for n in vars(ExportClient) if not n.startswith("_")}
    assert public == expected


def test_default_address(monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_SERVER", raising=False)
    with ExportClient() as sluice:
        assert sluice.address == "127.0.0.1:7070"
    monkeypatch.setenv("SLUICE_SERVER", "10.0.0.1:9000")
    with ExportClient() as sluice:
        assert sluice.address == "10.0.0.1:9000"
    with ExportClient("host:1") as sluice:
        assert sluice.address == "host:1"


def test_build_spec_maps_every_field() -> None:
    spec = ExportClient.build_spec(
        source="data/*.parquet",
        to="/exports",
        dataset="events",
        source_format="parquet",
        format="csv",
        compression="gzip",
        level=6,
        columns=["a", "b"],
        where="a > 1",
        time_column="ts",
        since=datetime(2024, 5, 1),  # naive: UTC
        until=datetime(2024, 5, 2, tzinfo=timezone(timedelta(hours=2))),
        ids=[1, "2"],
        id_column="user_id",
        chunk_bytes=64 * 2**20,
        chunk_rows=1000,
        labels={"team": "data"},
    )
    assert spec.source == export_pb2.Source(uri="data/*.parquet", format="parquet")
    assert spec.destination == export_pb2.Destination(uri="/exports", dataset="events")
    assert spec.output.format == "csv"
    assert spec.output.compression == "gzip"
    assert spec.output.HasField("level")
    assert spec.output.level == 6
    assert list(spec.query.columns) == ["a", "b"]
    assert spec.query.where == "a > 1"
    assert list(spec.query.ids) == ["1", "2"]
    assert spec.query.id_column == "user_id"
    assert spec.query.time_range.column == "ts"
    assert spec.query.time_range.since.ToDatetime(tzinfo=UTC) == datetime(2024, 5, 1, tzinfo=UTC)
    assert spec.query.time_range.until.ToDatetime(tzinfo=UTC) == datetime(
        2024, 5, 1, 22, tzinfo=UTC
    )
    assert spec.chunking == export_pb2.Chunking(target_bytes=64 * 2**20, max_rows=1000)
    assert dict(spec.labels) == {"team": "data"}


def test_build_spec_leaves_defaults_unset() -> None:
    spec = ExportClient.build_spec(source="x.csv", to="out", dataset="d")
    assert not spec.output.HasField("level")
    assert not spec.query.HasField("time_range")
    assert spec.output.format == ""
    assert spec.chunking.target_bytes == 0
