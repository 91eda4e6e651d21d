"""Before its first row, the reader checks every Parquet file of a glob up to its footer
(planning reads only the first): a later file's column Polars cannot hold fails the read
before any row, naming the file; and a stopped export (its read's cancels fired) ends
that check rather than reading every footer of a long glob first. Local files and S3
objects (moto)."""

from __future__ import annotations

import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.server.errors import Interrupted
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import ResolvedSource, read_schema, resolve_source
from sluice.server.pipeline.statement_cancels import StatementCancels
from sluice.sinks.profiles import S3Profile
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess

_BIG = decimal.Decimal("1234567890123456789012345678901234567890")


def _table(first: int, wide: bool) -> pa.Table:
    values = pa.array([_BIG if wide else 1] * 3, pa.decimal256(45, 0) if wide else pa.int64())
    return pa.table({"id": pa.array(range(first, first + 3), pa.int64()), "d": values})


@pytest.fixture(params=["local", "s3"])
def glob_of(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Makes a glob of Parquet files, the last with a decimal256 when asked."""

    def make(files: int, wide_last: bool) -> ResolvedSource:
        tables = [_table(n * 3, wide_last and n == files - 1) for n in range(files)]
        if request.param == "local":
            for n, table in enumerate(tables):
                pq.write_table(table, tmp_path / f"f{n:03d}.parquet")
            return resolve_source(str(tmp_path / "*.parquet"), "", [tmp_path])
        moto: ServerProcess = request.getfixturevalue("moto_server")
        monkeypatch.setenv("T_KEY", MOTO_KEY_ID)
        monkeypatch.setenv("T_SECRET", MOTO_SECRET)
        profile = S3Profile(
            endpoint_url=moto.endpoint,
            access_key_id_ref="env:T_KEY",
            secret_access_key_ref="env:T_SECRET",
        )
        bucket = new_bucket(moto.endpoint)
        client = s3_client(moto.endpoint)
        for n, table in enumerate(tables):
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            body = sink.getvalue().to_pybytes()
            client.put_object(Bucket=bucket, Key=f"in/f{n:03d}.parquet", Body=body)
        return resolve_source(f"s3://{bucket}/in/*.parquet", "", [], profile)

    return make


def test_a_later_files_unreadable_column_fails_the_read_before_its_first_row(glob_of) -> None:  # type: ignore[no-untyped-def]
    source = glob_of(12, wide_last=True)
    schema = read_schema(source)  # the first file's: an int64 column
    with pytest.raises(SourceDataError, match=r"f011\.parquet: column 'd' has type decimal256"):
        next(read_batches(source, schema, [], 100))
    # Left out, every file's rows are read.
    rows = sum(len(f) for f in read_batches(source, schema, ["id"], 100))
    assert rows == 36


def test_a_stopped_read_checks_no_more_footers_and_reads_no_row(glob_of) -> None:  # type: ignore[no-untyped-def]
    source = glob_of(12, wide_last=False)
    schema = read_schema(source)
    cancels = StatementCancels()
    cancels.cancel_all()  # the export was stopped
    with pytest.raises(Interrupted):
        next(read_batches(source, schema, ["id", "d"], 100, cancels=cancels))
    # Not stopped, the same read reads every row.
    assert (
        sum(
            len(f)
            for f in read_batches(source, schema, ["id", "d"], 100, cancels=StatementCancels())
        )
        == 36
    )
