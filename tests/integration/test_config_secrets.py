"""`sluice serve` refuses configuration that would put a secret where it is shown or
sent in clear, and names the field without echoing the value: storage endpoints with
user-info or a query (botocore and azure log and raise with the endpoint in the text),
and a secret pasted where a secret's *name* belongs."""

from __future__ import annotations

import grpc
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

CANARY = "CNRYENDPOINTPW8812"


@pytest.mark.parametrize(
    ("kind", "field", "url"),
    [
        ("s3", "endpoint_url", f"http://minio:{CANARY}@127.0.0.1:9000"),
        ("s3", "endpoint_url", f"http://127.0.0.1:9000/?X-Amz-Signature={CANARY}"),
        ("s3", "sts_endpoint_url", f"http://{CANARY}@127.0.0.1:5000"),
        ("azure", "account_url", f"http://127.0.0.1:10000/devstoreaccount1?sig={CANARY}"),
        ("azure", "account_url", f"http://u:{CANARY}@127.0.0.1:10000/devstoreaccount1"),
        ("s3", "endpoint_url", f"minio:{CANARY}@127.0.0.1:9000"),
        ("s3", "endpoint_url", f"http://127.0.0.1:9000/#{CANARY}"),
    ],
)
def test_storage_endpoints_with_credentials_are_refused_unechoed(  # type: ignore[no-untyped-def]
    daemon_factory, kind: str, field: str, url: str
) -> None:
    profile = {"kind": kind, field: url}
    if field == "sts_endpoint_url":
        profile |= {"role_arn": "arn:aws:iam::1:role/r", "web_identity_token_file": "/t"}
    if kind == "azure":
        profile["account_name"] = "devstoreaccount1"
    daemon: Daemon = daemon_factory("endpoint-secret", storage_profiles={"store": profile})
    refused = daemon.serve_refused()
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert field in output, output
    assert CANARY not in output, output


SECRET = "CNRYHASHSECRET4471"


def test_a_secret_given_as_a_hash_key_name_is_not_echoed(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A caller who pastes the key itself into RedactionRule.key made the mistake: an
    INVALID_ARGUMENT on that rule, the value neither in the message nor in the status
    details (grpc-status-details-bin)."""
    daemon: Daemon = daemon_factory("hash-key-name", hash_keys={"default": "env:SLUICE_TEST_HK"})
    daemon.env["SLUICE_TEST_HK"] = "k" * 32
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 50, seed=3)
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="ev",
        redaction=pb.Redaction(rules=[pb.RedactionRule(column="email", action="hash", key=SECRET)]),
    )
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        export_pb2_grpc.ExportServiceStub(channel).CreateExport(
            pb.CreateExportRequest(spec=spec), timeout=30
        )
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "spec.redaction.rules[0]" in error.details()
    assert "hash key" in error.details()
    trailers = repr(error.trailing_metadata())
    assert SECRET not in error.details() + trailers


@pytest.mark.parametrize("setting", ["key_index_key", "backup_passphrase_secret"])
def test_a_secret_given_as_a_secret_name_at_startup_is_not_echoed(  # type: ignore[no-untyped-def]
    daemon_factory, setting: str
) -> None:
    daemon: Daemon = daemon_factory(
        "secret-name",
        hash_keys={"default": "env:SLUICE_TEST_HK"},
        secrets={"backup": "env:SLUICE_TEST_HK"},
        **{setting: SECRET},
    )
    daemon.env["SLUICE_TEST_HK"] = "k" * 32
    refused = daemon.serve_refused()
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert setting in output, output
    assert SECRET not in output, output


PASTED = "hunter2+Zm9vYmFy/PASTED=="


@pytest.mark.parametrize(
    ("setting", "reference"),
    [
        ("content_digest_key", f"env:{PASTED}"),
        ("manifest_signing_key", f"env:{PASTED}"),
        ("content_digest_key", f"file:{PASTED}"),
        ("content_digest_key", f"rawfile:{PASTED}"),
    ],
)
def test_a_secret_pasted_after_the_scheme_is_refused_unechoed(  # type: ignore[no-untyped-def]
    daemon_factory, setting: str, reference: str
) -> None:
    """`env:<the secret>` passed every "is it a reference" check, and the refusal then
    printed it: "secret env:hunter2+… is not set". An environment variable's name is
    letters, digits and '_'; a file's path is shown only when absolute."""
    daemon: Daemon = daemon_factory("pasted-after-scheme", **{setting: reference})
    refused = daemon.serve_refused()
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert setting in output, output
    assert "hunter2" not in output and "PASTED" not in output, output


def test_a_principals_token_pasted_after_env_is_refused_unechoed(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    principals = [{"name": "ops", "token_ref": f"env:{PASTED}", "scopes": ["admin"]}]
    daemon: Daemon = daemon_factory("pasted-token", auth={"principals": principals})
    refused = daemon.serve_refused()
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "token_ref" in output, output
    assert "hunter2" not in output and "PASTED" not in output, output
