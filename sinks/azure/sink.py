"""Objects in an Azure Blob container under a prefix, written by resumable block uploads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from azure.storage.blob import ContainerClient

from sluice.sinks.azure.options import AzureLocation, build_container_client
from sluice.sinks.azure.upload import AzureRequests, AzureUpload
from sluice.sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sluice.sinks.errors import ObjectNotFound
from sluice.sinks.profiles import AzureProfile
from sluice.sinks.ranged_read import ranged_reader

_CAPABILITIES = Capabilities(resumable=True)


class AzureSink:
    """A container and prefix, reached as the profile says."""

    def __init__(
        self,
        location: AzureLocation,
        profile: AzureProfile,
        container: ContainerClient | None = None,
    ) -> None:
        self._location = location
        self._profile = profile
        client = container if container is not None else build_container_client(profile, location)
        self._azure = AzureRequests(client, location)

    @property
    def uri(self) -> str:
        return self._location.uri

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> SinkWriter:
        validate_key(key)
        return AzureUpload(
            self._azure,
            key,
            part_size=self._profile.part_size,
            overwrite=overwrite,
            journal=journal,
            concurrency=self._profile.upload_concurrency,
            replace_stale=replace_stale,
        )

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        blob = self._azure.blob(key)
        properties = self._azure.call("read", key, blob.get_blob_properties)

        def fetch(offset: int, length: int) -> bytes:
            return self._azure.call(
                "read", key, lambda: bytes(blob.download_blob(offset, length).readall())
            )

        return ranged_reader(
            int(properties.size), fetch, name=key, version=str(properties.etag or "")
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._location.blob_name("")
        names = self._azure.call(
            "list",
            prefix,
            lambda: [
                (str(b.name), int(b.size), str(b.etag or ""))
                for b in self._azure.container.list_blobs(name_starts_with=base + prefix)
            ],
        )
        for name, size, etag in sorted(names):
            key = name[len(base) :]
            if key:
                yield ObjectInfo(key, size, etag)

    def remove(self, key: str) -> None:
        validate_key(key)
        blob = self._azure.blob(key)
        try:
            self._azure.call("remove", key, blob.delete_blob)
        except ObjectNotFound:
            return

    def abort_upload(self, key: str, state: str) -> None:
        # Nothing to send: see AzureUpload.abort_remote (a commit to drop the staged
        # blocks would create a blob, which an immutability policy keeps for good).
        return

    def abort_stray_uploads(self, prefix: str) -> int:
        # Blocks staged by an upload no journal names are never committed, and Azure
        # drops uncommitted blocks by itself (after a week): nothing to sweep here.
        return 0

    # Unfinished writes are uncommitted blocks, invisible until committed: no temporaries.

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        return iter(())

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        return 0
