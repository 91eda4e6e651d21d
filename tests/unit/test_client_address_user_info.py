"""The library refuses an address holding user-info (`user:pw@`) before gRPC sees it:
a `dns://user:pw@…` target went straight to gRPC, whose INTERNAL error quoted the whole
target, password and all (only the CLI checked its --server)."""

from __future__ import annotations

import pytest

from sluice.client import ExportClient

SECRET = "s3cretpw"


@pytest.mark.parametrize(
    "address",
    [f"dns://user:{SECRET}@127.0.0.1/127.0.0.1:1", f"user:{SECRET}@127.0.0.1:1", f"{SECRET}@h:1"],
)
def test_an_address_with_user_info_is_refused_without_repeating_it(address: str) -> None:
    with (
        pytest.raises(ValueError) as refused,
        ExportClient(address, timeout=5, use_environment=False) as client,
    ):
        client.get("x")
    message = str(refused.value)
    assert message.startswith("address: ") and "user name or password" in message, message
    assert SECRET not in message


def test_the_environments_address_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLUICE_SERVER", f"dns://user:{SECRET}@127.0.0.1/127.0.0.1:1")
    with pytest.raises(ValueError) as refused:
        ExportClient(timeout=5)
    message = str(refused.value)
    assert message.startswith("$SLUICE_SERVER: ") and SECRET not in message, message


def test_a_socket_path_holding_an_at_sign_is_no_user_info() -> None:
    """The CLI takes `unix:/run/sluice@prod/sluice.sock` (a systemd instance name), so
    the library it hands the address to must too: it refused any '@'."""
    client = ExportClient("unix:/tmp/run@prod/sluice.sock")
    client.close()
