"""The one place where a destination URI becomes a stacked Sink (backend + retries).

Only the places sinks.locations allows are reachable: local folders, S3 and Azure Blob.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.base import Sink
from sluice.sinks.local import LocalSink
from sluice.sinks.locations import classify, without_secrets
from sluice.sinks.observer import NO_STORAGE_OBSERVER, StorageObserver
from sluice.sinks.profiles import AzureProfile, S3Profile
from sluice.sinks.retry import RetryingSink, RetryPolicy
from sluice.sinks.s3.options import S3Location

#: Held while a cloud sink's module (and its SDK) is imported on first use. Exports open
#: sinks on their own threads, and two threads importing the Azure SDK and botocore at
#: once can meet in a package they share (urllib3, certifi...) and see it half
#: initialised ("cannot import name ... from partially initialized module": what
#: server/pipeline/driver_preload.py says of psycopg). One import at a time never can.
_SDK_IMPORT = threading.Lock()
#: How a URI of each cloud kind is written, for a message that may not repeat the URI.
_NAMING = {"s3": "s3://, s3a://", "azure": "az://, abfs://, abfss://"}


def _backend(uri: str, profile: S3Profile | AzureProfile | None) -> Sink:
    location = classify(uri)
    if location.kind == "local":
        if profile is not None:
            raise ValueError(
                f"storage profiles apply to s3:// and az:// URIs, not {without_secrets(uri)!r}"
            )
        # Not created here: a destination that is never written leaves no folder behind.
        return LocalSink(Path(location.target).resolve())
    if profile is not None and profile.kind != location.kind:
        # The URI is not repeated: its bucket may be a bare secret (`s3://SECRETKEY/x`),
        # which without_secrets cannot tell from a name.
        raise ValueError(
            f"a {profile.kind} storage profile cannot reach a {location.kind} URI "
            f"({_NAMING[location.kind]})"
        )
    # The cloud sinks are imported here, on first use (sinks/azure/__init__.py says why).
    # Built under the lock too: building a client imports more of its SDK on first use
    # (botocore's session and config, azure.identity), and makes no request.
    if location.kind == "s3":
        s3_profile = profile if isinstance(profile, S3Profile) else S3Profile()
        with _SDK_IMPORT:
            from sluice.sinks.s3.sink import S3Sink

            return S3Sink(S3Location.parse(uri), s3_profile)
    azure_profile = profile if isinstance(profile, AzureProfile) else AzureProfile()
    with _SDK_IMPORT:
        from sluice.sinks.azure.sink import AzureSink

        return AzureSink(AzureLocation.parse(uri), azure_profile)


def open_sink(
    uri: str,
    *,
    retry: RetryPolicy | None = None,
    profile: S3Profile | AzureProfile | None = None,
    observer: StorageObserver = NO_STORAGE_OBSERVER,
) -> Sink:
    """The sink for a destination: a local path or file:// URL, or s3://, az:// or
    abfs:// (resumable, reached as `profile` says), wrapped in retries per `retry`
    (default: RetryPolicy()).

    Raises ValueError (LocationRefused for a URI outside the allow-list of
    sinks.locations) for a destination that cannot name a sink; callers answer
    INVALID_ARGUMENT. Raises StorageError when a secret the profile references cannot
    be read. Nothing is written and nothing is contacted. Every storage request and
    retry is reported to `observer`.
    """
    return RetryingSink(
        _backend(uri, profile),
        retry if retry is not None else RetryPolicy(),
        observer=observer,
        store=classify(uri).kind,
    )
