"""Role credentials through a real daemon: an S3 profile with web identity (IRSA) assumes
its role through moto's STS and exports end to end signed only with the role's keys; an
unreadable token and an Azure managed identity with no identity endpoint fail at once as
FAILED_PRECONDITION (the daemon's storage credentials, not the caller's: UNAUTHENTICATED
would blame the caller), naming the cause and the URI once, with one attempt and no
retries."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import grpc
import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, FailedPreconditionError
from sluice.client.demo_data import generate
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.v1 import export_pb2 as pb
from tests.servers.cloud import ProfileDaemon
from tests.servers.fault_proxy import FaultProxy
from tests.servers.fixtures import new_bucket, s3_client
from tests.servers.identity import IdentityEndpoint
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration
ROLE = "arn:aws:iam::123456789012:role/sluice-exporter"
#: Keys in the daemon's environment that the default AWS chain would pick: a web identity
#: profile must never fall back to them.
ENVIRONMENT_KEY = "AKIAENVIRONMENTKEY00"


@pytest.fixture
def proxy(moto_server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.port) as running:
        yield running


@pytest.fixture
def identity_endpoint() -> Iterator[IdentityEndpoint]:
    running = IdentityEndpoint(answer=False).start()
    yield running
    running.stop()


@pytest.fixture
def daemon(
    tmp_path: Path,
    proxy: FaultProxy,
    identity_endpoint: IdentityEndpoint,
) -> Iterator[ProfileDaemon]:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.a-projected-service-account-token.sig\n")
    irsa = {
        "kind": "s3",
        "endpoint_url": proxy.endpoint,
        "sts_endpoint_url": proxy.endpoint,
        "role_arn": ROLE,
        "web_identity_token_file": str(token),
        "role_session_name": "sluice-test",
    }
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        profiles={
            "irsa": irsa,
            "irsa-no-token": {**irsa, "web_identity_token_file": str(tmp_path / "no-token")},
            # A real account's shape: the SDK sends bearer tokens over https only, so the
            # store is never reached without a token, and this one is never issued.
            "managed": {
                "kind": "azure",
                "account_name": "sluiceexample",
                "use_managed_identity": True,
                "managed_identity_client_id": "00000000-0000-0000-0000-00000000c1d0",
            },
        },
        environment={
            "AWS_ACCESS_KEY_ID": ENVIRONMENT_KEY,
            "AWS_SECRET_ACCESS_KEY": "environment-secret",
            # azure-identity's documented override of the IMDS address.
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": identity_endpoint.url,
        },
    )
    daemon.start()
    generate(daemon.sources / "events.parquet", 3_000, seed=5)
    yield daemon
    daemon.stop(timeout=20)


def _final(daemon: ProfileDaemon, spec: pb.ExportSpec) -> pb.Export:
    with ExportClient(daemon.address) as client:
        try:
            return client.wait(client.create(spec).id, timeout=60)
        except ExportFailedError as failed:
            return failed.export


def test_web_identity_profile_reads_and_writes_s3_as_the_assumed_role(
    daemon: ProfileDaemon, proxy: FaultProxy, moto_server: ServerProcess
) -> None:
    bucket = new_bucket(moto_server.endpoint)
    source = pl.read_parquet(daemon.sources / "events.parquet")
    buffer = io.BytesIO()
    source.write_parquet(buffer)
    s3_client(moto_server.endpoint).put_object(
        Bucket=bucket, Key="in/events.parquet", Body=buffer.getvalue()
    )
    spec = ExportClient.build_spec(
        source=f"s3://{bucket}/in/*.parquet",
        source_profile="irsa",
        to=f"s3://{bucket}/exports",
        storage_profile="irsa",
        dataset="events",
        format="parquet",
    )
    finished = _final(daemon, spec)

    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    key = finished.manifest_uri.removeprefix(f"s3://{bucket}/")
    folder = key.rpartition("/")[0]
    client = s3_client(moto_server.endpoint)
    chunks = [
        pl.read_parquet(io.BytesIO(client.get_object(Bucket=bucket, Key=k)["Body"].read()))
        for k in sorted(
            o["Key"]
            for o in client.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]
            if o["Key"].endswith(".parquet")
        )
    ]
    assert pl.concat(chunks).equals(source)
    # Every request was signed with keys STS issued for the role and session, none other.
    assert proxy.actions["AssumeRoleWithWebIdentity"] >= 1
    assert ENVIRONMENT_KEY not in proxy.signing_keys
    for access_key in proxy.signing_keys:
        sts = boto3.client(
            "sts",
            endpoint_url=moto_server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key="unchecked-by-moto",
        )
        arn = sts.get_caller_identity()["Arn"]
        assert arn == "arn:aws:sts::123456789012:assumed-role/sluice-exporter/sluice-test"


def _fails_for_the_daemons_credentials(daemon: ProfileDaemon, to: str, profile: str) -> str:
    """The message of an export to `to` that failed as FAILED_PRECONDITION, permanently
    and without a single retry, naming the destination once."""
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=to,
        storage_profile=profile,
        dataset="events",
    )
    finished = _final(daemon, spec)
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "FAILED_PRECONDITION", finished.error
    assert not finished.error.transient
    assert finished.error.message.count(to) == 1, finished.error.message
    assert "storage credentials" in finished.error.message
    assert "retrying" not in daemon.log_tail(200)
    return str(finished.error.message)


def test_an_unreadable_web_identity_token_is_the_daemons_failed_precondition(
    daemon: ProfileDaemon, proxy: FaultProxy, moto_server: ServerProcess
) -> None:
    to = f"s3://{new_bucket(moto_server.endpoint)}/exports"
    message = _fails_for_the_daemons_credentials(daemon, to, "irsa-no-token")

    assert "cannot read web_identity_token_file" in message
    assert "no-token" in message
    assert proxy.actions["AssumeRoleWithWebIdentity"] == 0
    assert proxy.signing_keys == {}  # nothing reached the store unsigned or otherwise signed


def test_managed_identity_without_an_identity_endpoint_is_a_failed_precondition_at_once(
    daemon: ProfileDaemon, identity_endpoint: IdentityEndpoint
) -> None:
    container = "exports-container"
    message = _fails_for_the_daemons_credentials(daemon, f"az://{container}/exports", "managed")

    assert "ManagedIdentityCredential" in message
    assert f"az://{container}/exports" in message
    # One token request, for the storage audience and the profile's identity; no retries.
    ((path, query, _headers),) = identity_endpoint.requests
    assert path == "/metadata/identity/oauth2/token"
    assert query["client_id"] == "00000000-0000-0000-0000-00000000c1d0"
    assert query["resource"] == "https://storage.azure.com"

    # As a source, the same failure refuses the export at create time.
    with ExportClient(daemon.address) as client:
        source = ExportClient.build_spec(
            source=f"az://{container}/in/*.parquet",
            source_profile="managed",
            to=str(daemon.exports),
            dataset="events",
        )
        with pytest.raises(FailedPreconditionError, match="ManagedIdentityCredential") as caught:
            client.create(source)
        assert caught.value.message.count(f"az://{container}/in") == 1, caught.value.message


def test_list_flights_answers_the_daemons_missing_credentials_never_hides_the_export(
    daemon: ProfileDaemon, moto_server: ServerProcess, tmp_path: Path
) -> None:
    """ListFlights leaves out an export DoGet cannot serve (its format, its recipients);
    an export it cannot reach because the daemon's storage credentials are gone is the
    daemon's FAILED_PRECONDITION, not a list without it."""
    to = f"s3://{new_bucket(moto_server.endpoint)}/exports"
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=to,
        storage_profile="irsa",
        dataset="events",
    )
    finished = _final(daemon, spec)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    with daemon.channel() as channel:
        flights = list(Flight_pb2_grpc.FlightServiceStub(channel).ListFlights(fl.Criteria()))
    assert len(flights) == 1

    (tmp_path / "token").unlink()  # the profile's credentials can no longer be obtained
    daemon.stop(timeout=20)
    daemon.start()
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        list(Flight_pb2_grpc.FlightServiceStub(channel).ListFlights(fl.Criteria(), timeout=60))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    assert "storage credentials" in (caught.value.details() or "")
