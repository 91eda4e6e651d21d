"""Running the daemon under an orchestrator: JSON logs (one object per line, with the
export's id and dataset on the lines an export writes) and a plaintext health port next
to a TLS-only main port, for probes that cannot speak TLS."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon, free_port
from tests.integration.scraping import scrape
from tests.integration.tls_certs import Authority

pytestmark = pytest.mark.integration


def test_json_logs_are_one_object_per_line_with_the_export(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("json", log_format="json")
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 200, seed=2)
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="ev")
        finished = client.wait(client.create(spec).id, timeout=60)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    daemon.stop()
    lines = [json.loads(line) for line in daemon.log_path.read_text().splitlines()]
    assert lines and all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    assert any(line["msg"].startswith("sluice listening on") for line in lines)
    export_lines = [line for line in lines if line.get("export_id") == finished.id]
    assert any(line["msg"].startswith(f"export {finished.id} running") for line in export_lines)
    assert all(line["dataset"] == "ev" for line in export_lines if "running" in line["msg"])


def test_unknown_sluice_variables_are_warned_of_in_the_log_format(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A SLUICE_* variable that is no setting is warned of as a log line of the chosen
    format (it was printed bare, breaking JSON logs); one the config names as a secret
    (`env:SLUICE_WEBHOOK_SECRET`, as the README's example does) is not warned of: it is
    used, not ignored."""
    daemon: Daemon = daemon_factory(
        "env", log_format="json", webhook_secret_ref="env:SLUICE_WEBHOOK_SECRET"
    )
    daemon.env = {"SLUICE_WEBHOOK_SECRET": "whsec-0123456789", "SLUICE_MAX_CONCURENT": "9"}
    daemon.start()
    daemon.stop()
    lines = [json.loads(line) for line in daemon.log_path.read_text().splitlines()]
    warned = [line["msg"] for line in lines if line["level"] == "WARNING"]
    assert any("SLUICE_MAX_CONCURENT" in msg for msg in warned), warned
    assert not any("SLUICE_WEBHOOK_SECRET" in line["msg"] for line in lines), lines


def test_plaintext_health_port_beside_a_tls_port(daemon_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = Authority.create()
    issued = ca.issue(tmp_path, "tls", common_name="sluice.test", server=True)
    health_port, metrics_port = free_port(), free_port()
    daemon: Daemon = daemon_factory(
        "tls",
        tls={"cert_file": str(issued.cert_file), "key_file": str(issued.key_file)},
        health_address=f"127.0.0.1:{health_port}",
        metrics_address=f"127.0.0.1:{metrics_port}",
    )
    daemon.tls_ca = ca.write_ca(tmp_path / "ca.crt")
    daemon.start()
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        for service in ("", "sluice.v1.ExportService"):
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=10
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # Nothing but health checks in plaintext.
        with pytest.raises(grpc.RpcError) as refused:
            export_pb2_grpc.ExportServiceStub(channel).GetServerInfo(
                pb.GetServerInfoRequest(), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The main port stays TLS only.
    with grpc.insecure_channel(daemon.address) as plain, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=3)
    # The served certificate's expiry is a metric.
    expiry = scrape(metrics_port)[("sluice_tls_certificate_expiry_seconds", frozenset())]
    assert expiry == issued.certificate.not_valid_after_utc.timestamp()


@pytest.mark.parametrize("setting", ["metrics_address", "health_address"])
def test_a_taken_port_stops_the_start_naming_it(daemon_factory, setting: str) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        daemon: Daemon = daemon_factory("taken", **{setting: address})
        result = daemon.serve_refused()
    assert result.returncode != 0
    assert "cannot " in result.stderr and address in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("material", "said"),
    [
        ("not a key\n", "neither a PEM key nor a base64 32-byte seed"),
        (None, "file:"),
        ("encrypted", "the key is encrypted; give an unencrypted Ed25519 PKCS#8 key"),
    ],
)
def test_an_unusable_signing_key_stops_the_start(  # type: ignore[no-untyped-def]
    daemon_factory, tmp_path: Path, material: str | None, said: str
) -> None:
    """A manifest_signing_key that cannot sign let the daemon start; then every export
    read its source, stored every chunk and failed at its manifest, for as long as the
    daemon ran. The start now stops, naming the setting."""
    key_file = tmp_path / "signing.key"
    if material == "encrypted":
        # An encrypted PEM ended the start with cryptography's TypeError, a traceback.
        key_file.write_bytes(_encrypted_ed25519_pem())
    elif material is not None:
        key_file.write_text(material)
    daemon: Daemon = daemon_factory("signing", manifest_signing_key=f"file:{key_file}")
    result = daemon.serve_refused(timeout=30)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("sluice: error: manifest_signing_key"), result.stderr
    assert said in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr and "PRIVATE KEY" not in result.stderr


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"content_digest_key": "env:SLUICE_TEST_SURELY_UNSET_KEY"}, "content_digest_key: "),
        (
            {
                "auth": {
                    "principals": [
                        {
                            "name": "ops",
                            "token_ref": "env:SLUICE_TEST_SURELY_UNSET_TOKEN",
                            "scopes": ["admin"],
                        }
                    ]
                }
            },
            "principal ops: token_ref: ",
        ),
    ],
)
def test_an_unreadable_start_secret_names_its_setting(  # type: ignore[no-untyped-def]
    daemon_factory, settings: dict[str, object], said: str
) -> None:
    """Both said only "secret env:... is not set": with several references in a config,
    the operator had to search for the one meant."""
    daemon: Daemon = daemon_factory("unreadable", **settings)
    result = daemon.serve_refused(timeout=30)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sluice: error: {said}secret env:SLUICE_TEST_SURELY_UNSET_"), last


def _encrypted_ed25519_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
