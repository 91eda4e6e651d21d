"""`sluice export read`: verify, decrypt, decompress and decode an export's chunks and
stream the records out (to a file or stdout) as JSON lines, CSV or Parquet."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sluice.client._errors import SluiceError
from sluice.client._extras import install_hint
from sluice.client.cli.atomic_output import AtomicOutput
from sluice.client.cli.context import cli_state
from sluice.client.cli.output import CliError
from sluice.client.cli.params import SECRET_NAME
from sluice.client.cli.paths import export_ref
from sluice.client.cli.paths import manifest_uri as resolve_manifest
from sluice.client.cli.text_files import read_text_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from sluice.format.manifest import EncryptionInfo

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")


@click.command("read")
@click.argument("manifest_uri", metavar="ID|MANIFEST_URI|FOLDER")
@click.option(
    "--identity",
    "-i",
    "identity_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="age identity file (AGE-SECRET-KEY-1..., from `sluice keygen`); repeatable.",
)
@click.option(
    "--passphrase-env",
    type=SECRET_NAME,
    default=None,
    metavar="VAR",
    help="Environment variable holding the age passphrase or the zip password.",
)
@click.option(
    "--output", "-o", default="-", metavar="FILE|-", help="Where records go [default: stdout]."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="Output format [default: the export's if jsonl/csv/parquet, else jsonl].",
)
@click.option(
    "--public-key",
    default="",
    metavar="FILE|BASE64",
    help="Ed25519 key the manifest must be signed with (PEM file or base64). Default: "
    "verify a manifest.json.sig against the key the server (--server) publishes.",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Read a manifest without manifest.json.sig although the daemon signs manifests "
    "(one made before it signed). A manifest path or URL given without --server is read "
    "unsigned unless --public-key is given; an export id is checked against the key of "
    "the daemon that resolves it.",
)
def read_export(
    manifest_uri: str,
    identity_files: tuple[Path, ...],
    passphrase_env: str | None,
    output: str,
    fmt: str | None,
    public_key: str,
    allow_unsigned: bool,
) -> None:
    """Read an export back: give its manifest.json (path or URL), its folder, or its
    export id (the daemon says where its manifest is).

    Every chunk's sha256 is checked against the manifest, and its encryption
    authenticated, before any of its records are written; a failure stops with a
    one-line error and a non-zero exit status. A file output appears only when
    every chunk was read.
    """
    # Imported here: fsspec and the ciphers would slow every other command's start.
    from sluice.client._reader import ExportReader, ExportReadError, Keys, load_identities
    from sluice.client._record_output import RecordWriter

    passphrase = b""
    if passphrase_env:
        # The raw bytes: a passphrase need not be UTF-8 (os.environ would hand a lone
        # surrogate to .encode(), which refuses it).
        value = os.environb.get(os.fsencode(passphrase_env))
        if not value:
            raise CliError(f"environment variable {passphrase_env} is not set")
        passphrase = value
    try:
        keys = Keys(
            identities=load_identities(
                [read_text_file(p, "--identity file") for p in identity_files]
            ),
            passphrase=passphrase,
        )
        ref = export_ref(manifest_uri)
        uri = resolve_manifest(ref, cli_state().client)
        signer = _public_key(public_key) if public_key else None
        try:
            reader = ExportReader(
                uri,
                keys,
                public_key=signer,
                published_keys=_published_keys,
                # A path or URL read without a server named: no key is known to require
                # a signature. An export id was resolved by a daemon (the default address
                # when none is named): that daemon's keys are the ones to check against.
                allow_unsigned=allow_unsigned
                or (cli_state().server is None and bool(ref.manifest_uri)),
            )
        except ImportError as exc:
            # fsspec imports a URL's storage library (s3fs, adlfs) when first asked for it.
            scheme = uri.partition("://")[0]
            raise CliError(install_hint(f"reading {scheme}:// exports", "cloud", exc)) from None
        _check_keys_given(reader.output.encryption, bool(identity_files), bool(passphrase))
        source_format = reader.output.format
        target = fmt or (source_format if source_format in OUTPUT_FORMATS else "jsonl")
        with AtomicOutput(output) as sink:
            writer = RecordWriter(target, sink, reader.manifest.schema)
            for chunk in reader.chunks():
                writer.write(chunk, source_format)
            writer.close()
    except ExportReadError as exc:
        raise CliError(str(exc)) from None


def _check_keys_given(encryption: EncryptionInfo, identities: bool, passphrase: bool) -> None:
    """Names the option an encrypted export needs when none was given (the reader's own
    error, met at the first chunk, knows no command line)."""
    if encryption.scheme == "zip-aes-256" and not passphrase:
        raise CliError(
            "the export is a password-protected zip: give --passphrase-env VAR, the "
            "environment variable holding the password"
        )
    if encryption.scheme == "age" and not (identities or passphrase):
        if encryption.passphrase:
            raise CliError(
                "the export is age-encrypted with a passphrase: give --passphrase-env VAR, "
                "the environment variable holding it"
            )
        raise CliError(
            "the export is age-encrypted: give --identity FILE (from `sluice keygen`), or "
            "--passphrase-env VAR for a passphrase"
        )


def _public_key(value: str) -> Ed25519PublicKey:
    from sluice.format.signatures import SignatureError, load_public_key

    text = read_text_file(Path(value), "--public-key file") if Path(value).is_file() else value
    try:
        return load_public_key(text)
    except SignatureError as exc:
        raise CliError(f"--public-key: {exc}") from None


def _published_keys() -> list[str]:
    """The server's manifest signing key, then the older ones it accepts (none: it signs
    nothing)."""
    from sluice.client._reader import ExportReadError

    try:
        with cli_state().client() as sluice:
            info = sluice.server_info()
        signing = info.manifest_signing_public_key
        return [signing, *info.manifest_verification_public_keys] if signing else []
    except SluiceError as exc:
        raise ExportReadError(
            f"cannot get the server's manifest signing key ({exc}); pass --public-key"
        ) from None
