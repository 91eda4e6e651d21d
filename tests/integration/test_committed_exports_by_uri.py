"""Committed exports named by a cloud manifest URI (verify, diff, delete, retain, a
dataset's history) are reached with a storage profile the caller names, as CreateExport
reaches a destination; and the client accepts there exactly the buckets and containers
CreateExport accepts, checked before anything is sent."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from sluice.client import ExportClient, InvalidArgumentError, PermissionDeniedError
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


@pytest.mark.parametrize(
    ("bucket", "says"),
    [
        ("Legacy_Bucket", "invalid S3 bucket name"),
        ("arn:aws:s3:us-east-1:123456789012:accesspoint:reports", "access point ARNs"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [("export", "retain", "--keep-last", "1"), ("export", "list", "--dataset", "events")],
)
def test_retain_and_a_datasets_history_check_dest_as_create_export_before_sending(
    bucket: str, says: str, command: tuple[str, ...]
) -> None:
    """`export retain --to DEST` and `export list --dataset --to DEST` refuse what
    CreateExport refuses, without a daemon (none listens at the address)."""
    nobody = Daemon(root=Path("/nonexistent"), port=free_port())
    args = [*command, "--to", f"s3://{bucket}/exports"]
    if command[1] == "retain":
        args += ["--dataset", "events"]
    result = run_cli(nobody, *args)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert says in line, line
    assert bucket not in line


def test_a_profile_is_authorized_before_it_is_looked_up_and_checked_beside_an_export_id(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """As CreateExport checks spec.destination.profile: a profile the principal may not
    use is PERMISSION_DENIED whether or not it exists (no existence leak), one for the
    other kind of store INVALID_ARGUMENT. Beside an export id (reached with the profile
    it was written with) a profile is still checked, never silently ignored."""
    tokens = {"alice": secrets.token_urlsafe(24), "root": secrets.token_urlsafe(24)}
    digest = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in tokens.items()}
    daemon = daemon_factory(
        "profiles",
        auth={
            "principals": [
                {
                    "name": "alice",
                    "token_sha256": digest["alice"],
                    "scopes": ["exports:create", "exports:read", "exports:delete"],
                    "profiles": ["lake", "blob"],
                    "destination_roots": ["s3://acme-exports"],
                },
                {"name": "root", "token_sha256": digest["root"], "scopes": ["admin"]},
            ]
        },
        storage_profiles={
            "lake": {"kind": "s3", "region": "us-east-1"},
            "other": {"kind": "s3", "region": "us-east-1"},
            "blob": {"kind": "azure", "account_name": "sluiceexample"},
        },
    )
    daemon.start()
    manifest = "s3://acme-exports/events/e1/manifest.json"
    cases: list[tuple[str, str, str, type[Exception], str]] = [
        ("alice", manifest, "other", PermissionDeniedError, "may not use storage profile"),
        ("alice", manifest, "nope", PermissionDeniedError, "may not use storage profile"),
        ("alice", manifest, "blob", InvalidArgumentError, "is for azure, not for s3 URIs"),
        ("alice", "e-not-in-the-store", "other", PermissionDeniedError, "may not use"),
        ("root", "e-not-in-the-store", "nope", InvalidArgumentError, "unknown storage profile"),
    ]
    for who, export, profile, error, says in cases:
        with ExportClient(daemon.address, token=tokens[who], timeout=30) as client:
            calls: list[Callable[[], object]] = [
                partial(client.verify, export, storage_profile=profile),
                partial(client.delete, export, storage_profile=profile),
                partial(client.diff, export, export, storage_profile=profile),
            ]
            for call in calls:
                with pytest.raises(error) as caught:
                    call()
                assert says in str(caught.value), (who, export, profile, call, caught.value)
