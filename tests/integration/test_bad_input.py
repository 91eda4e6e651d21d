"""Every bad input gets the right status and names its field; nothing is written; the
daemon stays healthy and keeps exporting."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sluice.client import ExportClient, FailedPreconditionError, NotFoundError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def world(daemon: Daemon) -> dict[str, Path]:
    source = generate(daemon.sources / "events.parquet", 2_000, seed=3)
    outside = daemon.root / "outside"
    outside.mkdir()
    (daemon.exports / "link-out").symlink_to(outside)
    (daemon.sources / "secret-link.parquet").symlink_to(outside / "x.parquet")
    generate(outside / "x.parquet", 10)
    return {"source": source, "outside": outside}


def _spec(daemon: Daemon, source: Path, **overrides: object) -> pb.ExportSpec:
    options: dict[str, object] = {
        "source": str(source),
        "to": str(daemon.exports),
        "dataset": "events",
    }
    options.update(overrides)
    return ExportClient.build_spec(**options)  # type: ignore[arg-type]


def _bad_specs(daemon: Daemon, world: dict[str, Path]) -> list[tuple[str, pb.ExportSpec, str]]:
    src = world["source"]
    spec = lambda **o: _spec(daemon, src, **o)  # noqa: E731
    level_none = spec(compression="none")
    level_none.output.level = 3
    negative_chunk = spec()
    negative_chunk.chunking.target_bytes = -5
    return [
        ("unknown format", spec(format="toml"), "spec.output.format"),
        ("pickle (refused: loading runs code)", spec(format="pickle"), "spec.output.format"),
        ("unknown compression", spec(compression="lz77"), "spec.output.compression"),
        ("zstd level out of range", spec(level=40), "spec.output.level"),
        ("gzip level out of range", spec(compression="gzip", level=0), "spec.output.level"),
        ("level with no compression", level_none, "spec.output.level"),
        ("where does not parse", spec(where="amount >"), "spec.query.where"),
        ("where is a statement", spec(where="1=1; DROP TABLE x"), "spec.query.where"),
        ("where has a subquery", spec(where="id IN (SELECT 1)"), "spec.query.where"),
        (
            "where calls a table function",
            spec(where="read_parquet('/etc/passwd') > 0"),
            "spec.query.where",
        ),
        ("where names an unknown column", spec(where="nope > 1"), "spec.query.where"),
        ("where compares wrong types", spec(where="amount > 'abc'"), "spec.query.where"),
        ("where is not boolean", spec(where="amount + 1"), "spec.query.where"),
        ("unknown column", spec(columns=["id", "nope"]), "spec.query.columns"),
        (
            "time range on a text column",
            spec(time_column="email", since=datetime(2025, 1, 1, tzinfo=UTC)),
            "spec.query.time_range.column",
        ),
        (
            "time range unknown column",
            spec(time_column="nope", since=datetime(2025, 1, 1, tzinfo=UTC)),
            "spec.query.time_range.column",
        ),
        ("ids of the wrong type", spec(ids=["abc"]), "spec.query.ids"),
        (
            "missing source file",
            _spec(daemon, daemon.sources / "missing.parquet"),
            "spec.source.uri",
        ),
        ("glob matching nothing", _spec(daemon, daemon.sources / "*.csv"), "spec.source.uri"),
        (
            "source outside the roots",
            _spec(daemon, world["outside"] / "x.parquet"),
            "spec.source.uri",
        ),
        (
            "source symlink escaping",
            _spec(daemon, daemon.sources / "secret-link.parquet"),
            "spec.source.uri",
        ),
        ("unknown source format", spec(source_format="xlsx"), "spec.source.format"),
        ("chunk bytes negative", negative_chunk, "spec.chunking.target_bytes"),
        ("chunk bytes zero", spec(chunk_bytes=0), "spec.chunking.target_bytes"),
        ("chunk rows zero", spec(chunk_rows=0), "spec.chunking.max_rows"),
        ("chunk bytes too small", spec(chunk_bytes=10), "spec.chunking.target_bytes"),
        ("chunk bytes absurd", spec(chunk_bytes=1 << 50), "spec.chunking.target_bytes"),
        ("chunk rows absurd", spec(chunk_rows=10**12), "spec.chunking.max_rows"),
        ("destination outside roots", spec(to=str(world["outside"])), "spec.destination.uri"),
        (
            "destination escaping with ..",
            spec(to=str(daemon.exports / ".." / "outside")),
            "spec.destination.uri",
        ),
        (
            "destination through a symlink",
            spec(to=str(daemon.exports / "link-out")),
            "spec.destination.uri",
        ),
        ("dataset with a slash", spec(dataset="a/b"), "spec.destination.dataset"),
        ("dataset dot-dot", spec(dataset=".."), "spec.destination.dataset"),
        ("empty destination", spec(to=""), "spec.destination.uri"),
        ("bad label key", spec(labels={"Bad Key": "x"}), "spec.labels[Bad Key]"),
    ]


def test_each_bad_input_is_rejected_with_its_field(daemon: Daemon, world: dict[str, Path]) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        failures = []
        for name, spec, field in _bad_specs(daemon, world):
            try:
                stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
                failures.append(f"{name}: accepted")
                continue
            except grpc.RpcError as exc:
                error = exc
            status = rpc_status.from_call(error)  # type: ignore[arg-type]
            code = error.code()  # type: ignore[attr-defined]
            if code != grpc.StatusCode.INVALID_ARGUMENT or status is None:
                failures.append(f"{name}: {code}")
                continue
            violations = []
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    violations = [v.field for v in bad.field_violations]
            if violations != [field]:
                failures.append(f"{name}: fields {violations}, message {status.message!r}")
        assert not failures, "\n".join(failures)

        # Nothing was written, the daemon is healthy and still exports.
        assert sorted(os.listdir(daemon.exports)) == ["link-out"]
        assert not any(world["outside"].iterdir().__next__().name != "x.parquet" for _ in [0])
        assert daemon.healthy()
        good = stub.CreateExport(
            pb.CreateExportRequest(spec=_spec(daemon, world["source"])), timeout=30
        )
    with ExportClient(daemon.address) as client:
        assert client.wait(good.id, timeout=60).state == pb.EXPORT_STATE_SUCCEEDED


def test_missing_spec_and_bad_request_id(daemon: Daemon, world: dict[str, Path]) -> None:
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateExport(pb.CreateExportRequest(), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateExport(
                pb.CreateExportRequest(spec=_spec(daemon, world["source"]), request_id="x" * 500),
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListExports(pb.ListExportsRequest(page_token="garbage!"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListExports(pb.ListExportsRequest(page_size=100_000), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_unknown_ids_and_wrong_states(daemon: Daemon, world: dict[str, Path]) -> None:
    with ExportClient(daemon.address) as client:
        for call in (client.get, client.cancel, client.resume):
            with pytest.raises(NotFoundError):
                call("20990101T000000Z-000000000000")
        with pytest.raises(NotFoundError):
            list(client.watch("no-such-export"))
        finished = client.wait(client.create(_spec(daemon, world["source"])).id, timeout=60)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED
        with pytest.raises(FailedPreconditionError) as raised:
            client.cancel(finished.id)
        assert "succeeded" in raised.value.message
        with pytest.raises(FailedPreconditionError):
            client.resume(finished.id)
        assert daemon.healthy()
