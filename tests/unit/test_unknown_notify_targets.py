"""An unknown notify target is echoed only when it looks like a configured notification's
name: anything else may carry a secret (a URL typed without its scheme)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.notifications.targets import check_notify
from sluice.server.settings import load_settings


@pytest.mark.parametrize(
    "target",
    [
        "u:p4ss@hooks.example.com/x",
        "user:SECRETPW@host",
        "hooks.example.com?token=SECRET",
        "hooks.slack.com/services/T/B/SECRET",
    ],
)
def test_a_target_that_is_no_name_is_not_echoed(tmp_path: Path, target: str) -> None:
    settings = load_settings(None, {"state_dir": tmp_path}, environ={})
    with pytest.raises(InvalidArgument) as caught:
        check_notify((target,), settings)
    message = caught.value.message
    assert "an unknown target (not a URL or configured name" in message
    for part in ("p4ss", "SECRET", "hooks"):
        assert part not in message, message


def test_a_name_shaped_target_is_echoed(tmp_path: Path) -> None:
    settings = load_settings(None, {"state_dir": tmp_path}, environ={})
    with pytest.raises(InvalidArgument, match="'nobody' is neither a URL"):
        check_notify(("nobody",), settings)
