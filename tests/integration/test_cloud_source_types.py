"""Column types of S3 source files (moto), end to end through a real daemon.

CreateExport reads a cloud glob's first file only (a ranged read per file is too slow for
a long glob): its type Polars cannot hold (a decimal of more than 38 digits) is refused
there, a later file's fails the run before any row is read, so before any chunk is
written (it failed once the file's rows were reached, after the chunks of the files
before it). A fixed-offset zone ("+05:30", as pandas writes) exports as the same
instants in UTC."""

from __future__ import annotations

import decimal
import io
import uuid
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.integration.helpers import load_manifest, read_export
from tests.servers.cloud import ProfileDaemon
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration

_BIG = decimal.Decimal("1234567890123456789012345678901234567890")


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, moto_server: ServerProcess
) -> Iterator[ProfileDaemon]:
    suffix = uuid.uuid4().hex[:8]
    running = ProfileDaemon(
        root=tmp_path_factory.mktemp("cloud-types") / "d",
        profiles={
            "lake": {
                "kind": "s3",
                "region": "us-east-1",
                "endpoint_url": moto_server.endpoint,
                "access_key_id_ref": f"env:TEST_TYPES_KEY_{suffix}",
                "secret_access_key_ref": f"env:TEST_TYPES_SECRET_{suffix}",
            }
        },
        environment={
            f"TEST_TYPES_KEY_{suffix}": MOTO_KEY_ID,
            f"TEST_TYPES_SECRET_{suffix}": MOTO_SECRET,
        },
    )
    running.start()
    yield running
    running.stop(timeout=20)


def _upload(moto_server: ServerProcess, tables: dict[str, pa.Table]) -> str:
    bucket = new_bucket(moto_server.endpoint)
    client = s3_client(moto_server.endpoint)
    for key, table in tables.items():
        body = io.BytesIO()
        pq.write_table(table, body)
        client.put_object(Bucket=bucket, Key=key, Body=body.getvalue())
    return bucket


def _spec(daemon: ProfileDaemon, source: str, dataset: str, **options: object) -> pb.ExportSpec:
    values: dict[str, object] = {"source": source, "source_profile": "lake"}
    values.update(to=str(daemon.exports), dataset=dataset, format="parquet", **options)
    return ExportClient.build_spec(**values)  # type: ignore[arg-type]


def _decimals(first_id: int, rows: int, wide: bool) -> pa.Table:
    ids = list(range(first_id, first_id + rows))
    values = (
        pa.array([_BIG] * rows, pa.decimal256(45, 0))
        if wide
        else pa.array(ids, pa.decimal128(9, 0))
    )
    return pa.table({"id": ids, "d": values})


def test_an_s3_glob_whose_later_file_has_a_decimal256_fails_before_any_chunk(
    daemon: ProfileDaemon, moto_server: ServerProcess
) -> None:
    bucket = _upload(
        moto_server,
        {
            "in/a.parquet": _decimals(0, 1_000, wide=False),
            "in/b.parquet": _decimals(1_000, 10, wide=True),
        },
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(
            _spec(daemon, f"s3://{bucket}/in/*.parquet", "later", chunk_rows=100)
        ).id
        with pytest.raises(ExportFailedError) as failed:
            client.wait(export_id, timeout=120)
        # Left out, every file's other columns export.
        spec = _spec(daemon, f"s3://{bucket}/in/*.parquet", "later-ids", columns=["id"])
        done = client.wait(client.create(spec).id, timeout=120)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION" and not error.transient, error
    assert f"s3://{bucket}/in/b.parquet" in error.message, error.message
    assert "'d'" in error.message and "decimal256(45, 0)" in error.message, error.message
    assert failed.value.export.progress.chunks == 0
    assert not list((daemon.exports / "later").rglob("part-*")), "no chunk is written"
    assert read_export(done.manifest_uri)["id"].to_list() == list(range(1_010))


def test_an_s3_source_whose_first_file_has_a_decimal256_is_refused_at_create(
    daemon: ProfileDaemon, moto_server: ServerProcess
) -> None:
    bucket = _upload(moto_server, {"in/a.parquet": _decimals(0, 2, wide=True)})
    with ExportClient(daemon.address) as client, pytest.raises(InvalidArgumentError) as refused:
        client.create(_spec(daemon, f"s3://{bucket}/in/*.parquet", "first"))
    message = str(refused.value)
    assert "spec.source.uri" in message and f"s3://{bucket}/in/a.parquet" in message, message
    assert "'d'" in message and "decimal256(45, 0)" in message, message


def test_an_s3_glob_with_fixed_offset_zones_exports_the_same_instants_in_utc(
    daemon: ProfileDaemon, moto_server: ServerProcess
) -> None:
    """The first file's +02:00 Polars alone reads as Etc/GMT-2, the second's +05:30 it
    cannot read at all: one UTC column of the same instants."""
    instants = [0, 1_700_000_000_123_456, -3_600_000_000]
    tables = {
        f"in/{name}.parquet": pa.table(
            {"id": [n, n + 1, n + 2], "at": pa.array(instants, pa.timestamp("us", zone))}
        )
        for name, zone, n in (("a", "+02:00", 0), ("b", "+05:30", 3))
    }
    bucket = _upload(moto_server, tables)
    with ExportClient(daemon.address) as client:
        spec = _spec(daemon, f"s3://{bucket}/in/*.parquet", "offsets")
        done = client.wait(client.create(spec).id, timeout=120)
    exported = read_export(done.manifest_uri)
    assert exported.schema["at"] == pl.Datetime("us", "UTC")
    assert exported["id"].to_list() == list(range(6))
    assert exported["at"].dt.epoch("us").to_list() == instants + instants
    schema = {f["name"]: f["type"] for f in load_manifest(done.manifest_uri)["schema"]}
    assert schema["at"] == "timestamp[us, tz=UTC]", schema
