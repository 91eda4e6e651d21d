"""DEBUG logs carry no credentials: a daemon at log_level DEBUG exports to S3 (moto) with
a key pair and session token by reference, and to Azure (Azurite) with an account key
and with a SAS token; no secret, nor the access key id, appears anywhere in its log."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.servers.cloud import ProfileDaemon
from tests.servers.fixtures import new_bucket, new_container
from tests.servers.processes import AZURITE_ACCOUNT, AZURITE_KEY, ServerProcess

pytestmark = pytest.mark.integration


def _variants(secret: str) -> set[str]:
    """A secret as it may appear in a log line: as is, or URL-encoded in a query."""
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_logs_hold_no_credentials(
    tmp_path: Path, moto_server: ServerProcess, azurite_server: ServerProcess, log_format: str
) -> None:
    tag = uuid.uuid4().hex[:12].upper()
    key_id = f"AKIASLUICE{tag}"
    secret_key = f"sluice-secret-key-{tag}"
    session_token = f"sluice-session-token-{tag}"
    secret_file = tmp_path / "aws-secret"
    secret_file.write_text(secret_key + "\n")
    bucket = new_bucket(moto_server.endpoint)
    keyed_container = new_container(azurite_server.endpoint)
    sas_container = new_container(azurite_server.endpoint)
    sas_token = generate_container_sas(
        AZURITE_ACCOUNT,
        sas_container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    account_url = f"{azurite_server.endpoint}/{AZURITE_ACCOUNT}"
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings={"log_level": "DEBUG", "log_format": log_format},
        profiles={
            "s3": {
                "kind": "s3",
                "endpoint_url": moto_server.endpoint,
                "access_key_id_ref": "env:TEST_LOG_KEY_ID",
                "secret_access_key_ref": f"file:{secret_file}",
                "session_token_ref": "env:TEST_LOG_SESSION_TOKEN",
            },
            "blob-key": {
                "kind": "azure",
                "account_name": AZURITE_ACCOUNT,
                "account_url": account_url,
                "account_key_ref": "env:TEST_LOG_ACCOUNT_KEY",
            },
            "blob-sas": {
                "kind": "azure",
                "account_name": AZURITE_ACCOUNT,
                "account_url": account_url,
                "sas_token_ref": "env:TEST_LOG_SAS",
            },
        },
        environment={
            "TEST_LOG_KEY_ID": key_id,
            "TEST_LOG_SESSION_TOKEN": session_token,
            "TEST_LOG_ACCOUNT_KEY": AZURITE_KEY,
            "TEST_LOG_SAS": sas_token,
        },
    )
    daemon.start()
    try:
        generate(daemon.sources / "events.parquet", 2_000, seed=6)
        destinations = {
            "s3": f"s3://{bucket}/exports",
            "blob-key": f"az://{keyed_container}/exports",
            "blob-sas": f"az://{sas_container}/exports",
        }
        with ExportClient(daemon.address) as client:
            for profile, uri in destinations.items():
                spec = ExportClient.build_spec(
                    source=str(daemon.sources / "events.parquet"),
                    to=uri,
                    dataset="events",
                    storage_profile=profile,
                )
                finished = client.wait(client.create(spec).id, timeout=120)
                assert finished.state == pb.EXPORT_STATE_SUCCEEDED, (profile, finished.error)
    finally:
        daemon.stop()

    log = daemon.log_path.read_text(errors="replace")
    sas_signature = urllib.parse.parse_qs(sas_token)["sig"][0]
    secrets = {
        "access key id": key_id,
        "secret access key": secret_key,
        "session token": session_token,
        "account key": AZURITE_KEY,
        "SAS token": sas_token,
        "SAS signature": sas_signature,
    }
    leaked = [name for name, value in secrets.items() if any(v in log for v in _variants(value))]
    assert not leaked, f"secrets in the DEBUG log: {leaked}"
    # And DEBUG was really on, in the format asked for.
    if log_format == "text":
        assert " DEBUG sluice: logging at DEBUG" in log
    else:
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert any(
            line["level"] == "DEBUG" and line["msg"].startswith("logging at DEBUG")
            for line in lines
        )
