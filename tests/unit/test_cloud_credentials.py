"""Storage profiles build the credential they name: Azure managed identity asks the
identity endpoint (a stand-in on 127.0.0.1) for a storage token as the configured identity;
contradictory profiles are refused when the configuration is loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from sluice.server.errors import FailedPrecondition
from sluice.server.storage_errors import storage_errors
from sluice.sinks import StorageError, open_sink
from sluice.sinks.azure.options import AzureLocation, build_container_client
from sluice.sinks.profiles import AzureProfile, S3Profile
from tests.servers.identity import TOKEN, IdentityEndpoint

STORAGE_SCOPE = "https://storage.azure.com/.default"


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityEndpoint]:
    running = IdentityEndpoint(answer=True).start()
    for other in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(other, raising=False)  # they would pick another platform
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", running.url)
    yield running
    running.stop()


@pytest.mark.parametrize("client_id", ["", "5f0c1c11-0000-4000-8000-000000000001"])
def test_managed_identity_asks_for_a_storage_token_as_the_profile_identity(
    identity_endpoint: IdentityEndpoint, client_id: str
) -> None:
    profile = AzureProfile(
        account_name="sluiceexample",
        use_managed_identity=True,
        managed_identity_client_id=client_id,
    )
    client = build_container_client(profile, AzureLocation.parse("az://exports/p"))
    assert client.url == "https://sluiceexample.blob.core.windows.net/exports"

    assert client.credential.get_token(STORAGE_SCOPE).token == TOKEN

    ((path, query, headers),) = identity_endpoint.requests
    assert path == "/metadata/identity/oauth2/token"
    assert query["resource"] == "https://storage.azure.com"
    assert query.get("client_id", "") == client_id
    assert headers.get("Metadata") == "true"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"connection_string_ref": "env:A", "use_managed_identity": True},
            "not connection_string_ref and use_managed_identity",
        ),
        ({"account_key_ref": "env:A", "sas_token_ref": "env:B"}, "one way to authenticate"),
        ({"managed_identity_client_id": "x"}, "needs use_managed_identity"),
        (
            {"use_managed_identity": True, "account_url": "http://127.0.0.1:10000/acct"},
            "https:// account_url",
        ),
    ],
)
def test_contradictory_azure_profiles_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AzureProfile(account_name="acct", **fields)  # type: ignore[arg-type]


def test_contradictory_s3_profiles_are_refused() -> None:
    role = {"role_arn": "arn:aws:iam::1:role/r", "web_identity_token_file": "/var/run/token"}
    with pytest.raises(ValidationError, match="not both"):
        S3Profile(access_key_id_ref="env:A", secret_access_key_ref="env:B", **role)
    with pytest.raises(ValidationError, match="go together"):
        S3Profile(role_arn="arn:aws:iam::1:role/r")
    with pytest.raises(ValidationError, match="role_session_name"):
        S3Profile(role_session_name="has spaces", **role)
    assert S3Profile(**role).role_session_name == "sluice"


@pytest.mark.parametrize(
    "profile",
    [
        S3Profile(
            access_key_id_ref="env:TEST_SLUICE_UNSET_KEY",
            secret_access_key_ref="env:TEST_SLUICE_UNSET_SECRET",
        ),
        AzureProfile(connection_string_ref="env:TEST_SLUICE_UNSET_KEY"),
    ],
)
def test_a_profile_secret_that_cannot_be_read_is_a_configuration_problem(
    profile: S3Profile | AzureProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Permanent (never retried), named by its reference, answered as FAILED_PRECONDITION.
    monkeypatch.delenv("TEST_SLUICE_UNSET_KEY", raising=False)
    uri = "s3://bucket/p" if profile.kind == "s3" else "az://container/p"
    with pytest.raises(StorageError, match="secret env:TEST_SLUICE_UNSET_KEY is not set") as raised:
        open_sink(uri, profile=profile)
    assert not raised.value.transient
    with pytest.raises(FailedPrecondition, match="TEST_SLUICE_UNSET_KEY"), storage_errors():
        open_sink(uri, profile=profile)
