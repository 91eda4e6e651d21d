"""Requests past the documented limits are refused with the field named, before any parser
or file system sees them; the daemon stays up; streams cannot starve unary calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon
from tests.integration.fuzzing import json_token, odd_json_token

pytestmark = pytest.mark.integration


def _spec(daemon: Daemon, source: Path, **options: Any) -> pb.ExportSpec:
    values: dict[str, Any] = {"source": str(source), "to": str(daemon.exports), "dataset": "limits"}
    values.update(options)
    return ExportClient.build_spec(**values)


def _fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return []


def _cases(daemon: Daemon, source: Path, export: pb.Export) -> list[tuple[str, str, Message, str]]:
    spec = lambda **o: _spec(daemon, source, **o)  # noqa: E731
    far_since = spec(time_column="created_at")
    far_since.query.time_range.since.seconds = 2**62
    negative_nanos = spec(time_column="created_at")
    negative_nanos.query.time_range.until.seconds = 1_700_000_000
    negative_nanos.query.time_range.until.nanos = -1
    lookback = spec()
    lookback.incremental.cursor = "updated_at"
    lookback.incremental.lookback_seconds = 2**62
    deep_regex = spec(
        redaction=pb.Redaction(
            rules=[pb.RedactionRule(pattern="(" * 600 + "a" + ")" * 600, action="redact")]
        )
    )
    huge = "x" * 100_000
    long_unicode = "é" * 4000  # within the URI bound, but 24 KB once percent-encoded
    create = "CreateExport"
    retention = pb.ApplyRetentionRequest(
        destination=str(daemon.exports),
        dataset="limits",
        policy=pb.RetentionPolicy(keep_within_days=2**31 - 1),
        dry_run=True,
    )
    return [
        # Item 5: values that used to raise deep inside conversion or arithmetic.
        ("since far in the future", create, _create(far_since), "spec.query.time_range.since"),
        ("negative nanos", create, _create(negative_nanos), "spec.query.time_range.until"),
        ("look-back overflow", create, _create(lookback), "spec.incremental.lookback"),
        ("NUL in the source", create, _create(_spec(daemon, Path(f"{source}\x00x"))),
         "spec.source.uri"),
        ("NUL in the destination", create, _create(spec(to=str(daemon.exports) + "\x00")),
         "spec.destination.uri"),
        ("NUL in a column", create, _create(spec(columns=["id\x00"])), "spec.query.columns[0]"),
        ("NUL in an id", "GetExport", pb.GetExportRequest(id="a\x00b"), "id"),
        ("NUL in a manifest URI", "VerifyExport",
         pb.VerifyExportRequest(export=export.manifest_uri + "\x00"), "export"),
        ("NUL in a dataset", "ListDatasetExports",
         pb.ListDatasetExportsRequest(destination=str(daemon.exports), dataset="a\x00"),
         "dataset"),
        ("retention days overflow", "ApplyRetention", retention, "policy.keep_within_days"),
        ("page token of deep JSON", "ListExports",
         pb.ListExportsRequest(page_token=odd_json_token("[" * 200 + "]" * 200)), "page_token"),
        ("page token of a time leaving the range", "ListExports",
         pb.ListExportsRequest(page_token=json_token({"c": "9999-12-31T23:59:59-23:59", "i": "x"})),
         "page_token"),
        ("page token of a list", "ListExports",
         pb.ListExportsRequest(page_token=json_token([1, 2])), "page_token"),
        # Item 12: long values are refused by length, never echoed into the trailers.
        ("100 KB format", create, _create(spec(format=huge)), "spec.output.format"),
        ("100 KB redaction level", create,
         _create(spec(redaction=pb.Redaction(level=huge))), "spec.redaction.level"),
        ("100 KB label", create, _create(spec(labels={"k": huge})), "spec.labels[k]"),
        ("100 KB id column", create, _create(spec(ids=[1], id_column=huge)),
         "spec.query.id_column"),
        ("100 KB export id", "WatchExport", pb.WatchExportRequest(id=huge), "id"),
        ("100 KB label filter", "ListExports", pb.ListExportsRequest(labels={"k": huge}),
         "labels[k]"),
        ("long non-ASCII source echoed in the error", create,
         _create(_spec(daemon, daemon.sources / long_unicode)), "spec.source.uri"),
        # Item 1, last (on the old code the first of these killed the daemon): parser bombs
        # are refused unparsed.
        ("6,000-term where", create, _create(spec(where=" AND ".join(["id > 1"] * 6000))),
         "spec.query.where"),
        ("where under 16 KiB, too many terms", create,
         _create(spec(where=" AND ".join(["id>1"] * 1500))), "spec.query.where"),
        ("deeply nested where", create, _create(spec(where="(" * 3000 + "id > 1" + ")" * 3000)),
         "spec.query.where"),
        ("deeply nested regex", create, _create(deep_regex), "spec.redaction.rules[0].pattern"),
    ]  # fmt: skip


def _create(spec: pb.ExportSpec) -> pb.CreateExportRequest:
    return pb.CreateExportRequest(spec=spec)


def test_requests_past_the_limits_name_their_field(daemon: Daemon) -> None:
    source = generate(daemon.sources / "events.parquet", 200, seed=3)
    with ExportClient(daemon.address) as client:
        export = client.wait(client.create(_spec(daemon, source)).id, timeout=60)
    failures = []
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for name, method, request, field in _cases(daemon, source, export):
            call: Callable[..., Any] = getattr(stub, method)
            try:
                reply = call(request, timeout=30)
                if method == "WatchExport":
                    list(reply)
                failures.append(f"{name}: accepted")
                continue
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                fields = _fields(exc)
            if code != grpc.StatusCode.INVALID_ARGUMENT or fields != [field]:
                failures.append(f"{name}: {code.name} {fields}")
    assert not failures, "\n".join(failures)
    assert daemon.process is not None and daemon.process.poll() is None
    assert daemon.healthy()


def test_streams_past_their_budget_never_starve_health_or_unary_calls(
    daemon_factory: Callable[..., Daemon],
) -> None:
    workers, budget = 16, 8
    daemon = daemon_factory(
        "streams",
        grpc_max_workers=workers,
        max_concurrent_streams=budget,
        max_concurrent_exports=1,
        batch_rows=1024,
    )
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 100_000, seed=5)
    streams: list[Any] = []
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        # One export runs (many small chunks), the others queue behind it: the last one
        # stays queued for the whole test, so watches on it stay open.
        ids = [
            stub.CreateExport(_create(_spec(daemon, source, chunk_rows=200)), timeout=30).id
            for _ in range(3)
        ]
        try:
            for _ in range(budget):
                stream = stub.WatchExport(pb.WatchExportRequest(id=ids[-1]), timeout=60)
                assert next(stream).snapshot.state == pb.EXPORT_STATE_QUEUED
                streams.append(stream)
            # More than the worker count in all: each refused at once, with RetryInfo.
            for _ in range(workers):
                with pytest.raises(grpc.RpcError) as refused:
                    next(stub.WatchExport(pb.WatchExportRequest(id=ids[-1]), timeout=5))
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
                status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
                assert status is not None
                assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
            check = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=1).version
            assert stub.GetExport(pb.GetExportRequest(id=ids[0]), timeout=1).id == ids[0]
        finally:
            for stream in streams:
                stream.cancel()
        # Cancelled streams give their slots back (a watch notices within its 1 s poll).
        deadline = time.monotonic() + 10
        while True:
            try:
                stream = stub.WatchExport(pb.WatchExportRequest(id=ids[-1]), timeout=5)
                next(stream)
                stream.cancel()
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
                assert time.monotonic() < deadline, "stream slots were not released"
                time.sleep(0.2)
        for export_id in reversed(ids):
            stub.CancelExport(pb.CancelExportRequest(id=export_id), timeout=10)
    assert daemon.healthy()
