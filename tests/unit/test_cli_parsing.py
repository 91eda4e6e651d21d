"""The `sluice` CLI: option parsing, output shapes, exit codes and error lines.

Commands that talk to a daemon run against a small scripted ExportService on a real
in-process gRPC server (no Sluice server code involved)."""

from __future__ import annotations

import json
import socket
import sys
import types
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sluice.client.cli.main import cli
from sluice.client.cli.params import (
    parse_label,
    parse_server,
    parse_size,
    parse_time,
    split_list,
)
from sluice.v1 import export_pb2, export_pb2_grpc

# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        ("0", 0),
        ("64MiB", 64 * 2**20),
        ("64M", 64 * 2**20),
        ("64mib", 64 * 2**20),
        ("1GB", 10**9),
        ("1GiB", 2**30),
        ("1.5KiB", 1536),
        ("10 KB", 10_000),
        ("2T", 2 * 2**40),
        ("512B", 512),
        # More digits than a Decimal's default 28: rounded exactly, not to 2 nor refused.
        ("1.49999999999999999999999999999", 1),
        ("9223372036854775807.4999999999999", 2**63 - 1),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "12XB", "1.2.3M", "MiB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_label() -> None:
    assert parse_label("team=data") == ("team", "data")
    assert parse_label("q=a=b") == ("q", "a=b")
    assert parse_label("empty=") == ("empty", "")
    for bad in ("novalue", "=x", ""):
        with pytest.raises(ValueError):
            parse_label(bad)


def test_parse_time() -> None:
    assert parse_time("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_time("2024-05-01T12:30:00") == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert parse_time("2024-05-01T12:30:00Z") == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    plus2 = parse_time("2024-05-01T12:30:00+02:00")
    assert plus2.utcoffset() == timedelta(hours=2)
    assert plus2 == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_split_list() -> None:
    assert split_list("a,b") == ["a", "b"]
    assert split_list(("1,2", "3", " 4 , ,")) == ["1", "2", "3", "4"]


# ------------------------------------------------------------------------------- help

COMMANDS = [
    [],
    ["serve"],
    ["demo"],
    ["export"],
    *[["export", c] for c in ("create", "get", "watch", "cancel", "resume", "list", "manifest")],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "sluice")
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    base = ["export", "create", "--source", "s", "--to", "t", "--dataset", "d"]
    assert runner.invoke(cli, [*base, "--chunk-bytes", "12XB"]).exit_code == 2
    assert runner.invoke(cli, [*base, "--label", "novalue"]).exit_code == 2
    assert runner.invoke(cli, [*base, "--since", "soon", "--time-column", "ts"]).exit_code == 2
    result = runner.invoke(cli, [*base, "--since", "2024-01-01"])
    assert result.exit_code == 2
    assert "--time-column" in result.stderr
    assert runner.invoke(cli, ["export", "list", "--state", "sleeping"]).exit_code == 2


# ---------------------------------------------------------------------- unreachable


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        ["export", "get", "exp_1"],
        ["export", "list"],
        ["export", "cancel", "exp_1"],
        ["export", "watch", "exp_1"],
        ["export", "create", "--source", "s", "--to", "t", "--dataset", "d", "--wait"],
        ["export", "put", "--from", "{records}", "--to", "t", "--dataset", "d"],
        ["export", "get-records", "exp_1"],
        ["export", "verify", "exp_1"],
        ["ask", "my events as csv"],
        ["schedule", "list"],
    ],
)
def test_unreachable_server_is_one_line(command: list[str], tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text('{"a": 1}\n')
    command = [part.replace("{records}", str(records)) for part in command]
    address = f"127.0.0.1:{_unused_port()}"
    result = CliRunner().invoke(cli, ["--server", address, *command])
    assert result.exit_code == 1
    assert result.stderr == (
        f"sluice: error: cannot reach the Sluice server at {address} (is `sluice serve` running?)\n"
    )
    assert result.stdout == ""


def test_server_address_from_environment() -> None:
    address = f"127.0.0.1:{_unused_port()}"
    result = CliRunner(env={"SLUICE_SERVER": address}).invoke(cli, ["export", "get", "x"])
    assert result.exit_code == 1
    assert address in result.stderr


# ------------------------------------------------------------------------------ serve


def test_serve_passes_only_given_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []
    fake = types.ModuleType("sluice.server.main")
    fake.serve = lambda config_file, overrides: calls.append((config_file, dict(overrides))) or 7
    monkeypatch.setitem(sys.modules, "sluice.server.main", fake)
    runner = CliRunner()

    assert runner.invoke(cli, ["serve"]).exit_code == 7
    assert calls[-1] == (None, {})

    config = tmp_path / "sluice.toml"
    config.write_text("")
    args = ["serve", "--config", str(config), "--address", "0.0.0.0:1", "--state-dir", "st"]
    args += ["--allow-root", "/a", "--allow-root", "/b", "--allow-source-root", "/src"]
    assert runner.invoke(cli, args).exit_code == 7
    assert calls[-1] == (
        config,
        {
            "address": "0.0.0.0:1",
            "state_dir": Path("st"),
            "allowed_roots": [Path("/a"), Path("/b")],
            "allowed_source_roots": [Path("/src")],
        },
    )


# --------------------------------------------------- against a scripted ExportService


def _violation_status(field: str, description: str) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            ]
        )
    )
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="invalid export spec", details=[detail]
    )
    return rpc_status.to_status(status)


class FakeExports(export_pb2_grpc.ExportServiceServicer):
    """Keeps exports in a dict; every watch plays snapshot, progress, chunk, finished."""

    MAX_PAGE = 2  # forces `list` across several pages

    def __init__(self) -> None:
        self.exports: dict[str, export_pb2.Export] = {}
        self.requests: list[export_pb2.CreateExportRequest] = []
        self.final_state = export_pb2.EXPORT_STATE_SUCCEEDED
        self.manifest_uri = ""

    def add(self, spec: export_pb2.ExportSpec, request_id: str = "") -> export_pb2.Export:
        export = export_pb2.Export(
            id=f"exp_{len(self.exports) + 1}",
            request_id=request_id,
            state=export_pb2.EXPORT_STATE_QUEUED,
            spec=spec,
        )
        export.created_at.FromDatetime(datetime(2024, 5, 1, 12, tzinfo=UTC))
        self.exports[export.id] = export
        return export

    def _find(self, export_id, context) -> export_pb2.Export:
        if export_id not in self.exports:
            context.abort(grpc.StatusCode.NOT_FOUND, f"export {export_id} not found")
        return self.exports[export_id]

    def CreateExport(self, request, context):
        self.requests.append(request)
        if request.spec.output.format == "xlsx":
            context.abort_with_status(
                _violation_status("spec.output.format", "unknown format 'xlsx'")
            )
        return self.add(request.spec, request.request_id)

    def GetExport(self, request, context):
        return self._find(request.id, context)

    def ListExports(self, request, context):
        newest_first = list(reversed(self.exports.values()))
        start = int(request.page_token or 0)
        end = start + min(request.page_size or 50, self.MAX_PAGE)
        token = str(end) if end < len(newest_first) else ""
        return export_pb2.ListExportsResponse(
            exports=newest_first[start:end], next_page_token=token
        )

    def WatchExport(self, request, context):
        export = self._find(request.id, context)
        yield export_pb2.ExportEvent(export_id=export.id, snapshot=export)
        yield export_pb2.ExportEvent(
            export_id=export.id, state_changed=export_pb2.EXPORT_STATE_RUNNING
        )
        yield export_pb2.ExportEvent(
            export_id=export.id,
            progress=export_pb2.Progress(records=10, chunks=1, stored_bytes=99, eta_seconds=-1),
        )
        yield export_pb2.ExportEvent(
            export_id=export.id,
            chunk_committed=export_pb2.ChunkInfo(
                index=0, path="part-000000.jsonl.zst", records=10, stored_bytes=99, sha256="ab" * 32
            ),
        )
        export.state = self.final_state
        export.progress.records, export.progress.chunks, export.progress.stored_bytes = 10, 1, 99
        if self.final_state == export_pb2.EXPORT_STATE_FAILED:
            export.error.code, export.error.message = "UNAVAILABLE", "bucket unreachable"
            export.error.transient = True
        else:
            export.manifest_uri = self.manifest_uri
        yield export_pb2.ExportEvent(export_id=export.id, finished=export)

    def CancelExport(self, request, context):
        export = self._find(request.id, context)
        export.state = export_pb2.EXPORT_STATE_CANCELLED
        return export

    def ResumeExport(self, request, context):
        export = self._find(request.id, context)
        if export.state not in (export_pb2.EXPORT_STATE_FAILED, export_pb2.EXPORT_STATE_CANCELLED):
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"export {export.id} is not resumable"
            )
        export.state = export_pb2.EXPORT_STATE_QUEUED
        return export


@pytest.fixture
def fake() -> Iterator[tuple[FakeExports, CliRunner]]:
    servicer = FakeExports()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    export_pb2_grpc.add_ExportServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, CliRunner(env={"SLUICE_SERVER": f"127.0.0.1:{port}"})
    server.stop(grace=None)


CREATE = ["export", "create", "--source", "data/*.parquet", "--to", "/out", "--dataset", "events"]


def test_create_builds_the_spec(fake: tuple[FakeExports, CliRunner]) -> None:
    servicer, runner = fake
    args = [*CREATE, "--chunk-bytes", "64MiB", "--ids", "1,2", "--ids", "3", "--columns", "a,b"]
    args += ["--label", "team=data", "--time-column", "ts", "--since", "2024-05-01"]
    args += ["--level", "3", "--request-id", "r-1"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == "exp_1\n"
    request = servicer.requests[-1]
    assert request.request_id == "r-1"
    spec = request.spec
    assert spec.chunking.target_bytes == 64 * 2**20
    assert list(spec.query.ids) == ["1", "2", "3"]
    assert list(spec.query.columns) == ["a", "b"]
    assert dict(spec.labels) == {"team": "data"}
    assert spec.query.time_range.since.ToDatetime(tzinfo=UTC) == datetime(2024, 5, 1, tzinfo=UTC)
    assert not spec.query.time_range.HasField("until")
    assert spec.output.level == 3


def test_export_json_shape(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    runner.invoke(cli, [*CREATE, "--label", "team=data"])
    result = runner.invoke(cli, ["export", "get", "exp_1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == [
        "id",
        "request_id",
        "state",
        "manifest_uri",
        "replica",
        "records",
        "chunks",
        "stored_bytes",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "labels",
        "spec",
        "notifications",
        "attempts",
        "values_forgotten",
    ]
    assert data["state"] == "queued"
    assert data["created_at"] == "2024-05-01T12:00:00Z"
    assert data["started_at"] is None
    assert data["error"] is None
    assert data["labels"] == {"team": "data"}
    assert data["spec"]["destination"] == {"uri": "/out", "dataset": "events"}
    assert data["notifications"] == []
    assert data["attempts"] == []
    assert data["values_forgotten"] is False


def test_create_wait_json_prints_the_finished_export(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    result = runner.invoke(cli, [*CREATE, "--wait", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["state"], data["records"], data["chunks"]) == ("succeeded", 10, 1)


def test_create_wait_exits_3_when_the_export_fails(fake: tuple[FakeExports, CliRunner]) -> None:
    servicer, runner = fake
    servicer.final_state = export_pb2.EXPORT_STATE_FAILED
    result = runner.invoke(cli, [*CREATE, "--wait", "--json"])
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["state"] == "failed"
    assert data["error"] == {
        "code": "UNAVAILABLE",
        "message": "bucket unreachable",
        "transient": True,
    }

    result = runner.invoke(cli, [*CREATE, "--wait"])
    assert result.exit_code == 3
    assert "failed" in result.stdout
    assert "UNAVAILABLE: bucket unreachable" in result.stdout


def test_watch_json_lines(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    runner.invoke(cli, CREATE)
    result = runner.invoke(cli, ["export", "watch", "exp_1", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == [
        "snapshot",
        "state_changed",
        "progress",
        "chunk_committed",
        "finished",
    ]
    assert events[1]["state_changed"] == "running"
    assert events[2]["progress"]["eta_seconds"] is None
    assert events[4]["finished"]["state"] == "succeeded"


def test_watch_without_terminal_prints_lines(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    runner.invoke(cli, CREATE)
    result = runner.invoke(cli, ["export", "watch", "exp_1"])
    assert result.exit_code == 0, result.output
    assert "chunk 0 committed: part-000000.jsonl.zst" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("export exp_1 succeeded: 10 records")


def test_list_follows_pages_up_to_the_limit(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    for _ in range(5):
        runner.invoke(cli, CREATE)
    result = runner.invoke(cli, ["export", "list", "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert [e["id"] for e in json.loads(result.stdout)] == ["exp_5", "exp_4", "exp_3"]
    table = runner.invoke(cli, ["export", "list"])
    assert table.exit_code == 0, table.output
    assert all(f"exp_{i}" in table.stdout for i in range(1, 6))


def test_invalid_argument_is_one_line_with_the_field(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    result = runner.invoke(cli, [*CREATE, "--format", "xlsx"])
    assert result.exit_code == 1
    assert result.stderr == (
        "sluice: error: INVALID_ARGUMENT: invalid export spec "
        "(spec.output.format: unknown format 'xlsx')\n"
    )


def test_cancel_and_resume(fake: tuple[FakeExports, CliRunner]) -> None:
    _, runner = fake
    runner.invoke(cli, CREATE)
    result = runner.invoke(cli, ["export", "resume", "exp_1"])
    assert result.exit_code == 1
    assert result.stderr == "sluice: error: FAILED_PRECONDITION: export exp_1 is not resumable\n"
    result = runner.invoke(cli, ["export", "cancel", "exp_1"])
    assert result.exit_code == 0
    assert result.stdout.startswith("export exp_1 cancelled")
    result = runner.invoke(cli, ["export", "resume", "exp_1", "--json"])
    assert json.loads(result.stdout)["state"] == "queued"
    missing = runner.invoke(cli, ["export", "get", "exp_404"])
    assert missing.exit_code == 1
    assert missing.stderr == "sluice: error: NOT_FOUND: export exp_404 not found\n"


# --------------------------------------------------------------------------- manifest


def _write_manifest(folder: Path, chunks: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": 1,
        "export_id": "exp_1",
        "dataset": "events",
        "output": {"format": "jsonl", "compression": "zstd"},
        "totals": {"records": chunks * 100, "chunks": chunks, "stored_bytes": chunks * 2048},
        "chunks": [
            {
                "index": i,
                "path": f"part-{i:06d}.jsonl.zst",
                "records": 100,
                "stored_bytes": 2048,
                "sha256": f"{i:02d}" + "f" * 62,
            }
            for i in range(chunks)
        ],
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_manifest_from_a_local_file(tmp_path: Path) -> None:
    path = _write_manifest(tmp_path / "events" / "exp_1")
    runner = CliRunner(env={"COLUMNS": "160"})
    for target in (str(path), path.as_uri(), str(path.parent)):
        result = runner.invoke(cli, ["export", "manifest", target])
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "events" in out
        assert "exp_1" in out
        assert "jsonl / zstd" in out
        assert "1,200 records, 12 chunks" in out
        assert "part-000000.jsonl.zst" in out
        assert "part-000011.jsonl.zst" in out
        assert "part-000006.jsonl.zst" not in out  # middle chunks are elided
        assert "00ffffffffff…" in out
    result = runner.invoke(cli, ["export", "manifest", str(path), "--json"])
    assert json.loads(result.stdout) == json.loads(path.read_text())


def test_manifest_by_export_id(fake: tuple[FakeExports, CliRunner], tmp_path: Path) -> None:
    servicer, runner = fake
    runner.invoke(cli, CREATE)
    not_yet = runner.invoke(cli, ["export", "manifest", "exp_1"])
    assert not_yet.exit_code == 1
    assert "has no manifest yet" in not_yet.stderr
    servicer.manifest_uri = _write_manifest(tmp_path / "m", chunks=2).as_uri()
    runner.invoke(cli, ["export", "watch", "exp_1"])  # finishes the export
    result = runner.invoke(cli, ["export", "manifest", "exp_1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["chunks"] == 2


def test_manifest_missing_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "manifest", str(tmp_path / "manifest.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith("sluice: error: no manifest at ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:7070",
        "localhost:1",
        "sluice.svc.cluster.local:65535",
        "[::1]:7070",
        "unix:/run/sluice.sock",
        "dns:///sluice:7070",
        # An '@' in a socket path is no user-info; a link-local address has a zone id.
        "unix:/run/sluice@prod/sluice.sock",
        "ipv6:[fe80::1%eth0]:7070",
        "[fe80::1%eth0]:7070",
    ],
)
def test_server_addresses_grpc_can_dial_are_taken_as_given(address: str) -> None:
    assert parse_server(address) == address


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("bad address", "is not HOST:PORT"),
        ("127.0.0.1", "is not HOST:PORT"),
        ("127.0.0.1:", "is not HOST:PORT"),
        ("::1:7070", "is not HOST:PORT"),
        ("127.0.0.1:99999", "port 99999 is out of range 1-65535"),
        ("host:0", "port 0 is out of range"),
    ],
)
def test_a_misspelt_server_address_is_a_usage_error_naming_it(address: str, why: str) -> None:
    """Not "cannot reach the Sluice server at bad address (is `sluice serve` running?)",
    which sent the user looking for a daemon that was never the problem (w21-trial)."""
    for output in _server_refusals(address):
        assert why in output and "cannot reach" not in output


def _server_refusals(address: str) -> list[str]:
    """The CLI's output for `address` given as --server and as SLUICE_SERVER, each
    asserted to be the usage error naming --server."""
    outputs = []
    for args, env in (
        (["--server", address, "export", "list"], {}),
        (["export", "list"], {"SLUICE_SERVER": address}),
    ):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--server'" in result.output
        outputs.append(result.output)
    return outputs


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("dns:///", "dns: names HOST:PORT"),
        ("dns:", "dns: names HOST:PORT"),
        ("dns:///sluice", "dns: names HOST:PORT"),
        ("ipv4:1.2.3.4", "ipv4: names IPV4:PORT"),
        ("ipv4:1.2.3.4:70000", "ipv4: names IPV4:PORT"),
        ("ipv4:sluice:7070", "ipv4: names IPV4:PORT"),
        ("ipv6:[::1]", "ipv6: names [IPV6]:PORT"),
        ("ipv6:[fe80::1%]:7070", "ipv6: names [IPV6]:PORT"),
        ("unix:", "unix: names a socket"),
        ("vsock:x", "vsock: names CID:PORT"),
    ],
)
def test_a_grpc_target_uri_is_checked_too(address: str, why: str) -> None:
    """Target URIs skipped the check: `dns:///` and `ipv4:1.2.3.4` ended in grpc core's
    UNKNOWN/INTERNAL errors and log lines instead of a usage error."""
    result = CliRunner().invoke(cli, ["--server", address, "export", "list"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--server'" in result.output and why in result.output


@pytest.mark.parametrize(
    "address",
    ["user:s3cretpw@127.0.0.1:7070", "dns://user:s3cretpw@8.8.8.8/x:1", "s3cretpw@host:1"],
)
def test_a_server_address_with_user_info_is_refused_without_repeating_it(address: str) -> None:
    """click's "Invalid value" echoed `user:pw@127.0.0.1:7070`, and a dns: URI with
    user-info went to grpc and came back in an INTERNAL error, password and all."""
    for output in _server_refusals(address):
        assert "user name or password" in output and "s3cretpw" not in output
