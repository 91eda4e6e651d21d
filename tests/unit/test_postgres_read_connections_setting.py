"""postgres_read_connections: default 2, from SLUICE_POSTGRES_READ_CONNECTIONS or
`sluice serve --postgres-read-connections`, 1 to 16 (the integration tests show it
reaching the read)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sluice.client.cli.main import cli
from sluice.server.settings import SettingsError, load_settings


def test_the_default_is_two_and_the_environment_sets_it() -> None:
    assert load_settings(environ={}).postgres_read_connections == 2
    environ = {"SLUICE_POSTGRES_READ_CONNECTIONS": "1"}
    assert load_settings(environ=environ).postgres_read_connections == 1
    assert (
        load_settings(None, {"postgres_read_connections": 4}, environ={}).postgres_read_connections
        == 4
    )


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_out_of_range_values_are_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="postgres_read_connections"):
        load_settings(environ={"SLUICE_POSTGRES_READ_CONNECTIONS": value})


def test_serve_has_the_flag() -> None:
    shown = CliRunner().invoke(cli, ["serve", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--postgres-read-connections" in shown.output
    refused = CliRunner().invoke(cli, ["serve", "--postgres-read-connections", "0"])
    assert refused.exit_code == 2 and "postgres-read-connections" in refused.output
