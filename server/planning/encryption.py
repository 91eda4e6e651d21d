"""Turn a request's EncryptionSpec into pipeline stages: the age Cipher, or the zip
compressor bound to its password. Raises InvalidArgument naming the field, before any
I/O; secrets are looked up by name in the server's configuration, never taken from the
request."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from sluice.format.age import AgeFormatError, parse_recipient, recipient_fingerprint
from sluice.format.manifest import EncryptionInfo
from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.pipeline.ciphers.age import AgeEncryption
from sluice.server.pipeline.compressors import CompressorKind
from sluice.server.pipeline.encoders import EncoderKind
from sluice.server.pipeline.stages import NO_CIPHER, CipherKind
from sluice.server.pipeline.zip_container import ZipCompressor
from sluice.server.planning.spec import EncryptionSpec
from sluice.server.secrets import resolve_configured_secret
from sluice.server.settings import Settings

#: More recipients than any real audience; bounds header size and work per chunk.
MAX_RECIPIENTS = 64
AGE_EXTENSION = ".age"
ZIP_AES_SCHEME = "zip-aes-256"


def build_cipher(encryption: EncryptionSpec, settings: Settings) -> CipherKind:
    """The age cipher the request asks for, or NO_CIPHER."""
    recipients = encryption.age_recipients
    passphrase_ref = encryption.age_passphrase_ref
    if not recipients and not passphrase_ref:
        return NO_CIPHER
    if recipients and passphrase_ref:
        # The age format allows an scrypt stanza only as the single stanza of a file.
        raise InvalidArgument(
            "spec.encryption.age_passphrase_ref",
            "age encrypts to recipients or to a passphrase, not both",
        )
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidArgument(
            "spec.encryption.age_recipients", f"at most {MAX_RECIPIENTS} recipients"
        )
    keys = []
    for position, recipient in enumerate(recipients):
        try:
            keys.append(parse_recipient(recipient))
        except AgeFormatError as exc:
            raise InvalidArgument(f"spec.encryption.age_recipients[{position}]", str(exc)) from None
    passphrase = b""
    if passphrase_ref:
        passphrase = resolve_named_secret(
            passphrase_ref, settings, "spec.encryption.age_passphrase_ref"
        )
    encryption_params = AgeEncryption(
        recipient_keys=tuple(keys),
        passphrase=passphrase,
        scrypt_work_factor=settings.age_scrypt_work_factor,
    )
    return CipherKind(
        "age",
        AGE_EXTENSION,
        encryption_params.make,
        EncryptionInfo(
            "age",
            tuple(sorted({recipient_fingerprint(r) for r in recipients})),
            passphrase=bool(passphrase),
        ),
    )


def bind_zip_password(
    encryption: EncryptionSpec,
    settings: Settings,
    compressor: CompressorKind,
    encoder: EncoderKind,
) -> tuple[CompressorKind, CipherKind | None]:
    """The compressor with its zip password bound, and the manifest
    description of zip encryption (None without a zip password)."""
    if compressor.name == "zip" and encoder.internal_compression:
        raise InvalidArgument(
            "spec.output.compression",
            "zip wraps row formats (jsonl, csv, json, arrow, xml, yaml, markdown); "
            f"{encoder.name} compresses internally, so use zstd, gzip or none (and age to "
            "encrypt)",
        )
    reference = encryption.zip_password_ref
    if reference and compressor.name != "zip":
        raise InvalidArgument(
            "spec.encryption.zip_password_ref",
            f"a zip password needs compression zip, not {compressor.name}",
        )
    if reference and (encryption.age_recipients or encryption.age_passphrase_ref):
        raise InvalidArgument(
            "spec.encryption.zip_password_ref", "choose age encryption or a zip password, not both"
        )
    if compressor.name != "zip":
        return compressor, None
    password = (
        resolve_named_secret(reference, settings, "spec.encryption.zip_password_ref")
        if reference
        else b""
    )
    bound = replace(compressor, make=partial(ZipCompressor, password=password))
    if not password:
        return bound, None
    description = EncryptionInfo(ZIP_AES_SCHEME, passphrase=True)
    return bound, CipherKind(ZIP_AES_SCHEME, "", NO_CIPHER.make, description)


def resolve_named_secret(name: str, settings: Settings, field: str) -> bytes:
    """The value of the secret `name` configured in settings.secrets. A request may also
    spell a configured reference itself ("env:VAR" when settings.secrets holds one with
    that reference): it can name secrets the operator configured, never arbitrary ones."""
    reference = settings.secrets.get(name)
    if reference is None and name in settings.secrets.values():
        reference = name
    if reference is None:
        # The value is not echoed: callers sometimes paste the secret itself here.
        configured = ", ".join(sorted(settings.secrets)) or "none"
        raise InvalidArgument(
            field, f"no secret of that name is configured on the server (configured: {configured})"
        )
    try:
        return resolve_configured_secret(reference, f"server secret {name!r}")
    except ValueError:
        raise FailedPrecondition(f"the server's secret {name!r} is misconfigured") from None
