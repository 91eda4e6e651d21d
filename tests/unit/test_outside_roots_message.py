"""A path refused for lying outside the allowed roots is named in the message unless it
looks like something pasted by mistake that may hold a credential: a connection string
or a signed URL typed where a path belongs (`?sig=`, `user:pw@`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.server.allowed_roots import outside_message

SECRET = "CNRYPATHSIG3301"


@pytest.mark.parametrize(
    "path",
    [
        f"/data/x.parquet?sig={SECRET}",
        f"user:{SECRET}@db.internal/sales",
        f"Server=db;Password={SECRET}",
    ],
)
def test_a_path_holding_what_may_be_a_credential_is_not_echoed(path: str) -> None:
    message = outside_message(path, [Path("/srv/in")], "source", "allowed_source_roots", "-r")
    assert SECRET not in message
    assert "outside the source roots this server allows" in message
    assert "/srv/in" not in message


def test_a_plain_path_is_named() -> None:
    message = outside_message(
        "/etc/passwd", [Path("/srv/in")], "source", "allowed_source_roots", "-r"
    )
    assert message.startswith("/etc/passwd is outside the source roots this server allows")
    assert "/srv/in" not in message
