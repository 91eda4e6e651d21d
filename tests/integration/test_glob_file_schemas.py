"""Globs of Parquet and CSV files, local and in S3 (moto), whose later files differ from
the first one, through a real daemon: a column that would be dropped, a column missing,
or a type that would be cut (a float 2.7 exported as 2, a number turned into text)
fails the export naming the file and the columns; widening types, a null column and
extra columns the caller left out by choosing columns are exported, checked by reading
the records back. A local CSV glob whose headers differ is refused naming the file
that differs, not the first one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, FailedPreconditionError
from sluice.v1 import export_pb2 as pb
from tests.integration.helpers import read_export
from tests.servers.cloud import ProfileDaemon, S3Store
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(moto_server: ServerProcess) -> S3Store:
    return S3Store(moto_server.endpoint, moto_server.endpoint)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, store: S3Store) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path_factory.mktemp("glob-schemas") / "d",
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start(timeout=180)
    try:
        yield daemon
    finally:
        daemon.stop(timeout=20)


def _spec(daemon: ProfileDaemon, source: str, dataset: str, **options: object) -> pb.ExportSpec:
    if source.startswith("s3://"):
        options["source_profile"] = "lake"
    return ExportClient.build_spec(  # type: ignore[arg-type]
        source=source, to=str(daemon.exports), dataset=dataset, format="parquet", **options
    )


def _failure(daemon: ProfileDaemon, source: str, dataset: str, **options: object) -> str:
    """The message of the export's FAILED_PRECONDITION."""
    spec = _spec(daemon, source, dataset, **options)
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=300)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION", error
    return error.message


def _exported(daemon: ProfileDaemon, source: str, dataset: str, **options: object) -> pl.DataFrame:
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(_spec(daemon, source, dataset, **options)).id, timeout=300)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    return read_export(done.manifest_uri).sort("id")


class _Drop:
    """A folder of files, local or under an S3 prefix, and its glob."""

    def __init__(self, daemon: ProfileDaemon, store: S3Store, where: str, name: str) -> None:
        self.daemon, self.store, self.where, self.name = daemon, store, where, name
        if where == "local":
            (daemon.sources / name).mkdir()

    def put(self, file: str, data: pl.DataFrame | str) -> None:
        if isinstance(data, str):
            body = data.encode()
        else:
            buffer = io.BytesIO()
            data.write_parquet(buffer)
            body = buffer.getvalue()
        if self.where == "local":
            (self.daemon.sources / self.name / file).write_bytes(body)
        else:
            key = f"{self.name}/{file}"
            self.store.client.put_object(Bucket=self.store.bucket, Key=key, Body=body)

    def glob(self, extension: str) -> str:
        if self.where == "local":
            return str(self.daemon.sources / self.name / f"*.{extension}")
        return f"s3://{self.store.bucket}/{self.name}/*.{extension}"


WHERE = ["local", "s3"]


@pytest.mark.parametrize("where", WHERE)
def test_a_later_parquet_files_new_column_fails_unless_columns_are_chosen(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    drop = _Drop(daemon, store, where, f"pq-extra-{where}")
    drop.put("a.parquet", pl.DataFrame({"id": [1], "v": ["a"]}))
    drop.put("b.parquet", pl.DataFrame({"id": [2], "v": ["b"], "extra": ["NEW"]}))
    message = _failure(daemon, drop.glob("parquet"), "pq")
    assert "b.parquet: its schema differs from the one the export was planned with" in message
    assert "a.parquet" in message
    assert "new column(s) 'extra', which would not be exported" in message
    assert "NEW" not in message

    out = _exported(daemon, drop.glob("parquet"), "pq", columns=["id", "v"])
    assert out.to_dicts() == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(
    ("later", "what"),
    [
        (pl.DataFrame({"id": [2], "v": [2.7]}), "column 'v' is Float64 in this file and Int64"),
        (pl.DataFrame({"id": [2], "v": ["x"]}), "column 'v' is String in this file and Int64"),
        (pl.DataFrame({"id": [2]}), "no column 'v'"),
    ],
    ids=["float", "text", "missing"],
)
def test_a_later_parquet_files_type_that_would_be_cut_fails(
    daemon: ProfileDaemon, store: S3Store, where: str, later: pl.DataFrame, what: str
) -> None:
    drop = _Drop(daemon, store, where, f"pq-{sorted(later.schema.items())[-1][1]}-{where}")
    drop.put("a.parquet", pl.DataFrame({"id": [1], "v": [1]}))
    drop.put("b.parquet", later)
    message = _failure(daemon, drop.glob("parquet"), "pq")
    assert "b.parquet: its schema differs" in message and what in message, message


@pytest.mark.parametrize("where", WHERE)
def test_a_later_parquet_files_number_in_a_text_column_fails(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    drop = _Drop(daemon, store, where, f"pq-text-{where}")
    drop.put("a.parquet", pl.DataFrame({"id": [1], "v": ["a"]}))
    drop.put("b.parquet", pl.DataFrame({"id": [2], "v": [2.5]}))
    message = _failure(daemon, drop.glob("parquet"), "pq")
    assert "column 'v' is Float64 in this file and String in the export" in message, message


@pytest.mark.parametrize("where", WHERE)
def test_later_parquet_files_of_wider_types_and_nulls_are_exported(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    drop = _Drop(daemon, store, where, f"pq-wide-{where}")
    drop.put(
        "a.parquet",
        pl.DataFrame(
            {"id": [1], "n": pl.Series([1], dtype=pl.Int64), "f": [0.5], "s": ["a"]},
        ),
    )
    drop.put(
        "b.parquet",
        pl.DataFrame(
            {
                "id": [2],
                "n": pl.Series([7], dtype=pl.Int32),
                "f": pl.Series([9_007_199_254_740_992], dtype=pl.Int64),  # 2**53: exact
                "s": pl.Series([None], dtype=pl.Null),
            }
        ),
    )
    out = _exported(daemon, drop.glob("parquet"), "wide")
    assert out.to_dicts() == [
        {"id": 1, "n": 1, "f": 0.5, "s": "a"},
        {"id": 2, "n": 7, "f": 9_007_199_254_740_992.0, "s": None},
    ]

    drop.put("c.parquet", pl.DataFrame({"id": [3], "n": [1], "f": [2**53 + 1], "s": ["c"]}))
    message = _failure(daemon, drop.glob("parquet"), "wide")
    assert "c.parquet: its schema differs" in message
    assert "column 'f' is Int64 in this file and Float64" in message, message


def test_a_later_s3_csv_files_new_column_fails_and_a_reordered_one_is_exported(
    daemon: ProfileDaemon, store: S3Store
) -> None:
    drop = _Drop(daemon, store, "s3", "csv-extra")
    drop.put("a.csv", "id,name,city\n1,ann,paris\n")
    drop.put("b.csv", "id,city,name\n2,rome,bob\n")
    out = _exported(daemon, drop.glob("csv"), "csv")
    assert out.to_dicts() == [
        {"id": 1, "name": "ann", "city": "paris"},
        {"id": 2, "name": "bob", "city": "rome"},
    ]
    drop.put("c.csv", "id,name,city,extra\n3,cy,oslo,NEW\n")
    message = _failure(daemon, drop.glob("csv"), "csv")
    assert "c.csv: its schema differs" in message, message
    assert "new column(s) 'extra'" in message and "NEW" not in message, message
    # Typing one column says nothing of leaving the others out.
    message = _failure(daemon, drop.glob("csv"), "csv", source_schema={"id": "int64"})
    assert "c.csv: its schema differs" in message, message
    assert "new column(s) 'extra'" in message, message

    out = _exported(daemon, drop.glob("csv"), "csv", columns=["id", "name"])
    assert out.to_dicts() == [
        {"id": 1, "name": "ann"},
        {"id": 2, "name": "bob"},
        {"id": 3, "name": "cy"},
    ]

    drop.put("d.csv", "id,name\n4,dan\n")
    message = _failure(daemon, drop.glob("csv"), "csv", columns=["id", "city"])
    assert "d.csv: its schema differs" in message and "no column 'city'" in message, message


def test_a_local_csv_glob_whose_headers_differ_names_the_file_that_differs(
    daemon: ProfileDaemon,
) -> None:
    drop = daemon.sources / "csv-headers"
    drop.mkdir()
    (drop / "a.csv").write_text("id,ts,v\n1,2026-12-01T01:00:00,a\n")
    (drop / "b.csv").write_text("id,ts,v\n2,2026-12-02T01:00:00,b\n")
    (drop / "c.csv").write_text("id,ts,v,extra\n3,2026-12-03T01:00:00,c,x\n")
    spec = _spec(daemon, str(drop / "*.csv"), "headers")
    with ExportClient(daemon.address) as client, pytest.raises(FailedPreconditionError) as refused:
        client.create(spec)
    message = str(refused.value)
    assert f"{Path(drop / 'c.csv')}: its columns differ from the first file's" in message
    assert "new column(s) 'extra'" in message, message


def test_a_later_arrow_files_float_in_an_integer_column_fails_and_a_narrower_one_is_exported(
    daemon: ProfileDaemon,
) -> None:
    drop = daemon.sources / "ipc"
    drop.mkdir()
    pl.DataFrame({"id": [1], "v": [1]}).write_ipc(drop / "a.arrow")
    pl.DataFrame({"id": [2], "v": pl.Series([5], dtype=pl.Int16)}).write_ipc(drop / "b.arrow")
    out = _exported(daemon, str(drop / "*.arrow"), "ipc")
    assert out.to_dicts() == [{"id": 1, "v": 1}, {"id": 2, "v": 5}]

    pl.DataFrame({"id": [3], "v": [2.7]}).write_ipc(drop / "c.arrow")
    message = _failure(daemon, str(drop / "*.arrow"), "ipc")
    assert "c.arrow: its schema differs" in message, message
    assert "column 'v' is Float64 in this file and Int64 in the export" in message, message
