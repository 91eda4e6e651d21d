"""`sluice keygen`: make an age identity (for `--encrypt-to` and `export read
--identity`), or an Ed25519 manifest signing key for the daemon. Same file format as
`age-keygen`, so either tool's keys work with both."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sluice.client.cli.output import CliError, print_json
from sluice.format import bech32
from sluice.format.age import IDENTITY_HRP, RECIPIENT_HRP
from sluice.format.signatures import key_id, public_key_pem


@click.command("keygen")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to create (mode 0600; never overwritten). Missing folders are created "
    "(the last one mode 0700).",
)
@click.option(
    "--signing",
    is_flag=True,
    help="Make an Ed25519 manifest signing key (PEM) for the daemon's "
    "manifest_signing_key instead of an age identity.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"file", "kind", ...} with the public half (never the private one).',
)
def keygen(output: Path, signing: bool, as_json: bool) -> None:
    """Create a private key file and print its public half.

    Default: an age identity; the printed age1... recipient goes to
    `sluice export create --encrypt-to`, the file to `sluice export read --identity`.
    """
    if signing:
        private = Ed25519PrivateKey.generate()
        body = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        _create_private(output, body)
        public_pem, public_id = public_key_pem(private.public_key()), key_id(private.public_key())
        if as_json:
            print_json(
                {
                    "file": str(output.absolute()),
                    "kind": "ed25519-signing",
                    "public_key_pem": public_pem,
                    "key_id": public_id,
                }
            )
            return
        click.echo(public_pem, nl=False)
        click.echo(f"key id: {public_id}", err=True)
        return
    identity = X25519PrivateKey.generate()
    recipient = bech32.encode(RECIPIENT_HRP, identity.public_key().public_bytes_raw())
    secret = bech32.encode(IDENTITY_HRP, identity.private_bytes_raw()).upper()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _create_private(output, f"# created: {created}\n# public key: {recipient}\n{secret}\n")
    if as_json:
        print_json({"file": str(output.absolute()), "kind": "age", "recipient": recipient})
    else:
        click.echo(recipient)


def _create_private(path: Path, text: str) -> None:
    try:
        # 0700 for the folder a key is put in, when it is made for it.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from None
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{path} already exists; not overwriting a key") from None
    except OSError as exc:
        raise CliError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
