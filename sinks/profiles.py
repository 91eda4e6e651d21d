"""Storage profiles: named, server-side descriptions of how to reach a store.

Profiles hold secret *references* ("env:NAME" or "file:PATH"), never secrets; the values
are read only when a client is built (sluice.secrets.SecretRef) and never logged: the
reference fields are left out of repr, and messages name the profile and field only.
Requests name a profile; they never carry credentials.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.secrets import SecretRef, SecretUnavailable
from sluice.sinks.errors import StorageError
from sluice.sinks.resumable import DEFAULT_PART_SIZE, MIN_PART_SIZE

#: Largest part S3 accepts (and far above any sensible Azure block).
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024


def _secret_ref(value: str) -> str:
    if value:
        SecretRef(value)  # raises ValueError without echoing the value
    return value


def _endpoint(value: str) -> str:
    """An endpoint is an http(s) URL with a host and no credential: botocore and the
    Azure SDK quote the endpoint in their logs and exceptions, and credentials belong in
    the *_ref fields. Without a scheme ("minio:PW@host:9000") or with a fragment, a
    credential would hide where user-info and queries are looked for. Refused without
    echoing it (hide_input_in_errors keeps pydantic from quoting it)."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # a malformed [IPv6] host
        raise ValueError("must be an http:// or https:// URL with a host") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None or parts.query:
        raise ValueError(
            "must not hold credentials (user:password@ or a query string); "
            "give them as secret references"
        )
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return value


def resolve(reference: str) -> str:
    """The secret a reference points to, as text ("" for an empty reference). A secret
    that cannot be read is a permanent StorageError: a configuration problem that no
    retry mends (the daemon answers FAILED_PRECONDITION)."""
    if not reference:
        return ""
    try:
        return SecretRef(reference).resolve().decode()
    except SecretUnavailable as exc:
        raise StorageError(exc.message) from None


class _Profile(BaseModel):
    # hide_input_in_errors: a mistyped reference field often holds the secret itself.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: Bytes per uploaded part/block (>= 5 MiB). Memory per in-flight upload is one part.
    part_size: int = Field(default=DEFAULT_PART_SIZE, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    #: Parts uploaded at once per chunk. 1 keeps the crash guarantee strict (a crash re-sends
    #: at most the one part in flight); N sends faster but may re-send up to N parts and
    #: holds N parts in memory.
    upload_concurrency: int = Field(default=1, ge=1, le=16)
    #: Seconds to wait for a connection and for each response.
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    read_timeout: float = Field(default=60.0, gt=0, le=3600)


class S3Profile(_Profile):
    """An S3 (or S3-compatible) store. Without credentials the AWS default chain applies
    (environment, shared config, IRSA web identity, instance role)."""

    kind: Literal["s3"] = "s3"
    #: AWS region ("us-east-1" when empty and no endpoint decides it).
    region: str = ""
    #: Custom endpoint for S3-compatible stores and tests ("http://127.0.0.1:9000");
    #: http(s) with a host, without user:password@, a query or a #fragment (refused at
    #: startup: credentials are *_ref).
    endpoint_url: str = ""
    #: Secret references of the access key pair and an optional session token.
    access_key_id_ref: str = Field(default="", repr=False)
    secret_access_key_ref: str = Field(default="", repr=False)
    session_token_ref: str = Field(default="", repr=False)
    #: Web identity (EKS IRSA or any OIDC token): assume `role_arn` with the token in
    #: `web_identity_token_file` (read again at every refresh, so rotation is picked up).
    #: Not combined with an access key pair.
    role_arn: str = ""
    web_identity_token_file: str = ""
    #: Names the assumed-role session in CloudTrail.
    role_session_name: str = Field(default="sluice", pattern=r"^[\w+=,.@-]{2,64}$")
    #: STS endpoint for web identity ("http://127.0.0.1:5000" for moto); empty: AWS's
    #: regional STS endpoint for `region`. No user-info or query, as endpoint_url.
    sts_endpoint_url: str = ""
    #: "path" (needed by most S3-compatible servers) or "virtual"; empty: botocore's choice.
    addressing_style: Literal["", "path", "virtual", "auto"] = ""

    _refs = field_validator("access_key_id_ref", "secret_access_key_ref", "session_token_ref")(
        _secret_ref
    )
    _endpoints = field_validator("endpoint_url", "sts_endpoint_url")(_endpoint)

    @model_validator(mode="after")
    def _complete_pairs(self) -> S3Profile:
        if bool(self.access_key_id_ref) != bool(self.secret_access_key_ref):
            raise ValueError("access_key_id_ref and secret_access_key_ref go together")
        if bool(self.role_arn) != bool(self.web_identity_token_file):
            raise ValueError("role_arn and web_identity_token_file go together")
        if self.role_arn and self.access_key_id_ref:
            raise ValueError("give either an access key pair or a web identity role, not both")
        return self


class AzureProfile(_Profile):
    """An Azure Blob Storage account. Give at most one way to authenticate: a connection
    string, an account key, a SAS token, or managed identity (azure-identity's
    ManagedIdentityCredential, see sinks.azure.options.managed_identity); none reads
    public containers anonymously."""

    kind: Literal["azure"] = "azure"
    #: Storage account name; required unless the connection string names it.
    account_name: str = ""
    #: Blob endpoint ("http://127.0.0.1:10000/devstoreaccount1" for Azurite); empty:
    #: https://<account_name>.blob.core.windows.net. No user-info or SAS query: a SAS
    #: token goes in sas_token_ref (refused at startup, unechoed).
    account_url: str = ""
    connection_string_ref: str = Field(default="", repr=False)
    account_key_ref: str = Field(default="", repr=False)
    sas_token_ref: str = Field(default="", repr=False)
    #: Authenticate with azure-identity; `managed_identity_client_id` picks a user-assigned one.
    use_managed_identity: bool = False
    managed_identity_client_id: str = ""

    _refs = field_validator("connection_string_ref", "account_key_ref", "sas_token_ref")(
        _secret_ref
    )
    _endpoints = field_validator("account_url")(_endpoint)

    @model_validator(mode="after")
    def _one_credential(self) -> AzureProfile:
        given = [
            name
            for name in ("connection_string_ref", "account_key_ref", "sas_token_ref")
            if getattr(self, name)
        ] + (["use_managed_identity"] if self.use_managed_identity else [])
        if len(given) > 1:
            raise ValueError(f"give one way to authenticate, not {' and '.join(given)}")
        if self.managed_identity_client_id and not self.use_managed_identity:
            raise ValueError("managed_identity_client_id needs use_managed_identity = true")
        if self.use_managed_identity and self.account_url.startswith("http://"):
            # The SDK refuses to send a bearer token over plain HTTP (Azurite included).
            raise ValueError("managed identity needs an https:// account_url")
        return self

    def blob_endpoint(self) -> str:
        if self.account_url:
            return self.account_url.rstrip("/")
        if not self.account_name:
            raise ValueError("an Azure profile needs account_name or account_url")
        return f"https://{self.account_name}.blob.core.windows.net"


StorageProfile = Annotated[S3Profile | AzureProfile, Field(discriminator="kind")]


def profile_kind_for(uri: str) -> str:
    """The profile kind a URI needs ("s3", "azure"), or "" for other stores."""
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme in {"s3", "s3a"}:
        return "s3"
    if scheme in {"az", "abfs", "abfss"}:
        return "azure"
    return ""
