"""One daemon, several tenants (principals alice and bob, admin root): what one of them,
or a caller with no principal at all, can do to the others through a real daemon. Health
Watch streams have their own budget; internal `flight:` sources, notification targets,
loopback webhooks and named sources are held to each caller's own grants."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pyarrow as pa
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.server.pipeline.stream_source import stream_uri
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

ALL = ["exports:create", "exports:read", "exports:cancel", "exports:delete"]


@dataclass
class Tenants:
    daemon: Daemon
    tokens: dict[str, str]

    def md(self, who: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.tokens[who]}")]

    def spec(self, who: str, dataset: str = "events", **overrides: object) -> pb.ExportSpec:
        values: dict[str, object] = {
            "source": str(self.daemon.sources / who / "events.parquet"),
            "to": str(self.daemon.exports / who),
            "dataset": dataset,
            "format": "jsonl",
        }
        values.update(overrides)
        return ExportClient.build_spec(**values)  # type: ignore[arg-type]


def _tenants(
    daemon_factory: Callable[..., Daemon],
    principals: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> Tenants:
    tokens = {name: secrets.token_urlsafe(24) for name in ("alice", "bob", "root")}
    daemon = daemon_factory("tenants", **settings)
    sources, exports = daemon.sources, daemon.exports
    extra = principals or {}
    listed: list[dict[str, Any]] = []
    for name in ("alice", "bob"):
        (sources / name).mkdir(parents=True)
        (exports / name).mkdir(parents=True)
        generate(sources / name / "events.parquet", 300, seed=len(name))
        listed.append(
            {
                "name": name,
                "token_sha256": hashlib.sha256(tokens[name].encode()).hexdigest(),
                "scopes": ALL,
                "source_roots": [str(sources / name)],
                "destination_roots": [str(exports / name)],
                **extra.get(name, {}),
            }
        )
    listed.append(
        {
            "name": "root",
            "token_sha256": hashlib.sha256(tokens["root"].encode()).hexdigest(),
            "scopes": ["admin"],
        }
    )
    daemon.settings.update(auth={"principals": listed})
    daemon.start()
    return Tenants(daemon, tokens)


def test_anonymous_health_watches_never_take_the_principals_streams(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: health Watch streams were charged to max_concurrent_streams, so 8 anonymous
    # ones left alice's WatchExport RESOURCE_EXHAUSTED.
    tenants = _tenants(daemon_factory, grpc_max_workers=16, max_concurrent_streams=8)
    address = tenants.daemon.address
    with grpc.insecure_channel(address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        done = stub.CreateExport(
            pb.CreateExportRequest(spec=tenants.spec("alice")),
            metadata=tenants.md("alice"),
            timeout=30,
        )
        watches: list[Any] = []
        refused: list[grpc.RpcError] = []
        try:
            for _ in range(12):  # no token at all
                watch = health_pb2_grpc.HealthStub(channel).Watch(
                    health_pb2.HealthCheckRequest(service=""), timeout=120
                )
                watches.append(watch)
                try:
                    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
                except grpc.RpcError as exc:
                    refused.append(exc)
            # alice's streams still have the whole budget.
            for _ in range(4):
                events = list(
                    stub.WatchExport(
                        pb.WatchExportRequest(id=done.id),
                        metadata=tenants.md("alice"),
                        timeout=60,
                    )
                )
                assert events, "alice's WatchExport sent nothing"
            # A stream reaching the service: refused for what it asks, not for want of a slot.
            with pytest.raises(grpc.RpcError) as diffed:
                list(
                    stub.DiffExportRecords(
                        pb.DiffExportsRequest(base=done.id, other=done.id),
                        metadata=tenants.md("alice"),
                        timeout=60,
                    )
                )
            assert diffed.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
            # A few are served, the rest refused: health only, with a message saying so.
            assert 0 < len(refused) < 12
            for exc in refused:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
                assert "health Watch streams" in exc.details()  # type: ignore[attr-defined]
            check = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            for watch in watches:
                watch.cancel()


def test_requests_cannot_name_the_flight_source_only_doput_makes(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: bob's CreateExport of a flight: URI was accepted and held a run slot that
    # nothing could feed (a schedule's spec likewise).
    tenants = _tenants(daemon_factory, max_concurrent_exports=1)
    pushed = stream_uri(pa.schema([("id", pa.int64())]))
    with grpc.insecure_channel(tenants.daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        spec = tenants.spec("bob", "pushed")
        spec.source.uri = pushed
        spec.source.format = ""
        for who in ("bob", "root"):
            with pytest.raises(grpc.RpcError) as refused:
                stub.CreateExport(
                    pb.CreateExportRequest(spec=spec), metadata=tenants.md(who), timeout=30
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
            assert refused.value.details().startswith("spec.source.uri: flight: sources")  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as refused:
            stub.CreateSchedule(
                pb.CreateScheduleRequest(name="pushed", spec=spec, cron="0 * * * *"),
                metadata=tenants.md("root"),
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "spec.source.uri" in refused.value.details()  # type: ignore[attr-defined]
        assert not stub.ListExports(
            pb.ListExportsRequest(), metadata=tenants.md("root"), timeout=30
        ).exports
    # A DoPut still makes its own export of the records it pushes.
    table = pa.table({"id": pa.array(range(50), pa.int64())})
    with ExportClient(tenants.daemon.address, token=tenants.tokens["bob"], timeout=60) as bob:
        put_spec = tenants.spec("bob", "pushed")
        put_spec.ClearField("source")
        done = bob.put(put_spec, table)
    assert done["state"] == "succeeded", done
    assert done["committed_records"] == 50
