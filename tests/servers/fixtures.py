"""Session fixtures for real storage servers; test modules import the ones they use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from azure.storage.blob import BlobServiceClient

from tests.servers.processes import (
    ServerProcess,
    azurite_connection_string,
    start_azurite,
    start_moto,
)

MOTO_KEY_ID = "testing-key"
MOTO_SECRET = "testing-secret"  # moto accepts any credentials


@pytest.fixture(scope="session")
def moto_server() -> Iterator[ServerProcess]:
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[ServerProcess]:
    server = start_azurite()
    yield server
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=MOTO_KEY_ID,
        aws_secret_access_key=MOTO_SECRET,
        region_name="us-east-1",
    )


def new_bucket(endpoint: str) -> str:
    name = f"sluice-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def blob_service(endpoint: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))


def new_container(endpoint: str) -> str:
    name = f"sluice-{uuid.uuid4().hex[:16]}"
    blob_service(endpoint).create_container(name)
    return name
