"""State shared by all commands: where the daemon is and how to reach it (TLS files,
the caller's token).
Clients are made on demand so `--help`, `serve` and usage errors never open a channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from sluice.client._client import DEFAULT_TIMEOUT, ExportClient
from sluice.client._token import read_token_file


@dataclass(frozen=True)
class CliState:
    #: From --server or $SLUICE_SERVER; None lets ExportClient apply its default.
    server: str | None = None
    #: From --tls-ca/--tls-cert/--tls-key (or their SLUICE_TLS_* variables, which
    #: ExportClient also reads itself); None: plaintext unless the environment says TLS.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: From --token-file; None: $SLUICE_TOKEN (read by ExportClient), else no token.
    token_file: Path | None = None
    #: From --insecure-token: send the token even in plaintext to a non-loopback server.
    insecure_token: bool = False
    #: From --timeout or $SLUICE_TIMEOUT: the deadline of each call, in seconds.
    timeout: float = DEFAULT_TIMEOUT

    def client(self) -> ExportClient:
        return ExportClient(
            self.server,
            timeout=self.timeout,
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            token=read_token_file(self.token_file) if self.token_file else None,
            insecure=self.insecure_token,
        )


def cli_state() -> CliState:
    state = click.get_current_context().find_object(CliState)
    # Commands invoked outside the root group (tests, embedding) fall back to defaults.
    return state if state is not None else CliState()
