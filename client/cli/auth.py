"""`sluice auth`: the digest of a token for the server's [[auth.principals]], and which
principal the daemon takes this caller for."""

from __future__ import annotations

import hashlib
import sys

import click

from sluice.client._token import checked_token
from sluice.client.cli.context import cli_state
from sluice.client.cli.output import CliError


@click.group("auth")
def auth_group() -> None:
    """Tokens and principals."""


@auth_group.command("hash-token")
def hash_token() -> None:
    """Read a token from stdin and print its SHA-256, for `token_sha256` in the server's
    [[auth.principals]]. The token is never echoed; surrounding whitespace (a trailing
    newline) is not part of it.

    \b
    Example:  sluice auth hash-token < billing.token
    """
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(
            "the token must be one line of printable characters without spaces"
        ) from None
    # The client's own rule: a digest of a token it refuses to send helps nobody.
    token = checked_token(text)
    if not token:
        raise CliError("no token on stdin (e.g. `sluice auth hash-token < FILE`)")
    click.echo(hashlib.sha256(token.encode()).hexdigest())


@auth_group.command("whoami")
def whoami() -> None:
    """Print the principal the daemon authenticates this caller as ("" : the daemon has
    no principals, every caller is anonymous)."""
    with cli_state().client() as client:
        info = client.server_info()
    click.echo(info.principal or "(anonymous: the daemon has no principals)")
