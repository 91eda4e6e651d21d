"""error_from_rpc against real gRPC: an in-process server on 127.0.0.1 aborts with rich
statuses (google.rpc.Status + BadRequest details), exactly as the daemon's interceptor
will, and the client must map code, message and violations."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sluice import client
from sluice.client import (
    DeadlineExceededError,
    ExportClient,
    ExportFailedError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    ServerUnreachableError,
    SluiceError,
    UnavailableError,
    error_from_rpc,
)
from sluice.v1 import export_pb2, export_pb2_grpc

SERVICE = "test.Failing"


def _abort_handler(request: bytes, context: grpc.ServicerContext) -> bytes:
    """The request names the status code; INVALID_ARGUMENT also carries violations,
    "PLAIN:<code>" aborts without any rich details."""
    text = request.decode()
    if text.startswith("PLAIN:"):
        code = grpc.StatusCode[text.removeprefix("PLAIN:")]
        context.abort(code, f"plain {code.name.lower()}")
    code_name = text
    details = []
    if code_name == "INVALID_ARGUMENT":
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="spec.output.format", description="unknown format 'xlsx'"
                ),
                error_details_pb2.BadRequest.FieldViolation(
                    field="spec.destination.dataset", description="must not be empty"
                ),
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    status = status_pb2.Status(
        code=code_pb2.Code.Value(code_name),
        message=f"{code_name.lower()} happened",
        details=details,
    )
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort returns only by raising")


@pytest.fixture(scope="module")
def failing_channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Fail": grpc.unary_unary_rpc_method_handler(_abort_handler)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    server.stop(grace=None)


def _fail(channel: grpc.Channel, request: str) -> grpc.RpcError:
    call = channel.unary_unary(f"/{SERVICE}/Fail")
    with pytest.raises(grpc.RpcError) as caught:
        call(request.encode(), timeout=10)
    return caught.value


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("INVALID_ARGUMENT", client.InvalidArgumentError),
        ("NOT_FOUND", client.NotFoundError),
        ("FAILED_PRECONDITION", client.FailedPreconditionError),
        ("PERMISSION_DENIED", client.PermissionDeniedError),
        ("UNAUTHENTICATED", client.UnauthenticatedError),
        ("RESOURCE_EXHAUSTED", client.ResourceExhaustedError),
        ("UNAVAILABLE", client.UnavailableError),
        ("ALREADY_EXISTS", client.AlreadyExistsError),
        ("DEADLINE_EXCEEDED", client.DeadlineExceededError),
        ("INTERNAL", client.SluiceError),
        ("DATA_LOSS", client.SluiceError),
    ],
)
def test_status_code_maps_to_error_type(
    failing_channel: grpc.Channel, code: str, error_type: type[SluiceError]
) -> None:
    err = error_from_rpc(_fail(failing_channel, code))
    assert type(err) is error_type
    assert err.code == code
    assert err.message == f"{code.lower()} happened"


def test_bad_request_details_become_violations(failing_channel: grpc.Channel) -> None:
    err = error_from_rpc(_fail(failing_channel, "INVALID_ARGUMENT"))
    assert isinstance(err, InvalidArgumentError)
    assert err.violations == (
        FieldViolation("spec.output.format", "unknown format 'xlsx'"),
        FieldViolation("spec.destination.dataset", "must not be empty"),
    )
    assert str(err) == (
        "INVALID_ARGUMENT: invalid_argument happened "
        "(spec.output.format: unknown format 'xlsx'; spec.destination.dataset: must not be empty)"
    )


def test_status_without_details_has_no_violations(failing_channel: grpc.Channel) -> None:
    err = error_from_rpc(_fail(failing_channel, "PLAIN:NOT_FOUND"))
    assert isinstance(err, NotFoundError)
    assert err.message == "plain not_found"
    assert err.violations == ()
    assert str(err) == "NOT_FOUND: plain not_found"


def test_violation_already_in_message_is_not_repeated() -> None:
    err = InvalidArgumentError(
        "spec.output.format: unknown", violations=[FieldViolation("spec.output.format", "unknown")]
    )
    assert str(err) == "INVALID_ARGUMENT: spec.output.format: unknown"


def test_deadline_exceeded_is_a_timeout_error(failing_channel: grpc.Channel) -> None:
    err = error_from_rpc(_fail(failing_channel, "DEADLINE_EXCEEDED"))
    assert isinstance(err, TimeoutError)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_server_unreachable() -> None:
    address = f"127.0.0.1:{_unused_port()}"
    with (
        ExportClient(address, timeout=5) as sluice,
        pytest.raises(ServerUnreachableError) as caught,
    ):
        sluice.get("exp_1")
    assert caught.value.address == address
    assert caught.value.code == "UNAVAILABLE"
    assert isinstance(caught.value.__cause__, grpc.RpcError)
    # Without an address the same failure stays a plain UnavailableError.
    plain = error_from_rpc(caught.value.__cause__)
    assert type(plain) is UnavailableError


def test_health_is_false_when_unreachable() -> None:
    with ExportClient(f"127.0.0.1:{_unused_port()}") as sluice:
        assert sluice.health(timeout=2) is False


def test_export_failed_error_carries_the_export() -> None:
    failed = export_pb2.Export(
        id="exp_1",
        state=export_pb2.EXPORT_STATE_FAILED,
        error=export_pb2.ExportError(code="UNAVAILABLE", message="bucket gone", transient=True),
    )
    err = ExportFailedError(failed)
    assert (err.code, err.message, err.transient) == ("UNAVAILABLE", "bucket gone", True)
    assert err.export is failed
    cancelled = ExportFailedError(
        export_pb2.Export(id="exp_2", state=export_pb2.EXPORT_STATE_CANCELLED)
    )
    assert (cancelled.code, cancelled.message) == ("CANCELLED", "export exp_2 was cancelled")


class _ScriptedExports(export_pb2_grpc.ExportServiceServicer):
    """Watch replays fixed events; GetExport knows one id. Enough to drive wait()."""

    def __init__(self, final_state: export_pb2.ExportState.ValueType) -> None:
        self.final_state = final_state

    def GetExport(self, request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, f"export {request.id} not found")

    def WatchExport(self, request, context):
        running = export_pb2.Export(id=request.id, state=export_pb2.EXPORT_STATE_RUNNING)
        yield export_pb2.ExportEvent(export_id=request.id, snapshot=running)
        yield export_pb2.ExportEvent(
            export_id=request.id, progress=export_pb2.Progress(records=5, chunks=1)
        )
        final = export_pb2.Export(
            id=request.id, state=self.final_state, progress=export_pb2.Progress(records=10)
        )
        if self.final_state == export_pb2.EXPORT_STATE_FAILED:
            final.error.code, final.error.message = "INVALID_ARGUMENT", "column x missing"
        yield export_pb2.ExportEvent(export_id=request.id, finished=final)


@pytest.fixture
def scripted() -> Iterator[tuple[_ScriptedExports, str]]:
    servicer = _ScriptedExports(export_pb2.EXPORT_STATE_SUCCEEDED)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    export_pb2_grpc.add_ExportServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_wait_returns_the_finished_export(scripted: tuple[_ScriptedExports, str]) -> None:
    _, address = scripted
    seen: list[str | None] = []
    with ExportClient(address) as sluice:
        final = sluice.wait("exp_9", on_event=lambda e: seen.append(e.WhichOneof("event")))
    assert final.state == export_pb2.EXPORT_STATE_SUCCEEDED
    assert final.progress.records == 10
    assert seen == ["snapshot", "progress", "finished"]


def test_wait_raises_when_the_export_fails(scripted: tuple[_ScriptedExports, str]) -> None:
    servicer, address = scripted
    servicer.final_state = export_pb2.EXPORT_STATE_FAILED
    with ExportClient(address) as sluice, pytest.raises(ExportFailedError) as caught:
        sluice.wait("exp_9")
    assert caught.value.export.id == "exp_9"
    assert str(caught.value) == "INVALID_ARGUMENT: column x missing"


def test_client_methods_translate_errors(scripted: tuple[_ScriptedExports, str]) -> None:
    _, address = scripted
    with ExportClient(address) as sluice, pytest.raises(NotFoundError, match="exp_404"):
        sluice.get("exp_404")


class _Hanging(export_pb2_grpc.ExportServiceServicer):
    def __init__(self) -> None:
        self.release = threading.Event()

    def GetExport(self, request, context):
        self.release.wait(10)
        return export_pb2.Export()


def test_unary_calls_use_the_client_timeout() -> None:
    servicer = _Hanging()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    export_pb2_grpc.add_ExportServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with (
            ExportClient(f"127.0.0.1:{port}", timeout=0.3) as sluice,
            pytest.raises(DeadlineExceededError) as caught,
        ):
            sluice.get("exp_1")
        assert caught.value.code == "DEADLINE_EXCEEDED"
    finally:
        servicer.release.set()
        server.stop(grace=None)
