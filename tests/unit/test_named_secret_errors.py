"""A configured secret that cannot be read is the operator's problem: the caller is told
which secret, never where it lives; the server log says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.planning.encryption import resolve_named_secret
from sluice.server.settings import load_settings


def test_an_unreadable_secret_is_named_to_the_caller_without_its_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "sharepw"
    settings = load_settings(
        None,
        {"state_dir": tmp_path / "state", "secrets": {"sharing": f"file:{missing}"}},
        environ={},
    )
    with caplog.at_level(logging.WARNING), pytest.raises(FailedPrecondition) as caught:
        resolve_named_secret("sharing", settings, "spec.encryption.passphrase_secret")
    assert caught.value.message == (
        "server secret 'sharing' cannot be read; the server log says why"
    )
    assert str(missing) in caplog.text
