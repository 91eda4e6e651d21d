"""The daemon's interceptor chain around handlers that end in each way a handler can: a
status chosen with context.abort keeps its code (it became INTERNAL before), a domain
error becomes its status, anything else INTERNAL. A real grpc server on 127.0.0.1 runs
the real interceptors in build_server's order; only the probed handlers are made up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from sluice.server.errors import NotFound
from sluice.server.principals import Authenticator
from sluice.server.rpc.auth import AuthInterceptor
from sluice.server.rpc.errors import DomainErrorInterceptor, RequestBoundsInterceptor
from sluice.server.rpc.stream_budget import StreamBudget, StreamBudgetInterceptor

_SERVICE = "sluice.test.Probe"


def _abort(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "chosen by the handler")
    raise AssertionError("unreachable")


def _abort_streaming(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"first"
    context.abort(grpc.StatusCode.OUT_OF_RANGE, "chosen mid-stream")


def _domain_error(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise NotFound("export 'x' not found")


def _bug(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise ValueError("secret value 42")


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[
            AuthInterceptor(Authenticator((), enabled=False), None),
            DomainErrorInterceptor(),
            RequestBoundsInterceptor(),
            StreamBudgetInterceptor(StreamBudget(2)),
        ],
    )
    handlers: dict[str, Any] = {
        name: grpc.unary_unary_rpc_method_handler(behavior)
        for name, behavior in (
            ("Abort", _abort),
            ("DomainError", _domain_error),
            ("Bug", _bug),
            ("Echo", _echo),
        )
    }
    handlers["AbortStreaming"] = grpc.unary_stream_rpc_method_handler(_abort_streaming)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    server.stop(None)


def _fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_a_status_chosen_with_context_abort_keeps_its_code(channel: grpc.Channel) -> None:
    error = _fails(lambda: channel.unary_unary(f"/{_SERVICE}/Abort")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert error.details() == "chosen by the handler"  # type: ignore[attr-defined]

    answers: list[bytes] = []
    stream = channel.unary_stream(f"/{_SERVICE}/AbortStreaming")(b"", timeout=10)
    error = _fails(lambda: answers.extend(stream))
    assert answers == [b"first"]
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE  # type: ignore[attr-defined]
    assert error.details() == "chosen mid-stream"  # type: ignore[attr-defined]


def test_domain_errors_and_bugs_still_become_their_statuses(channel: grpc.Channel) -> None:
    error = _fails(lambda: channel.unary_unary(f"/{_SERVICE}/DomainError")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    error = _fails(lambda: channel.unary_unary(f"/{_SERVICE}/Bug")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "42" not in error.details()  # type: ignore[attr-defined]
    assert channel.unary_unary(f"/{_SERVICE}/Echo")(b"ok", timeout=10) == b"ok"
