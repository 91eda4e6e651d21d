"""One daemon, several tenants (principals alice and bob, admin root): what one of them,
or a caller with no principal at all, can do to the others through a real daemon. Health
Watch streams have their own budget; internal `flight:` sources, notification targets,
loopback webhooks and named sources are held to each caller's own grants."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client import ExportClient, verify_webhook
from sluice.client.demo_data import generate
from sluice.server.pipeline.stream_source import stream_uri
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

ALL = ["exports:create", "exports:read", "exports:cancel", "exports:delete"]


@dataclass
class Tenants:
    daemon: Daemon
    tokens: dict[str, str]

    def md(self, who: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.tokens[who]}")]

    def spec(self, who: str, dataset: str = "events") -> pb.ExportSpec:
        """An export of `who`'s events into `who`'s folder."""
        folder = self.daemon.sources / who
        return ExportClient.build_spec(
            source=str(folder / "events.parquet"),
            to=str(self.daemon.exports / who),
            dataset=dataset,
            format="jsonl",
        )


def _tenants(
    daemon_factory: Callable[..., Daemon],
    principals: dict[str, dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    **settings: Any,
) -> Tenants:
    tokens = {name: secrets.token_urlsafe(24) for name in ("alice", "bob", "root")}
    daemon = daemon_factory("tenants", **settings)
    daemon.env.update(env or {})
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


def _restarted(tenants: Tenants, **settings: Any) -> Daemon:
    """The tenants' daemon started again with `settings` added (paths under its root)."""
    daemon = tenants.daemon
    daemon.stop()
    daemon.settings.update(settings)
    daemon.start()
    return daemon


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


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settled(stub: Any, export_id: str, md: list[tuple[str, str]]) -> pb.Export:
    """The export once it ended and none of its notifications is pending."""
    deadline = time.monotonic() + 120
    while True:
        export = stub.GetExport(pb.GetExportRequest(id=export_id), metadata=md, timeout=30)
        ended = export.state in {pb.EXPORT_STATE_SUCCEEDED, pb.EXPORT_STATE_FAILED}
        if ended and all(n.state != "pending" for n in export.notifications):
            return export
        assert time.monotonic() < deadline, export
        time.sleep(0.3)


def test_notifications_are_held_to_each_principal(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: bob notified alice's configured receiver (signed with her secret) and any
    # loopback URL, bodies had no created_by, and last_error quoted the raw connection
    # error or the receiver's status text (a port scanner through GetExport).
    alice_secret = secrets.token_urlsafe(16)
    mine, failing = WebhookReceiver(), WebhookReceiver(default=503)
    closed = _closed_port()
    with mine.running(), failing.running():
        tenants = _tenants(
            daemon_factory,
            principals={
                "alice": {"notifications": ["alice-hook", "alice-failing", "alice-closed"]},
                "bob": {"notifications": []},
            },
            env={"TENANT_HOOK_SECRET": "shared-secret", "TENANT_ALICE_SECRET": alice_secret},
            webhook_secret_ref="env:TENANT_HOOK_SECRET",
            notifications={
                "alice-hook": {"url": mine.url("/alice"), "secret_ref": "env:TENANT_ALICE_SECRET"},
                "alice-failing": {"url": failing.url("/alice")},
                "alice-closed": {"url": f"http://127.0.0.1:{closed}/alice"},
            },
            notification_backoff_seconds=0.2,
            notification_max_backoff_seconds=0.5,
            notification_retry_seconds=2.0,
        )
        with grpc.insecure_channel(tenants.daemon.address) as channel:
            stub = export_pb2_grpc.ExportServiceStub(channel)

            def create(who: str, notify: list[str]) -> pb.Export:
                # root (admin) reads and writes alice's folders
                spec = tenants.spec("alice" if who == "root" else who, f"n{secrets.token_hex(3)}")
                spec.notify.extend(notify)
                created: pb.Export = stub.CreateExport(
                    pb.CreateExportRequest(spec=spec), metadata=tenants.md(who), timeout=30
                )
                return created

            for notify in (
                ["alice-hook"],
                [mine.url("/bob")],
                [f"http://127.1:{mine.port}/bob"],
                [f"https://[::ffff:127.0.0.1]:{mine.port}/bob"],
                ["https://169.254.169.254/latest/meta-data"],
            ):
                with pytest.raises(grpc.RpcError) as refused:
                    create("bob", notify)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, notify  # type: ignore[attr-defined]
                assert refused.value.details().startswith("spec.notify: principal 'bob'")  # type: ignore[attr-defined]

            export = create("alice", ["alice-hook", "alice-failing", "alice-closed"])
            shown = {
                n.target: n for n in _settled(stub, export.id, tenants.md("alice")).notifications
            }
            (hook,) = mine.wait_for(1)
            verify_webhook(alice_secret.encode(), hook.body, hook.headers["Sluice-Signature"])
            assert json.loads(hook.body)["created_by"] == "alice"
            assert shown["alice-hook"].state == "delivered"
            assert (shown["alice-failing"].state, shown["alice-failing"].last_error) == (
                "failed",
                "HTTP 5xx",
            )
            assert (shown["alice-closed"].state, shown["alice-closed"].last_error) == (
                "failed",
                "connection failed",
            )
            # An admin may still point a webhook at this host.
            export = create("root", [mine.url("/root")])
            assert _settled(stub, export.id, tenants.md("root")).notifications[0].state == (
                "delivered"
            )
            assert json.loads(mine.wait_for(2)[-1].body)["created_by"] == "root"
    # The whole errors are the operator's, in the daemon's log.
    log = tenants.daemon.log_path.read_text(errors="replace")
    assert "HTTP 503 Service Unavailable" in log
    assert "ConnectionRefusedError" in log


def test_named_sources_are_listed_and_planned_only_for_who_may_read_them(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: bob's ListSources showed alice-events' description and columns, and his
    # PlanFromText matched it.
    tenants = _tenants(daemon_factory)
    sources = tenants.daemon.sources
    daemon = _restarted(
        tenants,
        sources={
            "alice-events": {
                "uri": str(sources / "alice" / "events.parquet"),
                "description": "private payroll events",
            },
            "bob-events": {"uri": str(sources / "bob" / "events.parquet")},
        },
    )
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)

        def listed(who: str) -> dict[str, pb.NamedSource]:
            answer = stub.ListSources(pb.ListSourcesRequest(), metadata=tenants.md(who), timeout=60)
            return {source.name: source for source in answer.sources}

        assert set(listed("bob")) == {"bob-events"}
        assert set(listed("alice")) == {"alice-events"}
        mine = listed("root")
        assert set(mine) == {"alice-events", "bob-events"}
        assert mine["alice-events"].description == "private payroll events"
        assert mine["alice-events"].columns

        def planned(who: str, text: str) -> str:
            try:
                answer = stub.PlanFromText(
                    pb.PlanFromTextRequest(text=text), metadata=tenants.md(who), timeout=30
                )
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
                return ""
            return str(answer.source_name)

        for text in ("alice-events as csv", "private payroll events as csv"):
            assert planned("alice", text) == "alice-events"
            assert planned("bob", text) in {"", "bob-events"}  # never alice's
        assert planned("bob", "bob-events as csv") == "bob-events"


def test_templates_of_a_named_source_are_listed_only_for_who_may_read_it(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: bob's ListTemplates showed alice-payroll, naming alice's source.
    tenants = _tenants(daemon_factory)
    daemon = _restarted(
        tenants,
        sources={"alice-events": {"uri": str(tenants.daemon.sources / "alice" / "events.parquet")}},
        templates={
            "alice-payroll": {
                "description": "payroll for the auditors",
                "source_name": "alice-events",
                "format": "csv",
            },
            "plain-csv": {"description": "CSV", "format": "csv"},
        },
    )
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)

        def listed(who: str) -> dict[str, pb.ExportTemplate]:
            answer = stub.ListTemplates(
                pb.ListTemplatesRequest(), metadata=tenants.md(who), timeout=60
            )
            return {template.name: template for template in answer.templates}

        bobs = listed("bob")
        assert "plain-csv" in bobs and "backup" in bobs
        assert "alice-payroll" not in bobs
        assert all(t.sets.get("source.name") != "alice-events" for t in bobs.values())
        for who in ("alice", "root"):
            theirs = listed(who)
            assert theirs["alice-payroll"].sets["source.name"] == "alice-events", who
            assert "plain-csv" in theirs


def _states(stub: Any, md: list[tuple[str, str]]) -> list[int]:
    listed = stub.ListExports(pb.ListExportsRequest(), metadata=md, timeout=30)
    return sorted(export.state for export in listed.exports)


def test_a_per_principal_limit_that_cannot_bite_is_warned_of_at_start(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = daemon_factory("loose", max_concurrent_exports=2, max_running_per_principal=2)
    daemon.start()
    log = daemon.log_path.read_text(errors="replace")
    said = "max_running_per_principal = 2 limits nothing: max_concurrent_exports = 2"
    assert said in log, log[-3000:]


def test_one_principals_open_puts_leave_run_slots_to_the_others(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # Before: bob's two live DoPuts (a batch, then nothing) held both run slots, and
    # alice's export waited QUEUED for as long as they stayed open.
    tenants = _tenants(daemon_factory, max_concurrent_exports=2, max_running_per_principal=1)
    address = tenants.daemon.address
    table = pa.table({"id": pa.array(range(10), pa.int64())})
    release = threading.Event()

    def put(number: int) -> None:
        client = flight.FlightClient(f"grpc://{address}")
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {tenants.tokens['bob']}".encode())]
        )
        command = json.dumps(
            {
                "requestId": f"open-put-{number}",
                "spec": {
                    "destination": {"uri": str(tenants.daemon.exports / "bob"), "dataset": "open"},
                    "output": {"format": "jsonl"},
                },
            }
        )
        writer, _ = client.do_put(
            flight.FlightDescriptor.for_command(command), table.schema, options=options
        )
        writer.write_table(table)
        release.wait(300)  # held open, as a put sending a batch now and then is
        writer.done_writing()
        writer.close()
        client.close()

    puts = [threading.Thread(target=put, args=(n,), daemon=True) for n in range(2)]
    for thread in puts:
        thread.start()
    running, queued = pb.EXPORT_STATE_RUNNING, pb.EXPORT_STATE_QUEUED
    try:
        with grpc.insecure_channel(address) as channel:
            stub = export_pb2_grpc.ExportServiceStub(channel)
            deadline = time.monotonic() + 120
            while len(_states(stub, tenants.md("bob"))) < 2 or running not in _states(
                stub, tenants.md("bob")
            ):
                assert time.monotonic() < deadline, _states(stub, tenants.md("bob"))
                time.sleep(0.3)
            theirs = stub.CreateExport(
                pb.CreateExportRequest(spec=tenants.spec("alice")),
                metadata=tenants.md("alice"),
                timeout=30,
            )
            deadline = time.monotonic() + 90
            while True:
                state = stub.GetExport(
                    pb.GetExportRequest(id=theirs.id), metadata=tenants.md("alice"), timeout=30
                ).state
                if state == pb.EXPORT_STATE_SUCCEEDED:
                    break
                assert state in {queued, running}, state
                assert time.monotonic() < deadline, "alice's export never got a run slot"
                time.sleep(0.3)
            assert _states(stub, tenants.md("bob")) == sorted([queued, running])
    finally:
        release.set()
        for thread in puts:
            thread.join(60)
