"""Role credentials for S3 profiles: web identity (EKS IRSA, or any OIDC token file).

The token file is read, and AssumeRoleWithWebIdentity called, when the first request needs
credentials and again before they expire, so a token the kubelet rotates is picked up.
The profile's own provider is the session's only one: the default chain (environment
keys, shared config, instance role) can never stand in for a role that failed.
"""

from __future__ import annotations

from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.credentials import (  # type: ignore[import-untyped]
    AssumeRoleWithWebIdentityCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import CredentialRetrievalError  # type: ignore[import-untyped]

from sluice.sinks.profiles import S3Profile

#: Provider name shown in errors ("Error when retrieving credentials from web identity").
METHOD = "web identity"


class _TokenFile:
    """Reads the token at each refresh; an unreadable file is a named credential error."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __call__(self) -> str:
        try:
            with open(self._path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise CredentialRetrievalError(
                provider=METHOD,
                error_msg=f"cannot read web_identity_token_file {self._path!r}: "
                f"{exc.strerror or type(exc).__name__}",
            ) from None


class _WebIdentityProvider(CredentialProvider):  # type: ignore[misc]
    METHOD = METHOD

    def __init__(self, profile: S3Profile, session: Any) -> None:
        super().__init__()

        def sts(service: str, config: Config | None = None) -> Any:
            # RetryingSink is the one place that retries: a failed STS call fails the
            # storage request, which is retried there when the failure is transient.
            own = Config(
                retries={"total_max_attempts": 1},
                connect_timeout=profile.connect_timeout,
                read_timeout=profile.read_timeout,
            )
            return session.create_client(
                service,
                region_name=profile.region or "us-east-1",
                endpoint_url=profile.sts_endpoint_url or None,
                config=own.merge(config) if config is not None else own,
            )

        self._fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=sts,
            web_identity_token_loader=_TokenFile(profile.web_identity_token_file),
            role_arn=profile.role_arn,
            extra_args={"RoleSessionName": profile.role_session_name},
        )

    def load(self) -> Any:
        return DeferredRefreshableCredentials(
            refresh_using=self._fetcher.fetch_credentials, method=self.METHOD
        )


def session_for(profile: S3Profile) -> Any:
    """A botocore session whose credentials are the profile's role, when it names one."""
    session = botocore.session.get_session()
    if profile.role_arn:
        resolver = CredentialResolver(providers=[_WebIdentityProvider(profile, session)])
        session.register_component("credential_provider", resolver)
    return session
