"""A configured secret that cannot be read is the operator's problem: the caller is told
which secret, never where it lives; the server log says why."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.planning.encryption import resolve_named_secret
from sluice.server.planning.redaction_plan import resolve_hash_key
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


@pytest.mark.parametrize("where_it_lives", ["file", "env"])
def test_an_unreadable_hash_key_is_named_without_its_file_or_variable(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    where_it_lives: str,
) -> None:
    """The reader's message ('secret file:/…/hashkey cannot be read (No such file…)',
    'secret env:SLUICE_HASH_KEY_PROD is not set') was passed through to the caller."""
    monkeypatch.delenv("SLUICE_TEST_HASH_KEY_UNSET", raising=False)
    located = {"file": str(tmp_path / "hashkey"), "env": "SLUICE_TEST_HASH_KEY_UNSET"}
    reference = f"{where_it_lives}:{located[where_it_lives]}"
    with caplog.at_level(logging.WARNING), pytest.raises(FailedPrecondition) as caught:
        resolve_hash_key({"k": reference}, "k", "spec.redaction.rules[0]")
    assert caught.value.message == (
        "spec.redaction.rules[0]: hash key 'k' cannot be read; the server log says why"
    )
    assert located[where_it_lives] in caplog.text
