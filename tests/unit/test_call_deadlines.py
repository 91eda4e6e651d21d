"""A call whose deadline passes, against a real gRPC server on 127.0.0.1 whose handlers
sleep: the Python client's DeadlineExceededError and the CLI's one line name the call,
the server's address and the deadline, and say how to allow longer (exit 1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from sluice.client import DeadlineExceededError, ExportClient
from sluice.client.cli.main import cli
from sluice.v1 import export_pb2, export_pb2_grpc
from tests.daemon import run_cli


class _Stuck(export_pb2_grpc.ExportServiceServicer):
    """Answers GetExport and CancelExport only once released (or after 20 s)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def GetExport(self, request: Any, context: Any) -> export_pb2.Export:
        self.release.wait(20)
        return export_pb2.Export(id=request.id)

    def CancelExport(self, request: Any, context: Any) -> export_pb2.Export:
        self.release.wait(20)
        return export_pb2.Export(id=request.id)


@pytest.fixture
def stuck() -> Iterator[str]:
    servicer = _Stuck()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    export_pb2_grpc.add_ExportServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    servicer.release.set()
    server.stop(grace=None)


def test_the_python_client_names_the_call_the_address_and_the_deadline(stuck: str) -> None:
    with (
        ExportClient(stuck, timeout=0.4, use_environment=False) as sluice,
        pytest.raises(DeadlineExceededError) as caught,
    ):
        sluice.get("exp_1")
    error = caught.value
    assert isinstance(error, TimeoutError) and error.code == "DEADLINE_EXCEEDED"
    assert (error.call, error.address, error.deadline) == ("GetExport", stuck, 0.4)
    text = str(error)
    assert f"GetExport to the Sluice server at {stuck} got no answer" in text, text
    assert "0.4 s deadline" in text and "ExportClient(timeout=SECONDS)" in text, text


@pytest.mark.parametrize(
    ("how", "command", "call"),
    [
        (["--timeout", "0.5"], ["export", "get", "exp_1"], "GetExport"),
        ([], ["export", "cancel", "exp_1"], "CancelExport"),
    ],
)
def test_the_cli_says_it_in_one_line_with_the_option_to_allow_longer(
    stuck: str, how: list[str], command: list[str], call: str
) -> None:
    env = {} if how else {"SLUICE_TIMEOUT": "0.5"}
    result = run_cli(None, "--server", stuck, *how, *command, env=env, timeout=60)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"sluice: error: {call} to the Sluice server at {stuck} got no answer within 0.5 s: "
        "it may be overloaded or stuck, or the call needs longer; allow more with "
        "--timeout SECONDS (env SLUICE_TIMEOUT)"
    ), lines[0]
    assert "Deadline Exceeded" not in result.stderr


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e10"])
def test_a_timeout_no_call_can_have_is_a_usage_error_naming_it(value: str) -> None:
    # Never sent: gRPC fails every call at once under a deadline it cannot represent,
    # with a message about the deadline rather than the value.
    for args, env in (
        (["--timeout", value], {}),
        ([], {"SLUICE_TIMEOUT": value}),
    ):
        result = CliRunner().invoke(
            cli, [*args, "--server", "127.0.0.1:9", "export", "list"], env=env
        )
        assert result.exit_code == 2, result.output
        assert "--timeout" in result.output and value in result.output, result.output
    ok = CliRunner().invoke(cli, ["--timeout", "1e6", "--help"])
    assert ok.exit_code == 0, ok.output
