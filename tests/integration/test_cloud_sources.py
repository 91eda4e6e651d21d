"""Sources in the cloud, end to end through a real daemon: a parquet glob in an Azure
container (Azurite) named with `--source-profile`, read in byte ranges through a proxy
that also fails some requests; every record comes back exactly once, in file order."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient, FailedPreconditionError, InvalidArgumentError
from tests.integration.helpers import read_export
from tests.integration.test_cli_e2e import ok_json, sluice
from tests.servers.cloud import ProfileDaemon
from tests.servers.fault_proxy import FaultPlan, FaultProxy
from tests.servers.fixtures import blob_service, new_container
from tests.servers.processes import AZURITE_ACCOUNT, AZURITE_KEY, ServerProcess

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
ROWS_PER_FILE = 40_000  # ~10 MiB of incompressible parquet: more than one 8 MiB range


def _parquet(first_id: int, seed: int) -> bytes:
    rng = random.Random(seed)
    frame = pl.DataFrame(
        {
            "id": range(first_id, first_id + ROWS_PER_FILE),
            "payload": [rng.randbytes(128).hex() for _ in range(ROWS_PER_FILE)],
            "amount": [rng.random() for _ in range(ROWS_PER_FILE)],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=8_000)
    return buffer.getvalue()


@pytest.fixture
def proxy(azurite_server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(azurite_server.port) as running:
        yield running


@pytest.fixture
def daemon(tmp_path: Path, proxy: FaultProxy) -> Iterator[ProfileDaemon]:
    variable = f"TEST_AZURE_KEY_{uuid.uuid4().hex[:8]}"
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        # The shape of a real account's profile: name, endpoint and a key by reference.
        profiles={
            "blob": {
                "kind": "azure",
                "account_name": AZURITE_ACCOUNT,
                "account_url": f"{proxy.endpoint}/{AZURITE_ACCOUNT}",
                "account_key_ref": f"env:{variable}",
            }
        },
        environment={variable: AZURITE_KEY},
    )
    daemon.start()
    yield daemon
    daemon.stop(timeout=20)


def test_parquet_glob_in_an_azure_container_exports_every_record_once(
    daemon: ProfileDaemon, proxy: FaultProxy, azurite_server: ServerProcess
) -> None:
    name = new_container(azurite_server.endpoint)
    container = blob_service(azurite_server.endpoint).get_container_client(name)
    files = {"in/b.parquet": _parquet(ROWS_PER_FILE, 2), "in/a.parquet": _parquet(0, 1)}
    for key, data in files.items():
        container.upload_blob(key, data)
    # Not matched by in/*.parquet: another extension, a subfolder, another prefix.
    for key in ("in/notes.txt", "in/old/c.parquet", "input/d.parquet"):
        container.upload_blob(key, _parquet(10**6, 3) if key.endswith("parquet") else b"hi")
    proxy.plan = FaultPlan(unavailable=0.05, reset_after=0.03, seed=4)

    created = ok_json(
        sluice(
            daemon,
            "export",
            "create",
            "--source",
            f"az://{name}/in/*.parquet",
            "--source-profile",
            "blob",
            "--to",
            str(daemon.exports),
            "--dataset",
            "copied",
            "--format",
            "jsonl",
            "--chunk-bytes",
            "4MiB",
            "--wait",
            "--json",
            timeout=180,
        )
    )

    assert created["state"] == "succeeded", created["error"]
    exported = read_export(created["manifest_uri"])
    expected = pl.concat([pl.read_parquet(io.BytesIO(files[k])) for k in sorted(files)])
    assert exported["id"].to_list() == list(range(2 * ROWS_PER_FILE))
    assert exported.equals(expected.select(exported.columns))
    # Read in ranges of at most 8 MiB, more than one per file, never a whole object.
    reads = [r for path, r in proxy.ranged_reads if path.endswith(".parquet")]
    sizes = [int(end) - int(start) + 1 for start, end in (r[6:].split("-") for r in reads)]
    assert max(sizes) <= 8 * MiB
    assert len(reads) > 2 * len(files)
    assert sum(proxy.faults.values()) > 0, proxy.faults  # and the faults were survived
    print(f"ranged reads={len(reads)} largest={max(sizes)} faults={dict(proxy.faults)}")


def test_unreachable_cloud_sources_are_refused_at_create_with_the_cause(
    daemon: ProfileDaemon, azurite_server: ServerProcess
) -> None:
    name = new_container(azurite_server.endpoint)
    with ExportClient(daemon.address) as client:

        def create(source: str, profile: str = "blob") -> None:
            spec = ExportClient.build_spec(
                source=source, source_profile=profile, to=str(daemon.exports), dataset="x"
            )
            client.create(spec)

        with pytest.raises(FailedPreconditionError, match="container 'no-such-container'"):
            create("az://no-such-container/in/*.parquet")
        with pytest.raises(InvalidArgumentError, match="no file matches"):
            create(f"az://{name}/in/*.parquet")
        # A SAS token pasted after the glob is not echoed (a glob's '?' and a query's
        # cannot be told apart, so the message stops at the first '?').
        with pytest.raises(InvalidArgumentError, match="no file matches") as refused:
            create(f"az://{name}/in/*.parquet?sv=2024&sig=SECRETSAS")
        assert "SECRETSAS" not in str(refused.value), refused.value
        assert f"az://{name}/in/*.parquet" in str(refused.value)
        with pytest.raises(InvalidArgumentError, match="profile 'blob' is for azure"):
            create("s3://some-bucket/in/*.parquet")
    assert "retrying" not in daemon.log_tail(200)


def test_an_at_in_a_cloud_object_path_is_shown_whole(
    daemon: ProfileDaemon, azurite_server: ServerProcess
) -> None:
    """README (Cloud storage): an '@' after a valid container is part of the object path.
    A Hive key listed under a root that passed classify is named as it is, and a source
    URI holding one is taken, not refused as credentials."""
    name = new_container(azurite_server.endpoint)
    container = blob_service(azurite_server.endpoint).get_container_client(name)
    key = "users/email=joe@example.com/part-0.jsonl"
    container.upload_blob(key, b"not json\n")
    with ExportClient(daemon.address) as client:
        for source in (f"az://{name}/users/*/*.jsonl", f"az://{name}/users/email=joe@*/*.jsonl"):
            spec = ExportClient.build_spec(
                source=source, source_profile="blob", to=str(daemon.exports), dataset="x"
            )
            with pytest.raises(InvalidArgumentError) as refused:
                client.create(spec)
            message = str(refused.value)
            assert f"az://{name}/{key}" in message, message
            assert "credentials" not in message, message


def test_a_cloud_parquet_with_a_fixed_offset_zone_exports_the_same_instants_in_utc(
    daemon: ProfileDaemon, azurite_server: ServerProcess
) -> None:
    """Polars panics on a zone such as "+05:30" (a BaseException); the daemon reads it as
    the same instants in UTC."""
    name = new_container(azurite_server.endpoint)
    container = blob_service(azurite_server.endpoint).get_container_client(name)
    at = [0, 1_700_000_000_123_456]
    table = pa.table({"id": [1, 2], "at": pa.array(at, pa.timestamp("us", "+05:30"))})
    body = io.BytesIO()
    pq.write_table(table, body)
    container.upload_blob("in/offset.parquet", body.getvalue())
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=f"az://{name}/in/*.parquet",
            source_profile="blob",
            to=str(daemon.exports),
            dataset="offset",
            format="parquet",
        )
        done = client.wait(client.create(spec).id, timeout=120)
    exported = read_export(done.manifest_uri)
    assert exported.schema["at"] == pl.Datetime("us", "UTC")
    assert exported["at"].dt.epoch("us").to_list() == at
