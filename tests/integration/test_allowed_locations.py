"""Sources, destinations and the URIs admin calls take are an allow-list: local paths
inside the roots, s3:// and az:// / abfs://. Everything else is INVALID_ARGUMENT naming
the field, before any I/O (no file read, no connection made); a symlink planted in an
export's folder while it waits is never followed; globs are bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sluice.client import ExportClient, ExportFailedError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

SECRET_LINE = "1,SECRET-LINE-do-not-echo,4111111111111111"
EXPORT_ID = "20250101T000000Z-000000000000"


class _CountingServer(ThreadingHTTPServer):
    """Counts every connection, whatever is (or is not) said on it."""

    connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        type(self).connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"id,card\n" + SECRET_LINE.encode() + b"\n")

    do_PUT = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon for the many refusals below (each leaves nothing behind)."""
    daemon = Daemon(root=tmp_path_factory.mktemp("allow-list"))
    daemon.start()
    yield daemon
    try:
        daemon.stop(timeout=20)
    except Exception:
        daemon.kill()


@pytest.fixture
def listener() -> Iterator[_CountingServer]:
    _CountingServer.connections = 0
    server = _CountingServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def outside(shared: Daemon) -> Path:
    """A folder outside every root, holding a file whose lines must never be echoed."""
    folder = shared.root / "outside"
    folder.mkdir(exist_ok=True)
    (folder / "secret.csv").write_text("id,name,card\n" + SECRET_LINE + "\n")
    return folder


def _refused_uris(outside: Path, listener: _CountingServer) -> list[str]:
    port = listener.server_address[1]
    return [
        f"local://{outside}/secret.csv",
        f"memory://{outside}/secret.csv",
        f"http://127.0.0.1:{port}/secret.csv",
        f"https://127.0.0.1:{port}/secret.csv",
        f"ftp://127.0.0.1:{port}/secret.csv",
        f"sftp://127.0.0.1:{port}/secret.csv",
        f"simplecache::file://{outside}/secret.csv",
        f"zip://secret.csv::file://{outside}/a.zip",
        "bogus://host/secret.csv",
        f"file://127.0.0.1{outside}/secret.csv",
    ]


SCHEMES = [
    "local",
    "memory",
    "http",
    "https",
    "ftp",
    "sftp",
    "chained",
    "zip",
    "bogus",
    "file-host",
]


def _invalid_argument(call: Any) -> tuple[list[str], str]:
    """Run `call`; it must fail with INVALID_ARGUMENT. Returns (fields, message)."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()  # type: ignore[attr-defined]
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields, status.message


def _spec(daemon: Daemon, source: str, to: str) -> pb.ExportSpec:
    return ExportClient.build_spec(source=source, to=to, dataset="events", source_format="csv")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_refused_source_schemes(
    shared: Daemon, outside: Path, listener: _CountingServer, scheme: str
) -> None:
    uri = _refused_uris(outside, listener)[SCHEMES.index(scheme)]
    with grpc.insecure_channel(shared.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        request = pb.CreateExportRequest(spec=_spec(shared, uri, str(shared.exports)))
        fields, message = _invalid_argument(lambda: stub.CreateExport(request, timeout=30))
    assert fields == ["spec.source.uri"], message
    assert "SECRET-LINE" not in message
    assert listener.connections == 0
    assert list(shared.exports.iterdir()) == []
    assert "SECRET-LINE" not in shared.log_path.read_text(errors="replace")
    assert shared.healthy()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_refused_destination_schemes(
    shared: Daemon, outside: Path, listener: _CountingServer, scheme: str
) -> None:
    source = shared.sources / "events.csv"
    if not source.exists():
        generate(source, 50, format="csv")
    uri = _refused_uris(outside, listener)[SCHEMES.index(scheme)].rpartition("/")[0]
    with grpc.insecure_channel(shared.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        request = pb.CreateExportRequest(spec=_spec(shared, str(source), uri))
        fields, message = _invalid_argument(lambda: stub.CreateExport(request, timeout=30))
        listed = stub.ListExports(pb.ListExportsRequest(), timeout=10)
    assert fields == ["spec.destination.uri"], message
    assert listener.connections == 0
    assert list(listed.exports) == [], "nothing is queued"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    assert shared.healthy()


def _admin_calls(
    stub: export_pb2_grpc.ExportServiceStub, manifest: str, destination: str
) -> list[tuple[str, Any, str]]:
    policy = pb.RetentionPolicy(keep_last=1)
    return [
        ("verify", lambda: stub.VerifyExport(pb.VerifyExportRequest(export=manifest)), "export"),
        ("delete", lambda: stub.DeleteExport(pb.DeleteExportRequest(export=manifest)), "export"),
        (
            "diff",
            lambda: stub.DiffExports(pb.DiffExportsRequest(base=manifest, other=manifest)),
            "base",
        ),
        (
            "list",
            lambda: stub.ListDatasetExports(
                pb.ListDatasetExportsRequest(destination=destination, dataset="events")
            ),
            "destination",
        ),
        (
            "retention",
            lambda: stub.ApplyRetention(
                pb.ApplyRetentionRequest(destination=destination, dataset="events", policy=policy)
            ),
            "destination",
        ),
    ]


@pytest.mark.parametrize("scheme", [*SCHEMES, "local path outside the roots"])
def test_refused_admin_uris(
    shared: Daemon, outside: Path, listener: _CountingServer, scheme: str
) -> None:
    if scheme in SCHEMES:
        base = _refused_uris(outside, listener)[SCHEMES.index(scheme)].rpartition("/")[0]
    else:
        base = str(outside)
    # A committed-looking export outside the roots, so a followed URI would find it.
    (outside / "events" / EXPORT_ID).mkdir(parents=True, exist_ok=True)
    (outside / "events" / EXPORT_ID / "manifest.json").write_text('{"x": "SECRET-LINE"}')
    manifest = f"{base}/events/{EXPORT_ID}/manifest.json"
    failures = []
    with grpc.insecure_channel(shared.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for name, call, field in _admin_calls(stub, manifest, base):
            try:
                fields, message = _invalid_argument(lambda: call())  # noqa: B023
            except (AssertionError, pytest.fail.Exception) as exc:
                failures.append(f"{name}: {exc}")
                continue
            if fields != [field] or "SECRET-LINE" in message:
                failures.append(f"{name}: fields {fields}, message {message!r}")
    assert not failures, "\n".join(failures)
    assert listener.connections == 0
    assert (outside / "events" / EXPORT_ID / "manifest.json").exists()
    assert shared.healthy()


def test_outside_roots_message_names_the_setting_not_the_roots(shared: Daemon) -> None:
    """A refusal names the field, the path the caller sent and the setting, never the
    server's roots nor where a symlink leads: those tell a caller the server's layout."""
    with grpc.insecure_channel(shared.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        source = generate(shared.sources / "small.csv", 20, format="csv")
        spec = _spec(shared, "/etc/hostname", str(shared.exports))
        fields, message = _invalid_argument(
            lambda: stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
        )
        assert fields == ["spec.source.uri"] and "/etc/hostname" in message
        assert str(shared.sources) not in message and str(shared.exports) not in message
        assert "allowed_source_roots" in message and "--allow-source-root" in message
        spec = _spec(shared, str(source), str(shared.root / "elsewhere"))
        fields, message = _invalid_argument(
            lambda: stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
        )
        assert fields == ["spec.destination.uri"] and str(shared.root / "elsewhere") in message
        assert str(shared.sources) not in message and str(shared.exports) not in message
        assert "allowed_roots" in message and "--allow-root" in message


def test_outside_roots_message_hides_where_a_symlink_leads(shared: Daemon, outside: Path) -> None:
    hidden = shared.root / "hidden-target"
    hidden.mkdir(exist_ok=True)
    link_source = shared.sources / "linked.csv"
    link_source.unlink(missing_ok=True)
    link_source.symlink_to(outside / "secret.csv")
    link_folder = shared.exports / "linked"
    link_folder.unlink(missing_ok=True)
    link_folder.symlink_to(hidden, target_is_directory=True)
    source = generate(shared.sources / "small.csv", 20, format="csv")
    with grpc.insecure_channel(shared.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        refusals = [
            (_spec(shared, str(link_source), str(shared.exports)), "spec.source.uri"),
            (_spec(shared, str(source), str(link_folder)), "spec.destination.uri"),
        ]
        for spec, field in refusals:
            fields, message = _invalid_argument(
                lambda spec=spec: stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
            )
            assert fields == [field], message
            assert "roots this server allows" in message, message
            for hidden_path in (outside, hidden):
                assert str(hidden_path) not in message, message
            other_root = shared.exports if field == "spec.source.uri" else shared.sources
            assert str(other_root) not in message, message
    link_source.unlink()
    link_folder.unlink()


@pytest.mark.parametrize("where", ["export folder", "dataset folder"])
def test_symlink_planted_while_queued_is_not_followed(daemon_factory: Any, where: str) -> None:
    daemon = daemon_factory(
        "one-at-a-time", max_concurrent_exports=1, batch_rows=256, pipeline_queue_depth=1
    )
    daemon.start()
    big = generate(daemon.sources / "big.parquet", 100_000, seed=2)
    small = generate(daemon.sources / "small.parquet", 200, seed=3)
    outside = daemon.root / "outside"
    outside.mkdir()
    with ExportClient(daemon.address) as client:
        blocker = client.create(
            ExportClient.build_spec(
                source=str(big),
                to=str(daemon.exports),
                dataset="big",
                compression="gzip",
                level=9,
                chunk_rows=500,
            )
        )
        queued = client.create(
            ExportClient.build_spec(source=str(small), to=str(daemon.exports), dataset="small")
        )
        if where == "export folder":
            (daemon.exports / "small").mkdir()
            (daemon.exports / "small" / queued.id).symlink_to(outside, target_is_directory=True)
        else:
            (daemon.exports / "small").symlink_to(outside, target_is_directory=True)
        assert client.get(queued.id).state == pb.EXPORT_STATE_QUEUED, "the blocker ended early"
        client.cancel(blocker.id)
        with pytest.raises(ExportFailedError) as failed:
            client.wait(queued.id, timeout=60)
    finished = failed.value.export
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code in {"PERMISSION_DENIED", "INVALID_ARGUMENT"}, finished.error
    assert "symbolic link" in finished.error.message or "outside" in finished.error.message
    assert list(outside.iterdir()) == [], "nothing lands outside the root"
    assert daemon.healthy()


def test_glob_bounds(daemon: Daemon) -> None:
    deep = daemon.sources / "deep"
    folder = deep
    for level in range(40):
        folder = folder / f"d{level}"
    folder.mkdir(parents=True)
    generate(folder / "x.csv", 10, format="csv")
    generate(daemon.sources / "tree" / "a" / "b" / "y.csv", 10, format="csv")
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for pattern, expected in (
            ("/".join(["**"] * 12) + "/*.csv", "'**'"),  # many **: refused before any walk
            ("**/*.csv", "deep"),  # a tree deeper than the walk may go
        ):
            spec = _spec(daemon, f"{deep}/{pattern}", str(daemon.exports))
            started = time.monotonic()
            fields, message = _invalid_argument(
                lambda: stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=60)  # noqa: B023
            )
            assert fields == ["spec.source.uri"], message
            assert expected in message
            assert time.monotonic() - started < 30
        # Within the bounds, `**` still matches at any depth.
        spec = _spec(daemon, f"{daemon.sources}/tree/**/**/y.csv", str(daemon.exports))
        created = stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
    with ExportClient(daemon.address) as client:
        assert client.wait(created.id, timeout=60).state == pb.EXPORT_STATE_SUCCEEDED
