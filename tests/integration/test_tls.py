"""TLS on the gRPC port, with certificates made here: plaintext and a wrong CA are
refused, mutual TLS is enforced when required, a certificate rotated on disk reaches the
next connection without a restart, bad certificate files stop the start naming the file,
and a non-loopback address needs TLS and principals or an explicit --insecure."""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from sluice.client import ExportClient, ServerUnreachableError
from tests.daemon import Daemon, run_cli
from tests.integration.tls_certs import Authority, Issued

pytestmark = pytest.mark.integration


@dataclass
class Pki:
    folder: Path
    ca: Authority
    ca_file: Path
    server: Issued
    client_a: Issued
    client_b: Issued
    other_ca_file: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = Authority.create()
    other = Authority.create("Some Other CA")
    return Pki(
        folder=folder,
        ca=ca,
        ca_file=ca.write_ca(folder / "ca.crt"),
        server=ca.issue(folder, "tls", common_name="sluice.test", server=True),
        client_a=ca.issue(folder, "client-a", common_name="billing", server=False),
        client_b=ca.issue(folder, "client-b", common_name="reports", server=False),
        other_ca_file=other.write_ca(folder / "other-ca.crt"),
    )


def _tls_daemon(daemon_factory, pki: Pki, name: str = "tls", **tls: object) -> Daemon:  # type: ignore[no-untyped-def]
    settings = {"cert_file": str(pki.server.cert_file), "key_file": str(pki.server.key_file)}
    settings.update({k: str(v) if isinstance(v, Path) else v for k, v in tls.items()})
    daemon: Daemon = daemon_factory(name, tls=settings)
    daemon.tls_ca = pki.ca_file
    return daemon


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sluice: error: "), stderr
    return lines[0]


def _peer_certificate(daemon: Daemon, ca_file: Path) -> x509.Certificate:
    """The certificate the daemon presents to a new connection, read with the ssl module."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_tls_port_serves_tls_clients_and_refuses_plaintext_and_wrong_ca(  # type: ignore[no-untyped-def]
    daemon_factory, pki: Pki
) -> None:
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()

    with ExportClient(daemon.address, tls_ca=pki.ca_file, timeout=10) as client:
        assert client.tls and client.health()
        info = client.server_info()
    assert info.HasField("tls_certificate_not_after")
    expiry = info.tls_certificate_not_after.ToDatetime(tzinfo=UTC)
    assert expiry == pki.server.certificate.not_valid_after_utc

    with ExportClient(daemon.address, timeout=5) as plaintext:
        assert not plaintext.tls
        with pytest.raises(ServerUnreachableError):
            plaintext.server_info()
    with (
        ExportClient(daemon.address, tls_ca=pki.other_ca_file, timeout=5) as wrong_ca,
        pytest.raises(ServerUnreachableError) as refused,
    ):
        wrong_ca.server_info()
    assert "ssl" in refused.value.detail.lower() or "handshake" in refused.value.detail.lower()
    assert "TLS" in daemon.log_tail()


def test_mutual_tls_refuses_clients_without_a_certificate(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    daemon = _tls_daemon(daemon_factory, pki, client_ca_file=pki.ca_file, require_client_auth=True)
    daemon.tls_cert, daemon.tls_key = pki.client_a.cert_file, pki.client_a.key_file
    daemon.start()

    with ExportClient(daemon.address, tls_ca=pki.ca_file, timeout=5) as anonymous:
        assert not anonymous.health()
        with pytest.raises(ServerUnreachableError):
            anonymous.server_info()
    for client_cert in (pki.client_a, pki.client_b):
        with ExportClient(
            daemon.address,
            tls_ca=pki.ca_file,
            tls_cert=client_cert.cert_file,
            tls_key=client_cert.key_file,
            timeout=10,
        ) as client:
            assert client.server_info().version
    # A client certificate from a CA the daemon does not trust is refused too.
    stranger = Authority.create("Stranger").issue(
        pki.folder, "stranger", common_name="stranger", server=False
    )
    with (
        ExportClient(
            daemon.address,
            tls_ca=pki.ca_file,
            tls_cert=stranger.cert_file,
            tls_key=stranger.key_file,
            timeout=5,
        ) as client,
        pytest.raises(ServerUnreachableError),
    ):
        client.server_info()


def test_a_certificate_rotated_on_disk_is_served_to_the_next_connection(  # type: ignore[no-untyped-def]
    daemon_factory, pki: Pki
) -> None:
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()
    first = _peer_certificate(daemon, pki.ca_file)
    assert first.serial_number == pki.server.certificate.serial_number

    # Rotate the way cert-manager and friends do: new files renamed over the old names.
    staging = pki.folder / "staging"
    staging.mkdir()
    rotated = pki.ca.issue(
        staging,
        "tls",
        common_name="sluice.test",
        server=True,
        not_after=datetime.now(UTC) + timedelta(days=20),
    )
    os.replace(rotated.key_file, pki.server.key_file)
    os.replace(rotated.cert_file, pki.server.cert_file)

    second = _peer_certificate(daemon, pki.ca_file)
    assert second.serial_number == rotated.certificate.serial_number
    with ExportClient(daemon.address, tls_ca=pki.ca_file, timeout=10) as client:
        info = client.server_info()
    assert info.tls_certificate_not_after.ToDatetime(tzinfo=UTC) == (
        rotated.certificate.not_valid_after_utc
    )
    assert daemon.process is not None and daemon.process.poll() is None
    assert "TLS certificate reloaded" in daemon.log_tail()


def test_a_half_written_rotation_keeps_the_current_certificate(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()
    staging = pki.folder / "staging"
    staging.mkdir()
    rotated = pki.ca.issue(staging, "tls", common_name="sluice.test", server=True)
    # The new certificate lands before its key: it does not match the key on disk.
    os.replace(rotated.cert_file, pki.server.cert_file)
    assert _peer_certificate(daemon, pki.ca_file).serial_number == (
        pki.server.certificate.serial_number
    )
    assert "keeping the current" in daemon.log_tail()
    os.replace(rotated.key_file, pki.server.key_file)
    assert _peer_certificate(daemon, pki.ca_file).serial_number == (
        rotated.certificate.serial_number
    )


def test_an_expired_certificate_stops_the_start_naming_the_file(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    expired = pki.ca.issue(
        pki.folder,
        "expired",
        common_name="sluice.test",
        server=True,
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    daemon = daemon_factory(
        "expired",
        tls={"cert_file": str(expired.cert_file), "key_file": str(expired.key_file)},
    )
    result = daemon.serve_refused()
    assert result.returncode != 0
    line = _one_line_error(result.stderr)
    assert str(expired.cert_file) in line and "expired" in line


def test_a_key_that_does_not_match_stops_the_start_naming_the_file(
    daemon_factory, pki: Pki
) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory(
        "mismatch",
        tls={"cert_file": str(pki.server.cert_file), "key_file": str(pki.client_a.key_file)},
    )
    result = daemon.serve_refused()
    line = _one_line_error(result.stderr)
    assert result.returncode != 0
    assert str(pki.client_a.key_file) in line and "does not match" in line


def test_an_unreadable_certificate_stops_the_start_naming_the_file(
    daemon_factory, pki: Pki
) -> None:  # type: ignore[no-untyped-def]
    missing = pki.folder / "missing.crt"
    garbage = pki.folder / "garbage.crt"
    garbage.write_text("not a certificate\n")
    for cert_file in (missing, garbage):
        daemon = daemon_factory(
            f"bad-{cert_file.stem}",
            tls={"cert_file": str(cert_file), "key_file": str(pki.server.key_file)},
        )
        result = daemon.serve_refused()
        assert result.returncode != 0
        assert str(cert_file) in _one_line_error(result.stderr)


def test_a_non_loopback_address_needs_tls_and_principals_or_insecure(  # type: ignore[no-untyped-def]
    daemon_factory, pki: Pki
) -> None:
    # Binds the wildcard address but talks to it only through 127.0.0.1.
    plain = daemon_factory("exposed")
    plain.settings["address"] = f"0.0.0.0:{plain.port}"
    refused = plain.serve_refused()
    assert refused.returncode != 0
    line = _one_line_error(refused.stderr)
    assert "0.0.0.0" in line and "insecure" in line and "tls" in line

    plain.start(args=["--insecure"])
    assert plain.healthy()
    assert "INSECURE" in plain.log_tail()

    secured = _tls_daemon(daemon_factory, pki, name="exposed-tls")
    secured.settings["address"] = f"0.0.0.0:{secured.port}"
    # TLS alone is not enough: anyone could still call every RPC.
    line = _one_line_error(secured.serve_refused().stderr)
    assert "[[auth.principals]]" in line and "insecure" in line
    secured.settings["auth"] = {"principals": [{"name": "billing", "cert_identity": "billing"}]}
    secured.start()
    assert secured.healthy()
    assert "INSECURE" not in secured.log_tail()


def test_the_cli_talks_tls_with_flags_or_environment(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    daemon = _tls_daemon(daemon_factory, pki, client_ca_file=pki.ca_file, require_client_auth=True)
    daemon.tls_cert, daemon.tls_key = pki.client_a.cert_file, pki.client_a.key_file
    daemon.start()
    flags = [
        "--tls-ca",
        str(pki.ca_file),
        "--tls-cert",
        str(pki.client_a.cert_file),
        "--tls-key",
        str(pki.client_a.key_file),
    ]
    listed = run_cli(daemon, *flags, "export", "list")
    assert listed.returncode == 0, listed.stderr

    environment = {
        "SLUICE_TLS_CA": str(pki.ca_file),
        "SLUICE_TLS_CERT": str(pki.client_b.cert_file),
        "SLUICE_TLS_KEY": str(pki.client_b.key_file),
    }
    assert run_cli(daemon, "export", "list", env=environment).returncode == 0

    no_cert = run_cli(daemon, "--tls-ca", str(pki.ca_file), "export", "list")
    assert no_cert.returncode != 0
    assert (
        "over TLS" in no_cert.stderr
        and "--tls-cert" in no_cert.stderr
        and "Traceback" not in no_cert.stderr
    )
    half = run_cli(daemon, *flags[:4], "export", "list")
    assert half.returncode != 0 and "--tls-key" in half.stderr


def test_health_checks_over_grpc_reach_a_tls_daemon(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    """The tests' own Daemon helper checks health through TLS (and plaintext fails)."""
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()
    assert daemon.healthy()
    with (
        grpc.insecure_channel(daemon.address) as channel,
        pytest.raises(grpc.FutureTimeoutError),
    ):
        grpc.channel_ready_future(channel).result(timeout=2)


def test_a_tls_file_that_is_not_pem_is_one_line_naming_the_option(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    """A file that exists but holds no PEM certificate (or no key) used to reach grpc's
    C core, which printed four E... lines of its own and then the vague 'cannot reach
    ... over TLS'; the CLI names the option and the file instead, before connecting."""
    daemon = _tls_daemon(daemon_factory, pki, client_ca_file=pki.ca_file, require_client_auth=True)
    daemon.tls_cert, daemon.tls_key = pki.client_a.cert_file, pki.client_a.key_file
    daemon.start()
    not_pem = pki.folder / "notes.txt"
    not_pem.write_text("not a certificate\n")
    ca, cert, key = str(pki.ca_file), str(pki.client_a.cert_file), str(pki.client_a.key_file)
    cases = [
        ("--tls-ca", [str(not_pem), cert, key]),
        ("--tls-cert", [ca, str(not_pem), key]),
        ("--tls-key", [ca, cert, cert]),  # a certificate where its key belongs
        ("--tls-key", [ca, cert, str(pki.client_b.key_file)]),  # another certificate's key
    ]
    for option, (ca_arg, cert_arg, key_arg) in cases:
        flags = ["--tls-ca", ca_arg, "--tls-cert", cert_arg, "--tls-key", key_arg]
        shown = run_cli(daemon, *flags, "export", "list")
        assert shown.returncode == 1, (option, shown.stderr)
        line = _one_line_error(shown.stderr)
        assert option in line, line
        assert "INVALID_ARGUMENT" in line, line
    environment = {"SLUICE_TLS_CA": str(not_pem)}
    shown = run_cli(daemon, "export", "list", env=environment)
    assert shown.returncode == 1
    assert "SLUICE_TLS_CA" in _one_line_error(shown.stderr)
    fine = run_cli(daemon, "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key, "export", "list")
    assert fine.returncode == 0, fine.stderr


def test_a_ca_bundle_with_an_old_root_is_taken_without_a_warning(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    """The system bundle (/etc/ssl/certs/ca-certificates.crt) holds roots whose serial
    number is not positive; checking --tls-ca printed cryptography's
    CryptographyDeprecationWarning about them on every command."""
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()
    bundle = pki.folder / "bundle.crt"
    bundle.write_bytes(
        _with_negative_serial(pki.other_ca_file.read_bytes()) + pki.ca_file.read_bytes()
    )
    listed = run_cli(daemon, "--tls-ca", str(bundle), "export", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""


def _with_negative_serial(pem: bytes) -> bytes:
    """`pem`'s certificate with a negative serial number (its signature no longer
    matches, which nothing checks of a root)."""
    import warnings

    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    serial = x509.load_pem_x509_certificate(pem).serial_number
    encoded = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    field = b"\xa0\x03\x02\x01\x02\x02" + bytes([len(encoded)])
    assert der.count(field + encoded) == 1
    patched = der.replace(field + encoded, field + b"\x80" + encoded[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(patched)
        assert cert.serial_number < 0
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_plaintext_cli_to_a_tls_daemon_is_told_to_give_tls_ca(daemon_factory, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    """It said "cannot reach ... (is `sluice serve` running?)" of a daemon that runs:
    grpc core's detail is "Socket closed" (the daemon dropped the plaintext hello)."""
    daemon = _tls_daemon(daemon_factory, pki)
    daemon.start()
    result = run_cli(daemon, "export", "list")
    assert result.returncode == 1, result.stdout
    line = _one_line_error(result.stderr)
    assert f"the Sluice server at {daemon.address} closed the connection" in line, line
    assert "--tls-ca" in line and "is `sluice serve` running?" not in line, line
