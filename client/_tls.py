"""Client-side TLS: which files make the channel secure, from arguments or the
environment (SLUICE_TLS_CA, SLUICE_TLS_CERT, SLUICE_TLS_KEY).

Any of them makes the channel TLS. The CA file verifies the server (without it, the
system's trusted roots do); a certificate and its key, always together, identify the
client to a server that asks for one (mutual TLS).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from sluice.client._errors import SluiceError

CA_ENV = "SLUICE_TLS_CA"
CERT_ENV = "SLUICE_TLS_CERT"
KEY_ENV = "SLUICE_TLS_KEY"

PathArg = str | os.PathLike[str] | None


@dataclass(frozen=True)
class ClientTls:
    """The TLS files a client uses; all None: plaintext."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def resolve(cls, ca: PathArg = None, cert: PathArg = None, key: PathArg = None) -> ClientTls:
        """Arguments first, then the environment, each file on its own."""
        return cls(
            _path(ca, CA_ENV),
            _path(cert, CERT_ENV),
            _path(key, KEY_ENV),
        )

    @classmethod
    def given(cls, ca: PathArg = None, cert: PathArg = None, key: PathArg = None) -> ClientTls:
        """The arguments alone, whatever the environment says."""
        return cls(*(Path(v) if v is not None and os.fspath(v) else None for v in (ca, cert, key)))

    @property
    def enabled(self) -> bool:
        return any((self.ca_file, self.cert_file, self.key_file))

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials for grpc.secure_channel; SluiceError naming a bad or missing file."""
        if (self.cert_file is None) != (self.key_file is None):
            raise SluiceError(
                "a client certificate needs its key and a key its certificate "
                f"(--tls-cert/{CERT_ENV} with --tls-key/{KEY_ENV})",
                code="INVALID_ARGUMENT",
            )
        # Checked here: grpc's C core takes any bytes, prints lines of its own on stderr
        # and then only fails to connect, never naming the file.
        ca = _read(self.ca_file)
        cert = _read(self.cert_file)
        key = _read(self.key_file)
        if ca is not None:
            _certificates(ca, self.ca_file, f"--tls-ca/{CA_ENV}")
        if cert is not None and key is not None:
            leaf = _certificates(cert, self.cert_file, f"--tls-cert/{CERT_ENV}")[0]
            _check_key(key, leaf, self.key_file)
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )


def _path(value: PathArg, env: str) -> Path | None:
    if value is not None and os.fspath(value) != "":
        return Path(value)
    from_env = os.environ.get(env, "")
    return Path(from_env) if from_env else None


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise SluiceError(
            f"cannot read TLS file {path}: {exc.strerror or exc}", code="INVALID_ARGUMENT"
        ) from None


def _certificates(data: bytes, path: Path | None, option: str) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():
            # System bundles carry old roots cryptography warns of (a serial number that
            # is not positive): printed on every command, about a file that works.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SluiceError(
            f"{option}: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            code="INVALID_ARGUMENT",
        ) from None


def _check_key(data: bytes, leaf: x509.Certificate, path: Path | None) -> None:
    option = f"--tls-key/{KEY_ENV}"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SluiceError(
            f"{option}: {path} is encrypted; give the key without a passphrase",
            code="INVALID_ARGUMENT",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SluiceError(
            f"{option}: {path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            code="INVALID_ARGUMENT",
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise SluiceError(
            f"{option}: {path} is not the key of the certificate --tls-cert/{CERT_ENV} gives",
            code="INVALID_ARGUMENT",
        )
