"""Principals through a real daemon: callers authenticate with bearer tokens (digests and
secret references) or mTLS identities; scopes and source/destination roots, profiles and
secrets are enforced; exports belong to their creator; the queue limits answer
RESOURCE_EXHAUSTED with RetryInfo; and the audit log has a line per state-changing or
denied call without any token or secret in it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from sluice.client import (
    ExportClient,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ServerUnreachableError,
    UnauthenticatedError,
)
from sluice.client.demo_data import generate
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.flight.ipc import schema_payload
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon, run_cli
from tests.integration.tls_certs import Authority

pytestmark = pytest.mark.integration

ALL = ["exports:create", "exports:read", "exports:cancel", "exports:delete"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Secured:
    daemon: Daemon
    tokens: dict[str, str]
    #: Values of the secrets the daemon was configured with (must never be logged).
    secret_values: list[str]
    audit: Path
    source: Path

    def client(self, who: str) -> ExportClient:
        return ExportClient(self.daemon.address, token=self.tokens[who], timeout=30)

    def stub(self) -> tuple[grpc.Channel, export_pb2_grpc.ExportServiceStub]:
        channel = grpc.insecure_channel(self.daemon.address)
        return channel, export_pb2_grpc.ExportServiceStub(channel)

    def spec(self, who: str, dataset: str = "events", **overrides: object) -> pb.ExportSpec:
        values: dict[str, object] = {
            "source": str(self.daemon.sources / who / "events.parquet"),
            "to": str(self.daemon.exports / who),
            "dataset": dataset,
            "format": "jsonl",
        }
        values.update(overrides)
        return ExportClient.build_spec(**values)  # type: ignore[arg-type]

    def audit_lines(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


def _md(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
def secured(daemon_factory: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch) -> Secured:
    tokens = {
        name: secrets.token_urlsafe(24) for name in ("alice", "bob", "reader", "root", "carol")
    }
    secret_values = [secrets.token_urlsafe(16), secrets.token_urlsafe(16)]
    monkeypatch.setenv("AUTH_TEST_CAROL_TOKEN", tokens["carol"])
    monkeypatch.setenv("AUTH_TEST_ALICE_ZIP", secret_values[0])
    monkeypatch.setenv("AUTH_TEST_BOB_ZIP", secret_values[1])
    probe = daemon_factory("secured")
    sources, exports = probe.sources, probe.exports

    def own(name: str) -> dict[str, object]:
        return {
            "source_roots": [str(sources / name)],
            "destination_roots": [str(exports / name)],
        }

    probe.settings.update(
        auth={
            "principals": [
                {
                    "name": "alice",
                    "token_sha256": _digest(tokens["alice"]),
                    "scopes": ALL,
                    "profiles": ["lake"],
                    "secrets": ["alice-zip"],
                    **own("alice"),
                },
                {
                    "name": "bob",
                    "token_sha256": _digest(tokens["bob"]),
                    "scopes": ALL,
                    "profiles": [],
                    "secrets": ["bob-zip"],
                    **own("bob"),
                },
                {
                    "name": "reader",
                    "token_sha256": _digest(tokens["reader"]),
                    "scopes": ["exports:read"],
                },
                {
                    "name": "carol",
                    "token_ref": "env:AUTH_TEST_CAROL_TOKEN",
                    "scopes": ["exports:create", "exports:read"],
                    **own("carol"),
                },
                {"name": "root", "token_sha256": _digest(tokens["root"]), "scopes": ["admin"]},
            ]
        },
        secrets={"alice-zip": "env:AUTH_TEST_ALICE_ZIP", "bob-zip": "env:AUTH_TEST_BOB_ZIP"},
        storage_profiles={
            "lake": {"kind": "s3", "region": "us-east-1"},
            "other": {"kind": "s3", "region": "us-east-1"},
        },
        audit_log=str(probe.root / "audit.jsonl"),
        batch_rows=2048,
        # A named source in bob's folder: naming it must not carry alice past her roots.
        sources={"bobs-events": {"uri": str(sources / "bob" / "events.parquet")}},
    )
    for name in ("alice", "bob", "carol"):
        (sources / name).mkdir(parents=True)
        (exports / name).mkdir(parents=True)
    source = generate(sources / "alice" / "events.parquet", 500, seed=3)
    for name in ("bob", "carol"):
        (sources / name / "events.parquet").write_bytes(source.read_bytes())
    probe.start()
    return Secured(probe, tokens, secret_values, probe.root / "audit.jsonl", source)


def _status(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_callers_need_a_principal_but_health_is_open(secured: Secured) -> None:
    channel, stub = secured.stub()
    with channel:
        for metadata in ([], _md("not-a-token"), [("authorization", "Basic abc")]):
            error = _status(
                lambda m=metadata: stub.GetServerInfo(
                    pb.GetServerInfoRequest(), metadata=m, timeout=10
                )
            )  # type: ignore[misc]
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error  # type: ignore[attr-defined]
        error = _status(lambda: stub.ListExports(pb.ListExportsRequest(), timeout=10))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]

        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        error = _status(lambda: list(reflection.ServerReflectionInfo(iter([ask]), timeout=10)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        answers = list(
            reflection.ServerReflectionInfo(
                iter([ask]), metadata=_md(secured.tokens["reader"]), timeout=10
            )
        )
        names = {s.name for s in answers[0].list_services_response.service}
        assert "sluice.v1.ExportService" in names

    for who in ("alice", "carol", "root"):  # a digest, a secret reference, admin
        with secured.client(who) as client:
            assert client.server_info().principal == who


def test_scopes_allow_and_deny_each_operation(secured: Secured) -> None:
    with secured.client("alice") as alice:
        done = alice.wait(alice.create(secured.spec("alice")).id, timeout=60)
    channel, stub = secured.stub()
    reader = _md(secured.tokens["reader"])
    carol = _md(secured.tokens["carol"])
    with channel:
        # reader: exports:read only (and alice's export is not its own: admin only sees all)
        assert stub.ListExports(pb.ListExportsRequest(), metadata=reader, timeout=10).exports == []
        denied = {
            "CreateExport": lambda: stub.CreateExport(
                pb.CreateExportRequest(spec=secured.spec("alice")), metadata=reader, timeout=10
            ),
            "CancelExport": lambda: stub.CancelExport(
                pb.CancelExportRequest(id=done.id), metadata=reader, timeout=10
            ),
            "DeleteExport": lambda: stub.DeleteExport(
                pb.DeleteExportRequest(export=done.id), metadata=reader, timeout=10
            ),
            "ResumeExport": lambda: stub.ResumeExport(
                pb.ResumeExportRequest(id=done.id), metadata=reader, timeout=10
            ),
            "carol CancelExport": lambda: stub.CancelExport(
                pb.CancelExportRequest(id=done.id), metadata=carol, timeout=10
            ),
            "carol DeleteExport": lambda: stub.DeleteExport(
                pb.DeleteExportRequest(export=done.id), metadata=carol, timeout=10
            ),
        }
        for name, call in denied.items():
            error = _status(call)
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, name  # type: ignore[attr-defined]
            assert "needs scope exports:" in error.details(), name  # type: ignore[attr-defined]
    # carol may create (her own roots) and read her own export
    with ExportClient(secured.daemon.address, token=secured.tokens["carol"], timeout=30) as client:
        made = client.wait(client.create(secured.spec("carol")).id, timeout=60)
        assert made.created_by == "carol"
        assert [e.id for e in client.list()] == [made.id]
    # alice (create/read/cancel/delete) deletes her own
    with secured.client("alice") as alice:
        assert alice.delete(done.id).objects_removed > 0


def test_roots_profiles_and_secrets_are_checked_per_principal(secured: Secured) -> None:
    channel, stub = secured.stub()
    alice = _md(secured.tokens["alice"])
    sources, exports = secured.daemon.sources, secured.daemon.exports
    (sources / "alice" / "to-bob").symlink_to(sources / "bob")

    def create(**overrides: object) -> grpc.RpcError | pb.Export:
        try:
            return stub.CreateExport(
                pb.CreateExportRequest(spec=secured.spec("alice", **overrides)),
                metadata=alice,
                timeout=30,
            )
        except grpc.RpcError as exc:
            return exc

    with channel:
        cases = {
            "spec.source.uri": [
                {"source": str(sources / "bob" / "events.parquet")},
                {"source": str(sources / "bob" / "no-such-file.csv")},  # same answer: no leak
                {"source": str(sources / "alice" / ".." / "bob" / "events.parquet")},
                {"source": str(sources / "alice" / "to-bob" / "events.parquet")},  # symlink
                {"source": f"sqlite://{sources / 'bob' / 'x.db'}", "table": "t"},
            ],
            "spec.destination.uri": [
                {"to": str(exports / "bob")},
                {"to": str(exports / "alice" / ".." / "bob")},
                {"to": "s3://exports/alice/"},
            ],
            "spec.destination.profile": [{"storage_profile": "other"}],
            "spec.encryption.zip_password_ref": [
                {"zip_password_secret": "bob-zip", "compression": "zip"}
            ],
        }
        messages = {}
        for field, variants in cases.items():
            for overrides in variants:
                error = create(**overrides)
                assert isinstance(error, grpc.RpcError), (field, overrides)
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (
                    field,
                    overrides,
                    error.details(),
                )  # type: ignore[attr-defined]
                assert error.details().startswith(field + ":"), error.details()  # type: ignore[attr-defined]
                messages.setdefault(field, set()).add(error.details())  # type: ignore[attr-defined]
        # Whether a file exists never changes the answer.
        assert len(messages["spec.source.uri"]) == 1
        assert "bob" not in next(iter(messages["spec.source.uri"]))

        # Allowed: the same kinds of request within alice's lists pass authorization.
        made = create(zip_password_secret="alice-zip", compression="zip")
        assert isinstance(made, pb.Export) and made.created_by == "alice"
        passed = create(storage_profile="lake")  # allowed profile; wrong store kind for a folder
        assert isinstance(passed, grpc.RpcError)
        assert passed.code() == grpc.StatusCode.INVALID_ARGUMENT, passed.details()  # type: ignore[attr-defined]
    with secured.client("alice") as client:
        client.wait(made.id, timeout=60)


def test_exports_belong_to_their_creator(secured: Secured) -> None:
    with secured.client("alice") as alice:
        running = alice.create(secured.spec("alice", chunk_rows=5))
        done = alice.wait(alice.create(secured.spec("alice", dataset="done")).id, timeout=60)
        assert done.created_by == "alice"
    manifest = json.loads(Path(done.manifest_uri.removeprefix("file://")).read_text())
    assert manifest["created_by"] == "alice"

    channel, stub = secured.stub()
    bob = _md(secured.tokens["bob"])
    root = _md(secured.tokens["root"])
    with channel:
        calls = {
            "GetExport": lambda md: stub.GetExport(
                pb.GetExportRequest(id=done.id), metadata=md, timeout=10
            ),
            "WatchExport": lambda md: list(
                stub.WatchExport(pb.WatchExportRequest(id=done.id), metadata=md, timeout=10)
            ),
            "VerifyExport": lambda md: stub.VerifyExport(
                pb.VerifyExportRequest(export=done.id), metadata=md, timeout=30
            ),
            "DiffExports": lambda md: stub.DiffExports(
                pb.DiffExportsRequest(base=done.id, other=done.id), metadata=md, timeout=30
            ),
            "ResumeExport": lambda md: stub.ResumeExport(
                pb.ResumeExportRequest(id=done.id), metadata=md, timeout=10
            ),
            "CancelExport": lambda md: stub.CancelExport(
                pb.CancelExportRequest(id=running.id), metadata=md, timeout=10
            ),
            "DeleteExport": lambda md: stub.DeleteExport(
                pb.DeleteExportRequest(export=done.id), metadata=md, timeout=30
            ),
        }
        nobody = "20990101T000000Z-000000000000"
        # What an export that does not exist gets: from the job store (Get, Watch, ...)
        # and from the calls that also take a manifest URI (Verify, Diff, Delete).
        unknown = {
            _status(  # type: ignore[attr-defined]
                lambda: stub.GetExport(pb.GetExportRequest(id=nobody), metadata=bob, timeout=10)
            )
            .details()
            .replace(nobody, "X"),
            _status(  # type: ignore[attr-defined]
                lambda: stub.VerifyExport(
                    pb.VerifyExportRequest(export=nobody), metadata=bob, timeout=10
                )
            )
            .details()
            .replace(nobody, "X"),
        }
        for name, call in calls.items():
            error = _status(lambda c=call: c(bob))  # type: ignore[misc]
            assert error.code() == grpc.StatusCode.NOT_FOUND, (name, error.details())  # type: ignore[attr-defined]
            # The same answer as for an export that does not exist.
            assert error.details().replace(done.id, "X").replace(running.id, "X") in unknown  # type: ignore[attr-defined]
        assert stub.ListExports(pb.ListExportsRequest(), metadata=bob, timeout=10).exports == []
        # By manifest URI too (reader may read any destination, but only its own exports)
        reader = _md(secured.tokens["reader"])
        by_uri = _status(
            lambda: stub.VerifyExport(
                pb.VerifyExportRequest(export=done.manifest_uri), metadata=reader, timeout=30
            )
        )
        assert by_uri.code() == grpc.StatusCode.NOT_FOUND, by_uri.details()  # type: ignore[attr-defined]
        chain = pb.ListDatasetExportsRequest(
            destination=str(secured.daemon.exports / "alice"), dataset="done"
        )
        assert not stub.ListDatasetExports(chain, metadata=reader, timeout=30).exports
        assert len(stub.ListDatasetExports(chain, metadata=root, timeout=30).exports) == 1
        retention = pb.ApplyRetentionRequest(
            destination=chain.destination,
            dataset="done",
            policy=pb.RetentionPolicy(keep_last=1),
            dry_run=True,
        )
        # The words of a dataset without exports: another principal's are not revealed.
        hidden = _status(lambda: stub.ApplyRetention(retention, metadata=reader, timeout=30))
        assert hidden.code() == grpc.StatusCode.NOT_FOUND, hidden.details()  # type: ignore[attr-defined]
        assert "'done' has no committed exports" in hidden.details()  # type: ignore[attr-defined]
        assert done.id not in hidden.details()  # type: ignore[attr-defined]
        assert list(stub.ApplyRetention(retention, metadata=root, timeout=30).kept) == [done.id]

        # admin sees, watches, verifies, cancels and deletes anyone's
        listed = stub.ListExports(pb.ListExportsRequest(), metadata=root, timeout=10).exports
        assert {e.id for e in listed} == {running.id, done.id}
        assert (
            stub.GetExport(pb.GetExportRequest(id=done.id), metadata=root, timeout=10).created_by
            == "alice"
        )
        assert calls["WatchExport"](root)[-1].WhichOneof("event") == "finished"
        assert calls["VerifyExport"](root).ok
        try:  # it may have finished meanwhile; either way admin reaches it
            stub.CancelExport(pb.CancelExportRequest(id=running.id), metadata=root, timeout=30)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()  # type: ignore[attr-defined]
        assert calls["DeleteExport"](root).objects_removed > 0


def test_queue_limit_answers_resource_exhausted_with_retry_info(
    daemon_factory: Callable[..., Daemon],
) -> None:
    token = secrets.token_urlsafe(24)
    daemon = daemon_factory(
        "limited",
        max_concurrent_exports=1,
        max_queued_per_principal=1,
        max_watch_streams_per_principal=1,
        auth={"principals": [{"name": "svc", "token_sha256": _digest(token), "scopes": ALL}]},
    )
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 20_000, seed=1)
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="q", format="jsonl", chunk_rows=20
    )
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        made = [
            stub.CreateExport(pb.CreateExportRequest(spec=spec), metadata=_md(token), timeout=30)
        ]
        error = None
        for _ in range(5):  # the first runs (slowly: 1,000 chunks), the second waits
            try:
                made.append(
                    stub.CreateExport(
                        pb.CreateExportRequest(spec=spec), metadata=_md(token), timeout=30
                    )
                )
            except grpc.RpcError as exc:
                error = exc
                break
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, made  # type: ignore[attr-defined]
        assert "max_queued_per_principal" in error.details()  # type: ignore[attr-defined]
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        assert status is not None
        retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
        assert retry, status

        # One WatchExport stream per principal: a second one is refused while it is open.
        first = stub.WatchExport(
            pb.WatchExportRequest(id=made[0].id), metadata=_md(token), timeout=30
        )
        next(first)
        second = _status(
            lambda: list(
                stub.WatchExport(
                    pb.WatchExportRequest(id=made[0].id), metadata=_md(token), timeout=10
                )
            )
        )
        assert second.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, second.details()  # type: ignore[attr-defined]
        first.cancel()
        for export in made:
            stub.CancelExport(pb.CancelExportRequest(id=export.id), metadata=_md(token), timeout=30)
    assert daemon.healthy()


def test_audit_log_has_a_line_per_call_and_no_secret(secured: Secured) -> None:
    channel, stub = secured.stub()
    with channel:
        _status(
            lambda: stub.GetServerInfo(
                pb.GetServerInfoRequest(),
                metadata=_md("wrong-" + secured.tokens["alice"]),
                timeout=10,
            )
        )
        _status(
            lambda: stub.CreateExport(
                pb.CreateExportRequest(spec=secured.spec("alice")),
                metadata=_md(secured.tokens["reader"]),
                timeout=10,
            )
        )
    with secured.client("alice") as alice:
        made = alice.create(
            secured.spec("alice", zip_password_secret="alice-zip", compression="zip")
        )
        alice.wait(made.id, timeout=60)
        alice.delete(made.id)
        with pytest.raises(PermissionDeniedError):
            alice.create(secured.spec("alice", zip_password_secret="bob-zip", compression="zip"))
    time.sleep(0.2)
    lines = secured.audit_lines()
    seen = [
        (line["principal"], line["method"].rpartition("/")[2], line["outcome"]) for line in lines
    ]
    assert seen == [
        ("", "GetServerInfo", "UNAUTHENTICATED"),
        ("reader", "CreateExport", "PERMISSION_DENIED"),
        ("alice", "CreateExport", "OK"),
        ("alice", "DeleteExport", "OK"),
        ("alice", "CreateExport", "PERMISSION_DENIED"),
    ], lines
    assert lines[2]["export_id"] == made.id == lines[3]["export_id"]
    assert all(line["peer"].startswith("ipv4:127.0.0.1:") for line in lines)
    assert set(lines[0]) == {"time", "principal", "method", "export_id", "outcome", "peer"}
    everything = secured.audit.read_text() + secured.daemon.log_path.read_text()
    for value in [*secured.tokens.values(), *secured.secret_values]:
        assert value not in everything


def test_audit_records_no_credentials_a_caller_put_in_a_reference(secured: Secured) -> None:
    """Whoever calls, allowed or refused: a manifest URI is recorded with its user-info
    cut to a marker and without its query, and an id that is no export id as a
    placeholder."""
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    folder = "my-bucket/out/x/20261207T000000Z-000000000000"
    manifest = f"s3://AKIAIOSFODNN7EXAMPLE:{secret}@{folder}/manifest.json?sig=QUERYSECRET"
    channel, stub = secured.stub()
    with channel:
        for who in ("root", "bob", "reader"):
            md = _md(secured.tokens[who])
            for method, request in (
                ("DeleteExport", pb.DeleteExportRequest(export=manifest)),
                ("CancelExport", pb.CancelExportRequest(id=secret)),
                ("ResumeExport", pb.ResumeExportRequest(id=f"Bearer {secret}")),
                # Text that merely holds '://' is no URI.
                ("CancelExport", pb.CancelExportRequest(id=f"Bearer {secret} ://")),
                ("ResumeExport", pb.ResumeExportRequest(id=f"KEY:{secret}@s3://bucket")),
            ):
                with pytest.raises(grpc.RpcError):
                    getattr(stub, method)(request, metadata=md, timeout=10)
    time.sleep(0.2)
    recorded = [
        (line["principal"], line["method"].rpartition("/")[2], line["export_id"])
        for line in secured.audit_lines()
    ]
    placeholder = "(not an export id)"
    marked = f"s3://(credentials removed)@{folder}/manifest.json"
    assert recorded == [
        (who, method, marked if method == "DeleteExport" else placeholder)
        for who in ("root", "bob", "reader")
        for method in (
            "DeleteExport",
            "CancelExport",
            "ResumeExport",
            "CancelExport",
            "ResumeExport",
        )
    ]
    assert "EXAMPLE" not in secured.audit.read_text()
    assert "QUERYSECRET" not in secured.audit.read_text()


def test_credentials_pasted_into_a_uri_are_repeated_nowhere(secured: Secured) -> None:
    """A key pair pasted into a cloud URI (user-info) is refused, and no status message,
    CLI output (plain or --json), daemon log line or audit line repeats it, whoever
    asks."""
    key = "AKIAIOSFODNN7EXAMPLE"
    plain = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    slashed = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's own example holds '/'
    # Azurite's well-known account key: 88 characters with two '/', as most real keys.
    azure_key = (
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    )
    pieces = (
        key,
        "wJalrXUtnFEMI",
        "K7MDENG",
        "CYEXAMPLEKEY",
        "Eby8vdM02x",
        "K1SZFPTOtr",
        "KBHBeksoGMGw",
    )
    uris = [
        f"s3://{key}:{plain}@my-bucket/out",
        f"s3a://{key}:{plain}@my-bucket/out",
        f"s3://{key}:{slashed}@my-bucket/out",
        f"az://acct:{plain}@container/out",
        f"abfss://container:{plain}@acct.dfs.core.windows.net/out",
        f"az://{plain}@container/out",
        # Bare secrets holding '/' before '@'.
        f"az://{azure_key}@container/out",
        f"abfss://{azure_key}@acct.dfs.core.windows.net/out",
        f"s3://{slashed}@my-bucket/out",
    ]
    messages: list[str] = []
    with secured.client("root") as root:
        for uri in uris:
            source = str(secured.daemon.sources / "alice" / "events.parquet")
            for spec in (
                secured.spec("root", source=source, to=uri),
                secured.spec("root", source=uri + "/x.parquet", to=str(secured.daemon.exports)),
            ):
                with pytest.raises(InvalidArgumentError) as refused:
                    root.create(spec)
                assert "credentials" in str(refused.value), refused.value
                messages.append(str(refused.value))
    manifest = f"{uris[0]}/x/20261207T000000Z-000000000000/manifest.json?sig=QUERYSECRET"
    azure_manifest = f"{uris[6]}/x/20261207T000000Z-000000000000/manifest.json"
    calls = [
        ("ListDatasetExports", pb.ListDatasetExportsRequest(destination=uris[6], dataset="x")),
        ("ListDatasetExports", pb.ListDatasetExportsRequest(destination=uris[8], dataset="x")),
        ("VerifyExport", pb.VerifyExportRequest(export=azure_manifest)),
        ("DeleteExport", pb.DeleteExportRequest(export=azure_manifest)),
        ("CancelExport", pb.CancelExportRequest(id=uris[6])),
        ("ResumeExport", pb.ResumeExportRequest(id=uris[8])),
        ("ListDatasetExports", pb.ListDatasetExportsRequest(destination=uris[2], dataset="x")),
        (
            "ApplyRetention",
            pb.ApplyRetentionRequest(
                destination=uris[3], dataset="x", policy=pb.RetentionPolicy(keep_last=1)
            ),
        ),
        ("VerifyExport", pb.VerifyExportRequest(export=manifest)),
        ("DeleteExport", pb.DeleteExportRequest(export=manifest)),
        ("DeleteExport", pb.DeleteExportRequest(export=uris[4])),
        ("CancelExport", pb.CancelExportRequest(id=uris[2])),
        ("ResumeExport", pb.ResumeExportRequest(id=uris[5])),
    ]
    channel, stub = secured.stub()
    with channel:
        for who in ("root", "bob", "reader"):
            for method, request in calls:
                with pytest.raises(grpc.RpcError) as raised:
                    getattr(stub, method)(request, metadata=_md(secured.tokens[who]), timeout=10)
                messages.append(raised.value.details())
    env = {"SLUICE_TOKEN": secured.tokens["root"]}
    for extra in ((), ("--json",)):
        for args in (
            ("export", "create", "--source", source, "--to", uris[2], "--dataset", "x"),
            ("export", "delete", manifest),
            ("export", "verify", uris[5] + "/x/20261207T000000Z-000000000000/manifest.json"),
            ("export", "create", "--source", source, "--to", uris[6], "--dataset", "x"),
            (
                "export",
                "create",
                "--source",
                uris[7] + "/x.csv",
                "--to",
                str(secured.daemon.exports),
                "--dataset",
                "x",
            ),
            ("export", "verify", azure_manifest),
            ("export", "delete", azure_manifest),
            # Read by the CLI itself, not the daemon: refused before fsspec, whose S3
            # and Azure errors quote the bucket segment.
            ("export", "manifest", manifest),
            ("export", "manifest", azure_manifest),
            ("export", "read", manifest),
            ("export", "read", azure_manifest),
            ("export", "get", manifest),
        ):
            cli = run_cli(secured.daemon, *args, *extra, env=env)
            assert cli.returncode != 0, cli.stdout
            messages.append(cli.stdout + cli.stderr)
    time.sleep(0.2)
    written = secured.audit.read_text() + secured.daemon.log_path.read_text()
    for text in [*messages, written]:
        for piece in (*pieces, "QUERYSECRET"):
            assert piece not in text, text
    deletes = [
        line["export_id"]
        for line in secured.audit_lines()
        if line["method"].endswith("/DeleteExport")
    ]
    # Credentials held whole in the authority: the marker form; a bare secret holding
    # '/': nothing that looks like a location is left, so the placeholder.
    marked = "(credentials removed)"
    assert f"s3://{marked}@my-bucket/out/x/20261207T000000Z-000000000000/manifest.json" in deletes
    assert set(deletes) == {
        f"s3://{marked}@my-bucket/out/x/20261207T000000Z-000000000000/manifest.json",
        "(not an export id)",
    }, deletes
    cancels = {
        line["export_id"]
        for line in secured.audit_lines()
        if line["method"].endswith(("/CancelExport", "/ResumeExport"))
    }
    assert cancels == {f"az://{marked}@container/out", "(not an export id)"}, cancels


def test_a_bare_secret_in_place_of_a_bucket_is_repeated_nowhere(secured: Secured) -> None:
    """A key pasted where the bucket or container goes, without '@' (`s3://SECRETKEY/x`,
    `s3://KEY:SECRET/x`, `az://ACCOUNTKEY/x`) holds no user-info to cut out, but is no
    valid name either: refused saying why, and no status message, CLI output (the CLI
    refuses it before sending it, or, when it is made of the characters of a legacy S3
    bucket name, which the client still reads, shows it as "(bucket not repeated)"),
    daemon log or audit line repeats it."""
    key = "AKIAIOSFODNN7EXAMPLE"
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    pieces = (key, "wJalr", "MDENG", "EXAMPLEKEY", "Bad_Bucket")
    bare = [
        f"s3://{key}/out",
        f"s3://{secret}/out",
        f"s3a://{key}:wJalr/out",
        f"az://{secret}/out",
        f"abfss://{key}_{secret}/out",
        "s3://Bad_Bucket/out",
    ]
    manifests = [f"{uri}/x/20261207T000000Z-000000000000/manifest.json" for uri in bare]
    source = str(secured.daemon.sources / "alice" / "events.parquet")
    messages: list[str] = []
    with secured.client("root") as root:
        for uri in bare:
            for spec in (
                secured.spec("root", source=source, to=uri),
                # An s3 profile: for az:// the wrong kind, which must not quote it either.
                secured.spec("root", source=source, to=uri, storage_profile="lake"),
                secured.spec("root", source=uri + "/x.parquet", to=str(secured.daemon.exports)),
            ):
                with pytest.raises(InvalidArgumentError) as refused:
                    root.create(spec)
                assert "name (not repeated)" in str(refused.value), refused.value
                messages.append(str(refused.value))
    channel, stub = secured.stub()
    with channel:
        for who in ("root", "reader"):
            for uri, manifest in zip(bare, manifests, strict=True):
                listing = pb.ListDatasetExportsRequest(destination=uri, dataset="x")
                for method, request in (
                    ("VerifyExport", pb.VerifyExportRequest(export=manifest)),
                    ("DeleteExport", pb.DeleteExportRequest(export=manifest)),
                    ("ListDatasetExports", listing),
                ):
                    metadata = _md(secured.tokens[who])
                    with pytest.raises(grpc.RpcError) as raised:
                        getattr(stub, method)(request, metadata=metadata, timeout=10)
                    messages.append(raised.value.details())
    env = {"SLUICE_TOKEN": secured.tokens["root"]}
    for uri, manifest in zip(bare, manifests, strict=True):
        for args in (
            ("export", "verify", manifest),
            ("export", "delete", manifest),
            ("export", "manifest", manifest),
            ("export", "read", manifest),
            ("export", "list", "--dataset", "x", "--to", uri),
            ("export", "create", "--source", source, "--to", uri, "--dataset", "x"),
        ):
            cli = run_cli(secured.daemon, *args, env=env)
            assert cli.returncode == 1, (args, cli.stdout, cli.stderr)
            # The client reads bucket names the daemon refuses (legacy us-east-1 names);
            # a bare key of their characters is taken as one and shown as
            # "(bucket not repeated)" (README: Storage profiles).
            assert "not repeated)" in cli.stderr, (args, cli.stderr)
            messages.append(cli.stdout + cli.stderr)
    time.sleep(0.2)
    written = secured.audit.read_text() + secured.daemon.log_path.read_text()
    for text in [*messages, written]:
        for piece in pieces:
            assert piece not in text, text


def test_cli_token_file_environment_and_hash_token(secured: Secured, tmp_path: Path) -> None:
    hashed = run_cli(None, "auth", "hash-token", input_text=secured.tokens["bob"] + "\n")
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout.strip() == _digest(secured.tokens["bob"])
    assert secured.tokens["bob"] not in hashed.stdout + hashed.stderr

    token_file = tmp_path / "bob.token"
    token_file.write_text(secured.tokens["bob"] + "\n")
    by_file = run_cli(secured.daemon, "--token-file", str(token_file), "auth", "whoami")
    assert by_file.returncode == 0 and by_file.stdout.strip() == "bob", by_file.stderr
    by_env = run_cli(secured.daemon, "auth", "whoami", env={"SLUICE_TOKEN": secured.tokens["root"]})
    assert by_env.stdout.strip() == "root", by_env.stderr
    refused = run_cli(secured.daemon, "export", "list")
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr, refused.stderr
    assert os.environ.get("SLUICE_TOKEN") is None


def test_mutual_tls_identities_are_principals(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = Authority.create()
    server = ca.issue(folder, "tls", common_name="sluice.test", server=True)
    spiffe = "spiffe://corp/ns/billing/sa/exporter"
    by_uri = ca.issue(folder, "svc", common_name="ignored-cn", server=False, uris=(spiffe,))
    by_cn = ca.issue(folder, "reports", common_name="reports", server=False)
    stranger = ca.issue(folder, "stranger", common_name="stranger", server=False)
    # CNs holding ':' that are no URI identity: known by them, as before.
    colon_cns = ("host:8080", "system:node:worker-1", "db-01.corp.example:5432")
    by_colon_cn = {
        cn: ca.issue(folder, f"colon{i}", common_name=cn, server=False)
        for i, cn in enumerate(colon_cns)
    }
    daemon = daemon_factory(
        "mtls",
        tls={
            "cert_file": str(server.cert_file),
            "key_file": str(server.key_file),
            "client_ca_file": str(ca.write_ca(folder / "ca.crt")),
            # grpcio asks for a client certificate only when it requires one.
            "require_client_auth": True,
        },
        auth={
            "principals": [
                {"name": "billing", "cert_identity": spiffe, "scopes": ["exports:read"]},
                {"name": "reports", "cert_identity": "reports", "scopes": ["exports:read"]},
                *(
                    {"name": f"colon{i}", "cert_identity": cn, "scopes": ["exports:read"]}
                    for i, cn in enumerate(colon_cns)
                ),
            ]
        },
    )
    daemon.tls_ca = folder / "ca.crt"
    daemon.tls_cert, daemon.tls_key = stranger.cert_file, stranger.key_file  # health is open
    daemon.start()

    def who(issued: object | None) -> str:
        cert = getattr(issued, "cert_file", None)
        key = getattr(issued, "key_file", None)
        with ExportClient(
            daemon.address, tls_ca=folder / "ca.crt", tls_cert=cert, tls_key=key, timeout=10
        ) as client:
            return client.server_info().principal

    assert who(by_uri) == "billing"  # the URI SAN (SPIFFE id), not the CN
    assert who(by_cn) == "reports"
    for i, cn in enumerate(colon_cns):
        assert who(by_colon_cn[cn]) == f"colon{i}", cn
    with pytest.raises(UnauthenticatedError):
        who(stranger)  # verified by the CA, but no principal's identity
    with pytest.raises(ServerUnreachableError):
        who(None)  # refused during the handshake


def test_a_certificate_with_a_uri_san_is_known_by_it_alone(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """README: the identity is the URI SAN, else the CN. A certificate holding a URI SAN
    is never taken for a principal its CN (or a DNS SAN) names, on the export service and
    on Arrow Flight alike; a CN never stands for a URI identity."""
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = Authority.create()
    server = ca.issue(folder, "tls", common_name="sluice.test", server=True)
    admin = "spiffe://corp/ns/ops/sa/admin"
    billing = "spiffe://corp/ns/billing/sa/exporter"
    intern = ("spiffe://corp/ns/dev/sa/intern",)
    issued = {
        "intern-cn-reports": ca.issue(
            folder, "a", common_name="reports", server=False, uris=intern
        ),
        "intern-cn-admin": ca.issue(folder, "b", common_name=admin, server=False, uris=intern),
        "billing-cn-reports": ca.issue(
            folder, "c", common_name="reports", server=False, uris=(billing,)
        ),
        "cn-admin": ca.issue(folder, "d", common_name=admin, server=False),
        "dns-admin": ca.issue(folder, "e", common_name="x", server=False, dns_names=(admin,)),
        "dns-cn-reports": ca.issue(
            folder, "f", common_name="reports", server=False, dns_names=("reports.corp",)
        ),
        # A SAN holding '://' that grpc does not report as a URI SAN: fails closed.
        "dns-uri-cn-reports": ca.issue(
            folder, "g", common_name="reports", server=False, dns_names=(admin,)
        ),
    }
    daemon = daemon_factory(
        "mtls-rule",
        tls={
            "cert_file": str(server.cert_file),
            "key_file": str(server.key_file),
            "client_ca_file": str(ca.write_ca(folder / "ca.crt")),
            "require_client_auth": True,
        },
        auth={
            "principals": [
                {"name": "ops", "cert_identity": admin, "scopes": ["admin"]},
                {"name": "billing", "cert_identity": billing, "scopes": ["exports:read"]},
                {"name": "reports", "cert_identity": "reports", "scopes": ["exports:read"]},
            ]
        },
    )
    daemon.tls_ca = folder / "ca.crt"
    daemon.tls_cert = issued["billing-cn-reports"].cert_file
    daemon.tls_key = issued["billing-cn-reports"].key_file
    daemon.start()
    ca_pem = (folder / "ca.crt").read_bytes()

    def who(name: str) -> str:
        with ExportClient(
            daemon.address,
            tls_ca=folder / "ca.crt",
            tls_cert=issued[name].cert_file,
            tls_key=issued[name].key_file,
            timeout=10,
        ) as client:
            try:
                return client.server_info().principal
            except UnauthenticatedError:
                return "UNAUTHENTICATED"

    def flight(name: str) -> str:
        credentials = grpc.ssl_channel_credentials(
            ca_pem, issued[name].key_file.read_bytes(), issued[name].cert_file.read_bytes()
        )
        with grpc.secure_channel(daemon.address, credentials) as channel:
            stub = Flight_pb2_grpc.FlightServiceStub(channel)
            try:
                list(stub.ListFlights(fl.Criteria(), timeout=10))
            except grpc.RpcError as error:
                return error.code().name
            return "OK"

    assert {name: who(name) for name in issued} == {
        "intern-cn-reports": "UNAUTHENTICATED",  # the CN does not count beside a URI SAN
        "intern-cn-admin": "UNAUTHENTICATED",
        "billing-cn-reports": "billing",
        "cn-admin": "UNAUTHENTICATED",  # a CN never matches a URI identity
        "dns-admin": "UNAUTHENTICATED",  # a DNS SAN is no identity
        "dns-cn-reports": "reports",  # no URI SAN: the CN
        "dns-uri-cn-reports": "UNAUTHENTICATED",
    }
    assert {
        name: flight(name) for name in ("intern-cn-admin", "cn-admin", "billing-cn-reports")
    } == {
        "intern-cn-admin": "UNAUTHENTICATED",
        "cn-admin": "UNAUTHENTICATED",
        "billing-cn-reports": "OK",
    }


def test_a_certificate_naming_two_principals_is_refused(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """A client certificate whose URI SANs are the identities of two configured
    principals is UNAUTHENTICATED, on the export service and on Arrow Flight, whichever
    SAN comes first; the message names neither. Beside SANs of no principal, the one
    that is a principal's counts, as before."""
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = Authority.create()
    server = ca.issue(folder, "tls", common_name="sluice.test", server=True)
    admin = "spiffe://corp/ns/ops/sa/admin"
    billing = "spiffe://corp/ns/billing/sa/exporter"
    stranger = "spiffe://corp/ns/dev/sa/intern"
    issued = {
        "billing-then-admin": ca.issue(
            folder, "a", common_name="x", server=False, uris=(billing, admin)
        ),
        "admin-then-billing": ca.issue(
            folder, "b", common_name="x", server=False, uris=(admin, billing)
        ),
        "stranger-then-billing": ca.issue(
            folder, "c", common_name="x", server=False, uris=(stranger, billing)
        ),
    }
    daemon = daemon_factory(
        "mtls-two",
        tls={
            "cert_file": str(server.cert_file),
            "key_file": str(server.key_file),
            "client_ca_file": str(ca.write_ca(folder / "ca.crt")),
            "require_client_auth": True,
        },
        auth={
            "principals": [
                {"name": "ops", "cert_identity": admin, "scopes": ["admin"]},
                {"name": "billing", "cert_identity": billing, "scopes": ["exports:read"]},
            ]
        },
    )
    daemon.tls_ca = folder / "ca.crt"
    daemon.tls_cert = issued["stranger-then-billing"].cert_file
    daemon.tls_key = issued["stranger-then-billing"].key_file
    daemon.start()
    ca_pem = (folder / "ca.crt").read_bytes()

    def who(name: str) -> str:
        with ExportClient(
            daemon.address,
            tls_ca=folder / "ca.crt",
            tls_cert=issued[name].cert_file,
            tls_key=issued[name].key_file,
            timeout=10,
        ) as client:
            try:
                return client.server_info().principal
            except UnauthenticatedError as refused:
                message = str(refused)
                assert "more than one principal" in message, message
                for told in ("ops", "billing", "spiffe", "corp"):
                    assert told not in message, message
                return "UNAUTHENTICATED"

    def flight(name: str) -> str:
        credentials = grpc.ssl_channel_credentials(
            ca_pem, issued[name].key_file.read_bytes(), issued[name].cert_file.read_bytes()
        )
        with grpc.secure_channel(daemon.address, credentials) as channel:
            stub = Flight_pb2_grpc.FlightServiceStub(channel)
            try:
                list(stub.ListFlights(fl.Criteria(), timeout=10))
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                    message = error.details() or ""
                    assert "more than one principal" in message, message
                    for told in ("ops", "billing", "spiffe", "corp"):
                        assert told not in message, message
                return error.code().name
            return "OK"

    assert {name: who(name) for name in issued} == {
        "billing-then-admin": "UNAUTHENTICATED",
        "admin-then-billing": "UNAUTHENTICATED",
        "stranger-then-billing": "billing",
    }
    assert {name: flight(name) for name in issued} == {
        "billing-then-admin": "UNAUTHENTICATED",
        "admin-then-billing": "UNAUTHENTICATED",
        "stranger-then-billing": "OK",
    }


def test_demo_ignores_the_callers_tls_and_token_environment(tmp_path: Path) -> None:
    """`sluice demo` runs its own loopback daemon: SLUICE_TLS_* and SLUICE_TOKEN meant
    for a real daemon (here: files that do not exist) must not reach its client, and
    SLUICE_* settings must not reach its daemon."""
    hostile = {
        "SLUICE_TLS_CA": str(tmp_path / "missing-ca.crt"),
        "SLUICE_TLS_CERT": str(tmp_path / "missing.crt"),
        "SLUICE_TLS_KEY": str(tmp_path / "missing.key"),
        "SLUICE_TOKEN": "not-for-the-demo",
        "SLUICE_AUDIT_LOG": str(tmp_path / "nope" / "audit.jsonl"),
        "SLUICE_ADDRESS": "0.0.0.0:1",
    }
    result = run_cli(
        None, "demo", "--rows", "2000", "--state-dir", str(tmp_path / "demo"), env=hostile
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "nope").exists()


def test_named_sources_and_flight_calls_act_for_their_principal(secured: Secured) -> None:
    """What a caller may reach is checked on the spec as it will run (a named source's
    location too), and Arrow Flight calls act for the authenticated principal."""
    with secured.client("alice") as alice:
        spec = secured.spec("alice")
        spec.source.Clear()
        spec.source.name = "bobs-events"
        with pytest.raises(PermissionDeniedError, match=r"spec\.source\.name"):
            alice.create(spec)
        done = alice.wait(alice.create(secured.spec("alice")).id, timeout=60)
        records = sum(batch.num_rows for batch in alice.read(done.id))
        assert records == 500
    with secured.client("bob") as bob, pytest.raises(NotFoundError):
        list(bob.read(done.id))  # another principal's export: as if it did not exist
    anonymous = ExportClient(secured.daemon.address, timeout=30)
    with anonymous, pytest.raises(UnauthenticatedError):
        list(anonymous.read(done.id))
    table = pa.table({"id": list(range(300)), "note": [f"n{i}" for i in range(300)]})
    pushed = ExportClient.build_spec(to=str(secured.daemon.exports / "carol"), dataset="pushed")
    with secured.client("carol") as carol:
        final = carol.put(pushed, table, "carol-put-1")
        assert final["state"] == "succeeded"
        assert carol.get(final["export_id"]).created_by == "carol"
    with secured.client("alice") as alice, pytest.raises(NotFoundError):
        alice.get(final["export_id"])
    with secured.client("root") as root:
        assert sum(b.num_rows for b in root.read(final["export_id"])) == 300
    # A stream is audited once it ended, which may be just after its caller read the last
    # answer.
    deadline = time.monotonic() + 10
    while True:
        methods = [
            (line["principal"], line["method"].rpartition("/")[2]) for line in secured.audit_lines()
        ]
        if ("carol", "DoPut") in methods or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ("carol", "DoPut") in methods


def test_a_put_broken_off_is_audited_as_cancelled(secured: Secured) -> None:
    """A DoPut that made its export and then lost its client is still a state change:
    the audit log has it, with the export and CANCELLED."""
    schema = pa.schema([("id", pa.int64())])
    cmd = json.dumps(
        {
            "requestId": "carol-broken-put",
            "spec": {"destination": {"uri": str(secured.daemon.exports / "carol"), "dataset": "p"}},
        }
    ).encode()
    first = fl.FlightData(
        flight_descriptor=fl.FlightDescriptor(type=fl.FlightDescriptor.CMD, cmd=cmd)
    )
    header = schema_payload(schema)
    first.data_header, first.data_body = header.header, header.body
    hold = threading.Event()

    def messages() -> Iterator[fl.FlightData]:
        yield first
        hold.wait(30)  # the stream stays open, sending nothing more

    with grpc.insecure_channel(secured.daemon.address) as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        call = stub.DoPut(messages(), metadata=_md(secured.tokens["carol"]), timeout=60)
        ack = json.loads(next(call).app_metadata)
        call.cancel()
        hold.set()
    deadline = time.monotonic() + 20
    while True:
        puts = [a for a in secured.audit_lines() if a["method"].endswith("/DoPut")]
        if puts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(a["principal"], a["outcome"], a["export_id"]) for a in puts] == [
        ("carol", "CANCELLED", ack["export_id"])
    ]


def test_each_file_a_glob_matches_is_within_the_principals_source_roots(
    secured: Secured,
) -> None:
    """A pattern inside alice's roots passes the first check; the files it expands to
    are checked too, so a symlinked file or folder in her folder cannot reach bob's."""
    sources = secured.daemon.sources
    alice_dir = sources / "alice"
    channel, stub = secured.stub()
    alice = _md(secured.tokens["alice"])

    def create(source: Path) -> grpc.RpcError | pb.Export:
        spec = secured.spec("alice", source=str(source), format="parquet")
        try:
            return stub.CreateExport(pb.CreateExportRequest(spec=spec), metadata=alice, timeout=30)
        except grpc.RpcError as exc:
            return exc

    with channel:
        (alice_dir / "nested").mkdir()
        (alice_dir / "nested" / "events.parquet").write_bytes(secured.source.read_bytes())
        made = create(alice_dir / "*" / "*.parquet")  # only her own files: allowed
        assert isinstance(made, pb.Export), made
        with secured.client("alice") as client:
            done = client.wait(made.id, timeout=60)
            assert sum(batch.num_rows for batch in client.read(done.id)) == 500

        (alice_dir / "zz-bob.parquet").symlink_to(sources / "bob" / "events.parquet")
        (alice_dir / "via-bob").symlink_to(sources / "bob")
        for pattern, escaping in (
            (alice_dir / "*.parquet", alice_dir / "zz-bob.parquet"),
            (alice_dir / "*" / "events.parquet", alice_dir / "via-bob" / "events.parquet"),
        ):
            error = create(pattern)
            assert isinstance(error, grpc.RpcError), pattern
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()  # type: ignore[attr-defined]
            details = error.details()  # type: ignore[attr-defined]
            assert details.startswith("spec.source.uri:"), details
            assert str(escaping) in details, details
    assert any(
        line["outcome"] == "PERMISSION_DENIED" and line["method"].endswith("CreateExport")
        for line in secured.audit_lines()
    )
