"""Where an Azure sink writes and how its client is built: the URI's container and
prefix, and a ContainerClient from a storage profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.sinks.locations import (
    AZURE_CONTAINER_OR_CREDENTIALS,
    holds_credentials,
    name_refusal,
    without_secrets,
)
from sluice.sinks.profiles import AzureProfile, resolve

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

SCHEMES = frozenset({"az", "abfs", "abfss"})


@dataclass(frozen=True)
class AzureLocation:
    container: str
    prefix: str
    #: The account a URI names (abfs://container@account.dfs.core.windows.net/...), if any.
    account: str = ""

    @classmethod
    def parse(cls, uri: str) -> AzureLocation:
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            raise ValueError(f"{without_secrets(uri)!r} is not an az:// or abfs:// URI")
        if holds_credentials(uri):
            # `az://acct:KEY@container`, `abfss://container:KEY@account...`, a bare account
            # key before '@' (most hold '/'), `az://c?sig=SAS@acct`, or a mistyped
            # container (`MyContainer@acct`): what stands before the '@' is never repeated.
            raise ValueError(AZURE_CONTAINER_OR_CREDENTIALS)
        netloc, _, prefix = rest.partition("/")
        container, at, host = netloc.partition("@")
        # An IP address ([::1]:10000, 127.0.0.1:10000) names no account.
        account = host.split(".", 1)[0] if at and not host.startswith("[") else ""
        refusal = name_refusal(scheme, container)
        if refusal is not None:
            # Never the name when it may be a secret pasted in its place (a ':', a SAS
            # token, a key's uppercase letters); $web, $logs and $root are names.
            raise ValueError(refusal)
        if "?" in prefix or "#" in prefix:
            raise ValueError("an Azure destination must not have a query or fragment")
        return cls(container, prefix.strip("/"), account)

    @property
    def uri(self) -> str:
        return f"az://{self.container}/{self.prefix}" if self.prefix else f"az://{self.container}"

    def blob_name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def managed_identity(profile: AzureProfile) -> Any:
    """The host's managed identity (IMDS on VMs and AKS nodes, the identity endpoint of App
    Service, Functions and Container Apps, AKS workload identity's token file), never a
    developer's `az login` or secrets from the environment, as DefaultAzureCredential
    might pick. Its own retries are off like the SDK's: with no identity endpoint the
    first request fails at once (CredentialsUnavailable, answered FAILED_PRECONDITION)
    instead of backing off for half a minute."""
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(
        client_id=profile.managed_identity_client_id or None, retry_total=0
    )


def build_container_client(profile: AzureProfile, location: AzureLocation) -> ContainerClient:
    """A ContainerClient; the SDK's own retries are off, RetryingSink is the one place."""
    # Here, not at the top: planning parses AzureLocation for every destination, and the
    # SDK is worth importing only for a daemon that writes to Azure (sinks/azure/__init__).
    from azure.storage.blob import BlobServiceClient, ContainerClient

    transport: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": profile.connect_timeout,
        "read_timeout": profile.read_timeout,
    }
    if profile.connection_string_ref:
        service = BlobServiceClient.from_connection_string(
            resolve(profile.connection_string_ref), **transport
        )
        return service.get_container_client(location.container)
    profile_for_account = profile
    if location.account and not profile.account_name and not profile.account_url:
        profile_for_account = profile.model_copy(update={"account_name": location.account})
    endpoint = profile_for_account.blob_endpoint()
    credential: Any = None
    if profile.account_key_ref:
        credential = {
            "account_name": profile_for_account.account_name,
            "account_key": resolve(profile.account_key_ref),
        }
    elif profile.sas_token_ref:
        credential = resolve(profile.sas_token_ref)
    elif profile.use_managed_identity:
        credential = managed_identity(profile)
    return ContainerClient(endpoint, location.container, credential=credential, **transport)
