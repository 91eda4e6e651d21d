"""Where an S3 sink writes and how its client is built: the URI's bucket and prefix, and
a botocore client from a storage profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sluice.sinks.locations import (
    CREDENTIALS_IN_URI,
    holds_credentials,
    name_refusal,
    without_secrets,
)
from sluice.sinks.profiles import S3Profile, resolve


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """s3://bucket[/prefix] -> S3Location; raise ValueError naming what is wrong."""
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme.lower() not in {"s3", "s3a"}:
            raise ValueError(f"{without_secrets(uri)!r} is not an s3:// URI")
        bucket, _, prefix = rest.partition("/")
        if holds_credentials(uri) or "@" in bucket:
            # `s3://KEY:SECRET@bucket`, `s3://SECRET/PART@bucket`, an '@' after a '?' in
            # the first segment (`s3://b?sig=X@y`): never repeated. An '@' after a valid
            # bucket and '/' is part of the prefix (`s3://b/users/joe@x.com`).
            raise ValueError(f"invalid S3 bucket: {CREDENTIALS_IN_URI}")
        refusal = name_refusal(scheme, bucket)
        if refusal is not None:
            # Never the name when it may be a secret pasted in its place
            # (`s3://SECRETKEY/x`, `s3://KEY:SECRET/x`, a query in the bucket segment).
            raise ValueError(refusal)
        if "?" in prefix or "#" in prefix:
            raise ValueError("an s3:// destination must not have a query or fragment")
        return cls(bucket, prefix.strip("/"))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def build_client(profile: S3Profile) -> Any:
    """A botocore S3 client. Its own retries are off: RetryingSink is the one place that
    retries, and stacking both would multiply attempts."""
    # Here, not at the top: planning parses S3Location for every destination, and
    # botocore is worth importing only for a daemon that writes to S3 (sinks/s3/__init__).
    from botocore.config import Config  # type: ignore[import-untyped]

    from sluice.sinks.s3.credentials import session_for

    session = session_for(profile)
    config = Config(
        connect_timeout=profile.connect_timeout,
        read_timeout=profile.read_timeout,
        retries={"total_max_attempts": 1},
        s3={"addressing_style": profile.addressing_style} if profile.addressing_style else None,
        # Checksums are computed by the upload itself (one SHA-256 per part).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=16,
    )
    credentials: dict[str, Any] = {}
    if profile.access_key_id_ref:
        credentials["aws_access_key_id"] = resolve(profile.access_key_id_ref)
        credentials["aws_secret_access_key"] = resolve(profile.secret_access_key_ref)
        if profile.session_token_ref:
            credentials["aws_session_token"] = resolve(profile.session_token_ref)
    return session.create_client(
        "s3",
        region_name=profile.region or "us-east-1",
        endpoint_url=profile.endpoint_url or None,
        config=config,
        **credentials,
    )
