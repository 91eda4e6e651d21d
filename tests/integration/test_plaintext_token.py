"""The client never sends its bearer token in clear beyond this machine: a token on a
plaintext channel to a non-loopback address is refused before any call, unless the
caller says `insecure` (ExportClient(insecure=True), `sluice --insecure-token`)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from sluice.client import ExportClient, SluiceError
from tests.daemon import run_cli

pytestmark = pytest.mark.integration

TOKEN = "CNRYPLAINTOKEN190"


def _this_hosts_address() -> str | None:
    """An address of this machine other than loopback (where the route out leads)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


class _Recorder(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self.metadata: list[tuple[str, Any]] = []

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        self.metadata.extend(details.invocation_metadata)
        return continuation(details)


@pytest.fixture
def bare_server() -> Iterator[tuple[str, _Recorder]]:
    host = _this_hosts_address()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    recorder = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[recorder])
    port = server.add_insecure_port(f"{host}:0")
    server.start()
    yield f"{host}:{port}", recorder
    server.stop(None)


def test_a_token_is_not_sent_in_clear_to_another_host(
    bare_server: tuple[str, _Recorder],
) -> None:
    address, recorder = bare_server
    with pytest.raises(SluiceError) as refused, ExportClient(address, token=TOKEN) as client:
        client.list_page()
    assert "plaintext" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert not [value for _, value in recorder.metadata if TOKEN in str(value)]

    # Said on purpose, it goes (the server here answers UNIMPLEMENTED).
    with (
        pytest.raises(SluiceError),
        ExportClient(address, token=TOKEN, timeout=5, insecure=True) as client,
    ):
        client.list_page()
    assert ("authorization", f"Bearer {TOKEN}") in recorder.metadata


def test_the_cli_refuses_a_plaintext_token_in_one_line() -> None:
    environment = {"SLUICE_TOKEN": TOKEN}
    result = run_cli(None, "--server", "192.0.2.1:7070", "export", "list", env=environment)
    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert "plaintext" in errors[0] and "--insecure-token" in errors[0], errors
    assert TOKEN not in result.stdout + result.stderr
