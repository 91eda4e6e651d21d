"""The server config's named sources, templates and backup recipients: checked at load,
with messages naming the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sluice.format import bech32
from sluice.server.settings import SettingsError, load_settings


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    config = tmp_path / "sluice.toml"
    config.write_text(text)
    return load_settings(config, {"state_dir": tmp_path / "state"}, environ=environ or {})


def test_named_sources_and_templates_load(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """
[sources.people]
uri = "/data/people.parquet"
subject_column = "user_id"
description = "Everyone"

[templates.nightly]
format = "parquet"
labels = { team = "data" }
""",
    )
    assert settings.sources["people"].subject_column == "user_id"
    assert settings.templates["nightly"].labels == {"team": "data"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[sources."bad name"]\nuri = "/x"\n', "source name"),
        ("[sources.people]\ndescription = 'no uri'\n", "sources.people.uri"),
        ("[sources.people]\nuri = '/x'\npassword = 'p'\n", "sources.people.password"),
        ("[templates.backup]\nformat = 'csv'\n", "built-in template"),
        ("[templates.t]\nformatt = 'csv'\n", "templates.t.formatt"),
        # Set but empty: encryption asked for, never read as none (a plaintext export).
        ("[templates.t]\npassphrase_secret = ''\n", "templates.t.passphrase_secret"),
        ("[templates.t]\nzip_password_secret = ' '\n", "templates.t.zip_password_secret"),
    ],
)
def test_bad_entries_are_refused_naming_them(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        _load(tmp_path, text)


def test_backup_recipients_come_from_the_environment_comma_separated(tmp_path: Path) -> None:
    first, second = (bech32.encode("age", os.urandom(32)) for _ in range(2))
    settings = _load(tmp_path, "", {"SLUICE_BACKUP_RECIPIENTS": f"{first}, {second}"})
    assert settings.backup_recipients == (first, second)
    with pytest.raises(SettingsError, match=r"backup_recipients: \[1\] not an age recipient"):
        _load(tmp_path, "", {"SLUICE_BACKUP_RECIPIENTS": f"{first}, age1aaa"})
