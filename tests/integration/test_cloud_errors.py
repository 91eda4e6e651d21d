"""Cloud storage failures that retrying cannot fix end the export quickly with a message
naming the bucket and cause; profiles are checked before anything runs; and sources can
be read from a bucket with a profile."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.servers.cloud import AzureStore, ProfileDaemon, S3Store
from tests.servers.fixtures import s3_client
from tests.servers.processes import ServerProcess

pytestmark = [pytest.mark.integration]


@pytest.fixture
def s3_store(moto_server: ServerProcess) -> S3Store:
    return S3Store(moto_server.endpoint, moto_server.endpoint)


@pytest.fixture
def daemon(
    tmp_path: Path, s3_store: S3Store, azurite_server: ServerProcess
) -> Iterator[ProfileDaemon]:
    azure = AzureStore(azurite_server.endpoint, azurite_server.endpoint)
    wrong_key = azure.environment.copy()
    ((variable, connection),) = wrong_key.items()
    wrong_key = {variable: connection.replace("AccountKey=Eby8", "AccountKey=AAAA")}
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        profiles={
            "lake": s3_store.profile,
            "blob-wrong-key": {**azure.profile},
        },
        environment={**s3_store.environment, **wrong_key},
    )
    daemon.azure_container = azure.container_name  # type: ignore[attr-defined]
    daemon.start()
    generate(daemon.sources / "events.parquet", 5_000, seed=3)
    yield daemon
    daemon.stop(timeout=20)


def _export(daemon: ProfileDaemon, to: str, profile: str, **options: object) -> pb.Export:
    """The export's final state (wait() raises for failures; the error carries it)."""
    spec = ExportClient.build_spec(
        source=options.pop("source", str(daemon.sources / "events.parquet")),  # type: ignore[arg-type]
        to=to,
        dataset="events",
        storage_profile=profile,
        **options,  # type: ignore[arg-type]
    )
    with ExportClient(daemon.address) as client:
        try:
            return client.wait(client.create(spec).id, timeout=60)
        except ExportFailedError as failed:
            return failed.export


def test_missing_bucket_fails_fast_without_retries(daemon: ProfileDaemon) -> None:
    started = time.monotonic()
    finished = _export(daemon, "s3://no-such-bucket-here/exports", "lake")
    assert time.monotonic() - started < 15
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "FAILED_PRECONDITION"
    assert "bucket 'no-such-bucket-here' does not exist" in finished.error.message
    assert not finished.error.transient
    assert "retrying" not in daemon.log_tail(200)


def test_wrong_credentials_are_permission_denied(daemon: ProfileDaemon) -> None:
    container = daemon.azure_container  # type: ignore[attr-defined]
    finished = _export(daemon, f"az://{container}/exports", "blob-wrong-key")
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "PERMISSION_DENIED"
    assert f"container {container!r}" in finished.error.message
    assert "AccountKey" not in finished.error.message
    assert "retrying" not in daemon.log_tail(200)


def test_profiles_are_checked_before_the_export_starts(daemon: ProfileDaemon) -> None:
    with ExportClient(daemon.address) as client:
        for profile, field in (("nope", "spec.destination.profile"),):
            spec = ExportClient.build_spec(
                source=str(daemon.sources / "events.parquet"),
                to="s3://some-bucket/x",
                dataset="events",
                storage_profile=profile,
            )
            with pytest.raises(InvalidArgumentError, match="unknown storage profile 'nope'") as err:
                client.create(spec)
            assert err.value.violations[0].field == field
        wrong_kind = ExportClient.build_spec(
            source=str(daemon.sources / "events.parquet"),
            to="az://some-container/x",
            dataset="events",
            storage_profile="lake",
        )
        with pytest.raises(InvalidArgumentError, match="profile 'lake' is for s3"):
            client.create(wrong_kind)
        bad_bucket = ExportClient.build_spec(
            source=str(daemon.sources / "events.parquet"), to="s3://Bad_Bucket/x", dataset="e"
        )
        with pytest.raises(InvalidArgumentError, match="invalid S3 bucket name"):
            client.create(bad_bucket)


def test_source_read_from_a_bucket_with_a_profile(daemon: ProfileDaemon, s3_store: S3Store) -> None:
    client = s3_client(s3_store.client.meta.endpoint_url)
    for name in ("b.parquet", "a.parquet"):
        buffer = io.BytesIO()
        pl.read_parquet(daemon.sources / "events.parquet").write_parquet(buffer)
        client.put_object(Bucket=s3_store.bucket, Key=f"in/{name}", Body=buffer.getvalue())
    spec = ExportClient.build_spec(
        source=f"s3://{s3_store.bucket}/in/*.parquet",
        source_profile="lake",
        to=s3_store.root_uri,
        dataset="copied",
        storage_profile="lake",
        format="parquet",
    )
    with ExportClient(daemon.address) as sluice:
        finished = sluice.wait(sluice.create(spec).id, timeout=60)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert finished.progress.records == 10_000
    assert finished.manifest_uri.startswith(s3_store.root_uri)
