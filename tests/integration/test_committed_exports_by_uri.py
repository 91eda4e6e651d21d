"""Committed exports named by a cloud manifest URI (verify, diff, delete, retain, a
dataset's history) are reached with a storage profile the caller names, as CreateExport
reaches a destination; and the client accepts there exactly the buckets and containers
CreateExport accepts, checked before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, free_port, run_cli
from tests.servers.cloud import AzureStore, ProfileDaemon
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def azure(azurite_server: ServerProcess) -> AzureStore:
    return AzureStore(azurite_server.endpoint, azurite_server.endpoint)


@pytest.fixture
def daemon(tmp_path: Path, azure: AzureStore) -> Iterator[ProfileDaemon]:
    # The container is reached through the profile alone: the daemon has no default
    # Azure credentials.
    daemon = ProfileDaemon(
        root=tmp_path / "d", profiles={"blob": azure.profile}, environment=azure.environment
    )
    daemon.start()
    generate(daemon.sources / "events.parquet", 500, seed=4)
    yield daemon
    daemon.stop(timeout=20)


def _export(daemon: ProfileDaemon, client: ExportClient, to: str) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=to,
        dataset="events",
        storage_profile="blob",
    )
    finished = client.wait(client.create(spec).id, timeout=60)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    return finished


def test_an_azure_manifest_uri_is_verified_diffed_and_deleted_with_a_profile(
    daemon: ProfileDaemon, azure: AzureStore
) -> None:
    with ExportClient(daemon.address, timeout=60) as client:
        first = _export(daemon, client, azure.root_uri)
        second = _export(daemon, client, azure.root_uri)
        report = client.verify(first.manifest_uri, storage_profile="blob")
        assert report.ok and report.chunks_checked >= 1
        diff = client.diff(first.manifest_uri, second.manifest_uri, storage_profile="blob")
        assert diff.unchanged >= 1
        history = client.dataset_exports(azure.root_uri, "events", storage_profile="blob")
        assert [e.export_id for e in history] == [first.id, second.id]

    verified = run_cli(daemon, "export", "verify", second.manifest_uri, "--storage-profile", "blob")
    assert verified.returncode == 0, verified.stderr
    assert f"export {second.id}: ok" in verified.stdout
    deleted = run_cli(daemon, "export", "delete", second.manifest_uri, "--storage-profile", "blob")
    assert deleted.returncode == 0, deleted.stderr
    stored = azure.keys()
    assert not [k for k in stored if f"/{second.id}/" in k]
    assert [k for k in stored if f"/{first.id}/" in k]  # nothing else went


def test_a_profile_that_does_not_fit_is_the_callers_invalid_argument(
    daemon: ProfileDaemon, azure: AzureStore
) -> None:
    manifest = f"{azure.root_uri}/events/e1/manifest.json"
    for profile, says in (("nope", "unknown storage profile 'nope'"),):
        result = run_cli(daemon, "export", "verify", manifest, "--storage-profile", profile)
        assert result.returncode != 0
        (line,) = result.stderr.strip().splitlines()
        assert says in line and "INVALID_ARGUMENT" in line, line


@pytest.mark.parametrize(
    ("bucket", "says"),
    [
        ("Legacy_Bucket", "invalid S3 bucket name"),
        ("arn:aws:s3:us-east-1:123456789012:accesspoint:reports", "access point ARNs"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "delete"])
def test_verify_and_delete_accept_the_buckets_create_export_accepts_before_sending(
    bucket: str, says: str, command: str
) -> None:
    """Refused by the client with CreateExport's own words, without a daemon: no server
    listens at the address given (the daemon refuses such names for an export too)."""
    nobody = Daemon(root=Path("/nonexistent"), port=free_port())
    result = run_cli(nobody, "export", command, f"s3://{bucket}/exports/events/e1/manifest.json")
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert says in line, line
    assert bucket not in line  # never repeated: such a segment may be a key
