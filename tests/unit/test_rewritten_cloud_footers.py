"""A cloud Parquet object rewritten at the same size after planning read its footer (and
the row count and the reader's survey used the kept one): the run reads the object's
new bytes with their own footer, by column name, or fails FAILED_PRECONDITION naming
the file when they no longer hold the plan's columns, as before footers were kept;
never the new bytes with the old footer (values in other columns). S3 (moto) and Azure
(Azurite) through their real sinks."""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import ROW_INDEX, count_rows, read_schema, resolve_source
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

Put = Callable[[str, bytes], None]


def _parquet(columns: dict[str, list[int]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="none", write_statistics=False)
    return buffer.getvalue()


@pytest.fixture(params=["s3", "azure"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, S3Profile | AzureProfile, Put]:
    """The glob's root URI, its profile, and a put of an object under it."""
    if request.param == "s3":
        moto: ServerProcess = request.getfixturevalue("moto_server")
        monkeypatch.setenv("T_KEY", MOTO_KEY_ID)
        monkeypatch.setenv("T_SECRET", MOTO_SECRET)
        profile: S3Profile | AzureProfile = S3Profile(
            endpoint_url=moto.endpoint,
            access_key_id_ref="env:T_KEY",
            secret_access_key_ref="env:T_SECRET",
        )
        bucket = new_bucket(moto.endpoint)
        client = s3_client(moto.endpoint)

        def put_s3(key: str, data: bytes) -> None:
            client.put_object(Bucket=bucket, Key=key, Body=data)

        return f"s3://{bucket}", profile, put_s3
    azurite: ServerProcess = request.getfixturevalue("azurite_server")
    monkeypatch.setenv("T_AZURE", azurite_connection_string(azurite.endpoint))
    container = new_container(azurite.endpoint)
    blobs = blob_service(azurite.endpoint).get_container_client(container)

    def put_azure(key: str, data: bytes) -> None:
        blobs.upload_blob(key, data, overwrite=True)

    return f"az://{container}", AzureProfile(connection_string_ref="env:T_AZURE"), put_azure


def _planned_then_rewritten(
    store: tuple[str, S3Profile | AzureProfile, Put], rewritten: bytes
) -> tuple[Callable[[], pl.DataFrame], pl.Schema]:
    """A glob of two objects planned (footers kept: schema, row count, survey), then its
    second object rewritten with `rewritten`; the read of the glob, and the plan."""
    root, profile, put = store
    first = _parquet({"amount": [0], "refund": [5]})
    second = _parquet({"amount": [1, 2, 3], "refund": [10, 20, 30]})
    assert len(rewritten) == len(second)  # the same size: only the version tells
    put("in/a.parquet", first)
    put("in/b.parquet", second)
    source = resolve_source(f"{root}/in/*.parquet", "", [], profile)
    schema = read_schema(source)
    assert count_rows(source) == 4  # every footer read, and kept
    put("in/b.parquet", rewritten)

    def read() -> pl.DataFrame:
        frames = read_batches(source, schema, ["amount", "refund"], 100)
        return pl.concat(list(frames)).drop(ROW_INDEX)

    return read, schema


def test_an_object_rewritten_in_another_column_order_is_read_by_name(
    store: tuple[str, S3Profile | AzureProfile, Put],
) -> None:
    rewritten = _parquet({"refund": [10, 20, 30], "amount": [1, 2, 3]})
    read, _ = _planned_then_rewritten(store, rewritten)
    assert read().to_dict(as_series=False) == {"amount": [0, 1, 2, 3], "refund": [5, 10, 20, 30]}


def test_an_object_rewritten_without_a_planned_column_fails_naming_it(
    store: tuple[str, S3Profile | AzureProfile, Put],
) -> None:
    rewritten = _parquet({"amount": [1, 2, 3], "refunz": [10, 20, 30]})
    read, _ = _planned_then_rewritten(store, rewritten)
    with pytest.raises(FailedPrecondition) as failed:
        read()
    message = str(failed.value)
    assert "b.parquet" in message and "refund" in message, message
