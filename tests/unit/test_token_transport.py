"""Where the client sends a bearer token without TLS: to this machine (loopback, with
or without a port, or a Unix socket) freely; anywhere else only when told
--insecure-token / ExportClient(insecure=True)."""

from __future__ import annotations

import pytest

from sluice.client._errors import SluiceError
from sluice.client._token import check_token_transport


@pytest.mark.parametrize(
    "address",
    [
        "localhost",
        "LOCALHOST:7070",
        "127.0.0.1",
        "127.0.0.1:7070",
        "127.1.2.3:7070",
        "[::1]",
        "[::1]:7070",
        "::1",
        "dns:///localhost",
        "dns:///localhost:7070",
        "ipv4:127.0.0.1:7070",
        "unix:/run/sluice.sock",
    ],
)
def test_a_local_address_takes_a_token_in_plaintext(address: str) -> None:
    check_token_transport(address, tls=False, insecure=False)


@pytest.mark.parametrize(
    "address",
    ["192.0.2.1", "192.0.2.1:7070", "sluice.example", "sluice.example:7070", "[2001:db8::1]:7070"],
)
def test_another_address_needs_tls_or_insecure(address: str) -> None:
    with pytest.raises(SluiceError) as refused:
        check_token_transport(address, tls=False, insecure=False)
    assert "--insecure-token" in refused.value.message
    check_token_transport(address, tls=True, insecure=False)
    check_token_transport(address, tls=False, insecure=True)
