"""`sluice serve` refuses configuration that would put a secret where it is shown or
sent in clear, and names the field without echoing the value: storage endpoints with
user-info or a query (botocore and azure log and raise with the endpoint in the text),
and a secret pasted where a secret's *name* belongs."""

from __future__ import annotations

import pytest

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
