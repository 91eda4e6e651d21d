"""TLS for the gRPC port: the certificate files are checked at start (a daemon never
serves an expired certificate or one that does not match its key) and re-read when they
change on disk, so a rotated certificate reaches new connections without a restart.

gRPC asks `ServingCertificate.fetch` for the configuration before each handshake; it
answers None (keep the current one) unless a file changed since it last looked. A changed
set of files that does not load (a half-written rotation: the new certificate before its
new key) keeps the previous certificate and is logged once; it is tried again as soon as
any file changes again.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sluice.server.errors import SluiceError
from sluice.server.settings import TlsSettings

_log = logging.getLogger("sluice.tls")


class TlsFileError(SluiceError):
    """A TLS file is unreadable, malformed, expired or does not match its key; the
    message names the file."""


@dataclass(frozen=True)
class CertificateFiles:
    """The bytes of one consistent set of files, checked."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    not_after: datetime
    serial_number: int


def load_certificate_files(tls: TlsSettings, now: datetime | None = None) -> CertificateFiles:
    """Read and check the files `tls` names; raise TlsFileError naming the bad one."""
    chain_pem = _read(tls.cert_file)
    key_pem = _read(tls.key_file)
    try:
        certificate = x509.load_pem_x509_certificates(chain_pem)[0]
    except ValueError:
        raise TlsFileError(f"{tls.cert_file}: not a PEM certificate") from None
    not_after = certificate.not_valid_after_utc
    if not_after <= (now or datetime.now(UTC)):
        raise TlsFileError(f"{tls.cert_file}: certificate expired on {not_after.isoformat()}")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # TypeError: the key is encrypted; the daemon has no passphrase to open it with.
        raise TlsFileError(f"{tls.key_file}: not an unencrypted PEM private key") from None
    if _public_bytes(key.public_key()) != _public_bytes(certificate.public_key()):
        raise TlsFileError(f"{tls.key_file}: private key does not match {tls.cert_file}")
    client_ca = None
    if tls.client_ca_file is not None:
        client_ca = _read(tls.client_ca_file)
        try:
            x509.load_pem_x509_certificates(client_ca)
        except ValueError:
            raise TlsFileError(f"{tls.client_ca_file}: not a PEM certificate") from None
    return CertificateFiles(chain_pem, key_pem, client_ca, not_after, certificate.serial_number)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _configuration(files: CertificateFiles) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(files.private_key, files.certificate_chain)], root_certificates=files.client_ca
    )


class ServingCertificate:
    """The certificate the gRPC port serves now, reloaded when its files change."""

    def __init__(self, tls: TlsSettings) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._files = load_certificate_files(tls)

    @property
    def not_after(self) -> datetime:
        with self._lock:
            return self._files.not_after

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            _configuration(self._files),
            # grpc's stub says the fetcher always returns one; grpc itself takes None
            # as "no change", which is the documented contract.
            self.fetch,  # type: ignore[arg-type]
            require_client_authentication=self._tls.require_client_auth,
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's certificate-configuration fetcher: None keeps the current one. Never
        raises: an exception here would fail the handshake of every new connection."""
        try:
            return self._reload_if_changed()
        except Exception:  # noqa: BLE001 - keep serving the certificate that works
            _log.exception("TLS certificate check failed; keeping the current certificate")
            return None

    def _reload_if_changed(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            try:
                files = load_certificate_files(self._tls)
            except TlsFileError as exc:
                _log.warning("TLS files changed but not loaded (%s); keeping the current", exc)
                return None
            if files == self._files:
                return None
            self._files = files
        _log.info(
            "TLS certificate reloaded from %s (serial %x, expires %s)",
            self._tls.cert_file,
            files.serial_number,
            files.not_after.isoformat(),
        )
        return _configuration(files)

    def _file_stamp(self) -> tuple[tuple[int, int, int], ...]:
        """What changes when a file is rewritten or replaced (renamed over)."""
        paths = [self._tls.cert_file, self._tls.key_file]
        if self._tls.client_ca_file is not None:
            paths.append(self._tls.client_ca_file)
        stamps = []
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                stamps.append((-1, -1, -1))
            else:
                stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(stamps)
