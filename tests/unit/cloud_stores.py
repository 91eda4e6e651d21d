"""A resumable sink on a real server (moto or Azurite) with what tests ask of the store
itself, past the sink: the version of an object, and the uploads left open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sluice.sinks import Sink, open_sink
from sluice.sinks.profiles import AzureProfile, S3Profile
from tests.servers.fixtures import (
    MOTO_KEY_ID,
    MOTO_SECRET,
    blob_service,
    new_bucket,
    new_container,
    s3_client,
)
from tests.servers.processes import ServerProcess, azurite_connection_string

PART = 5 * 1024 * 1024
#: A chunk object's key, and its sizes in the stale-object tests: stored in one request
#: (SMALL), or in three parts, the last of 10 bytes (LARGE).
KEY = "events/exp/part-000001.parquet"
SMALL = 1_000
LARGE = 2 * PART + 10


@dataclass(frozen=True)
class CloudStore:
    backend: str
    sink: Sink
    #: The store's version (ETag) of the object under a key: changes when it is rewritten.
    version: Callable[[str], str]
    #: Multipart uploads still open (Azure stages blocks on the blob itself: always 0).
    open_uploads: Callable[[], int]
    #: The sink's root URI and profile (what a source under it is read with).
    root: str
    profile: S3Profile | AzureProfile

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (below the root), replacing what is there."""
        writer = self.sink.create(key, overwrite=True)
        writer.write(data)
        writer.commit()


def cloud_store(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> CloudStore:
    """A sink of 5 MiB parts under the prefix "p" of a new bucket or container."""
    if backend == "s3":
        server: ServerProcess = request.getfixturevalue("moto_server")
        monkeypatch.setenv("T_CLOUD_KEY", MOTO_KEY_ID)
        monkeypatch.setenv("T_CLOUD_SECRET", MOTO_SECRET)
        s3 = S3Profile(
            endpoint_url=server.endpoint,
            access_key_id_ref="env:T_CLOUD_KEY",
            secret_access_key_ref="env:T_CLOUD_SECRET",
            part_size=PART,
        )
        bucket, client = new_bucket(server.endpoint), s3_client(server.endpoint)
        return CloudStore(
            backend,
            open_sink(f"s3://{bucket}/p", profile=s3),
            lambda key: str(client.head_object(Bucket=bucket, Key=f"p/{key}")["ETag"]),
            lambda: len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])),
            f"s3://{bucket}/p",
            s3,
        )
    server = request.getfixturevalue("azurite_server")
    monkeypatch.setenv("T_CLOUD_AZURE", azurite_connection_string(server.endpoint))
    azure = AzureProfile(connection_string_ref="env:T_CLOUD_AZURE", part_size=PART)
    container = blob_service(server.endpoint).get_container_client(new_container(server.endpoint))
    return CloudStore(
        backend,
        open_sink(f"az://{container.container_name}/p", profile=azure),
        lambda key: str(container.get_blob_client(f"p/{key}").get_blob_properties().etag),
        lambda: 0,
        f"az://{container.container_name}/p",
        azure,
    )
