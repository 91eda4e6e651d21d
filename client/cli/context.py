"""State shared by all commands: where the daemon is. Clients are made on demand so
`--help`, `serve` and usage errors never open a channel."""

from __future__ import annotations

from dataclasses import dataclass

import click

from sluice.client._client import ExportClient


@dataclass(frozen=True)
class CliState:
    #: From --server or $SLUICE_SERVER; None lets ExportClient apply its default.
    server: str | None = None

    def client(self) -> ExportClient:
        return ExportClient(self.server)


def cli_state() -> CliState:
    state = click.get_current_context().find_object(CliState)
    # Commands invoked outside the root group (tests, embedding) fall back to defaults.
    return state if state is not None else CliState()
