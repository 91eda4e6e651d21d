"""A daemon configured with storage profiles for moto / Azurite, and a uniform view of
the two stores for assertions (read objects, find unfinished uploads)."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.daemon import Daemon
from tests.servers.fixtures import (
    MOTO_KEY_ID,
    MOTO_SECRET,
    blob_service,
    new_bucket,
    new_container,
    s3_client,
)
from tests.servers.processes import azurite_connection_string

MiB = 1024 * 1024
PART_SIZE = 5 * MiB


@dataclass
class ProfileDaemon(Daemon):
    """A Daemon whose config file also holds [storage_profiles.NAME] tables."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def write_config(self) -> Path:
        path = super().write_config()
        tables = []
        for name, values in self.profiles.items():
            lines = [f"[storage_profiles.{name}]"]
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
            tables.append("\n".join(lines))
        path.write_text(path.read_text() + "\n" + "\n\n".join(tables) + "\n")
        return path

    def start(self, timeout: float = 30.0) -> None:
        import os

        saved = {k: os.environ.get(k) for k in self.environment}
        os.environ.update(self.environment)  # inherited by the daemon process
        try:
            super().start(timeout)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class CloudStore(Protocol):
    kind: str
    root_uri: str
    profile: dict[str, Any]
    environment: dict[str, str]

    def read(self, key: str) -> bytes: ...

    def keys(self) -> list[str]: ...

    def unfinished_uploads(self) -> list[str]: ...

    def stored_parts(self) -> dict[str, int]:
        """Parts (blocks) the store holds per unfinished upload, by key under the root."""
        ...


class S3Store:
    kind = "s3"

    def __init__(self, server_endpoint: str, client_endpoint: str) -> None:
        self.bucket = new_bucket(server_endpoint)
        self.client = s3_client(server_endpoint)
        self.root_uri = f"s3://{self.bucket}/exports"
        self.environment = {"TEST_S3_KEY": MOTO_KEY_ID, "TEST_S3_SECRET": MOTO_SECRET}
        self.profile = {
            "kind": "s3",
            "endpoint_url": client_endpoint,
            "access_key_id_ref": "env:TEST_S3_KEY",
            "secret_access_key_ref": "env:TEST_S3_SECRET",
            "part_size": PART_SIZE,
        }

    def read(self, key: str) -> bytes:
        return bytes(
            self.client.get_object(Bucket=self.bucket, Key=f"exports/{key}")["Body"].read()
        )

    def keys(self) -> list[str]:
        reply = self.client.list_objects_v2(Bucket=self.bucket, Prefix="exports/")
        return [item["Key"].removeprefix("exports/") for item in reply.get("Contents", [])]

    def unfinished_uploads(self) -> list[str]:
        reply = self.client.list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in reply.get("Uploads", [])]

    def stored_parts(self) -> dict[str, int]:
        parts = {}
        for upload in self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            try:
                listed = self.client.list_parts(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            except self.client.exceptions.NoSuchUpload:
                continue  # completed or aborted since it was listed: no longer open
            parts[upload["Key"].removeprefix("exports/")] = len(listed.get("Parts", []))
        return parts


class AzureStore:
    kind = "azure"

    def __init__(self, server_endpoint: str, client_endpoint: str) -> None:
        self.container_name = new_container(server_endpoint)
        self.container = blob_service(server_endpoint).get_container_client(self.container_name)
        self.root_uri = f"az://{self.container_name}/exports"
        variable = f"TEST_AZURE_{uuid.uuid4().hex[:8]}"
        self.environment = {variable: azurite_connection_string(client_endpoint)}
        self.profile = {
            "kind": "azure",
            "connection_string_ref": f"env:{variable}",
            "part_size": PART_SIZE,
        }

    def read(self, key: str) -> bytes:
        return bytes(self.container.get_blob_client(f"exports/{key}").download_blob().readall())

    def keys(self) -> list[str]:
        return [b.name.removeprefix("exports/") for b in self.container.list_blobs("exports/")]

    def unfinished_uploads(self) -> list[str]:
        return [f"exports/{key}" for key in self.stored_parts()]

    def stored_parts(self) -> dict[str, int]:
        parts = {}
        for blob in self.container.list_blobs("exports/", include=["uncommittedblobs"]):
            uncommitted = self.container.get_blob_client(blob.name).get_block_list("uncommitted")
            if uncommitted[1]:
                parts[blob.name.removeprefix("exports/")] = len(uncommitted[1])
        return parts


def read_manifest(store: CloudStore, manifest_uri: str) -> dict[str, Any]:
    key = manifest_uri.removeprefix(store.root_uri + "/")
    return dict(json.loads(store.read(key)))


def read_chunks(store: CloudStore, manifest: dict[str, Any], folder: str) -> list[bytes]:
    return [store.read(f"{folder}/{chunk['path']}") for chunk in manifest["chunks"]]


def as_stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
