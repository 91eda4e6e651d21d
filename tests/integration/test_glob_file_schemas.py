"""Globs of Parquet and CSV files, local and in S3 (moto), whose later files differ from
the first one, through a real daemon: a column that would be dropped, a column missing,
or a type that would be cut (a float 2.7 exported as 2, a number turned into text)
fails the export naming the file and the columns; widening types, a null column and
extra columns the caller left out by choosing columns are exported, checked by reading
the records back. A local CSV glob whose headers differ is refused naming the file
that differs, not the first one."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
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
    # A float column is read, and fails at its first value that is not an integer.
    assert "b.parquet: " in message and what in message and "2.7" not in message, message


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
    assert "c.parquet: column 'f' is Int64 in this file and Float64" in message, message
    assert "values would be cut or changed" in message, message


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
    assert "c.arrow: column 'v' is Float64 in this file and Int64 in the export" in message
    assert "2.7" not in message, message


@pytest.mark.parametrize("where", WHERE)
def test_later_files_narrower_only_in_form_are_exported_and_their_values_checked(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    """Nightly globs mix writers: pandas/Spark write nanoseconds where pyarrow wrote
    microseconds, pandas writes an integer column with a missing value as floats, a
    list's integers are narrower. Such a file is exported when every value converts
    exactly, and fails naming the file and column (never the value) when one would not."""
    drop = _Drop(daemon, store, where, f"pq-form-{where}")
    day = pl.datetime(2026, 12, 1, time_unit="us")
    first = pl.DataFrame({"id": [1], "n": [10], "l": [[1]]}).with_columns(ts=day)
    drop.put("a.parquet", first)
    later = pl.DataFrame(
        {"id": [2, 3], "n": [30.0, None], "l": pl.Series([[2], None], dtype=pl.List(pl.Int32))}
    ).with_columns(ts=pl.datetime(2026, 12, 2, 0, 0, 0, 5, time_unit="ns"))
    drop.put("b.parquet", later)
    out = _exported(daemon, drop.glob("parquet"), "form")
    assert out.schema["ts"] == pl.Datetime("us") and out.schema["n"] == pl.Int64
    assert out.select("id", "n", "l").to_dicts() == [
        {"id": 1, "n": 10, "l": [1]},
        {"id": 2, "n": 30, "l": [2]},
        {"id": 3, "n": None, "l": None},
    ]
    assert out["ts"][1].microsecond == 5

    cut = later.with_columns(
        ts=pl.datetime(2026, 12, 3, time_unit="ns") + pl.duration(nanoseconds=7)
    )
    drop.put("c.parquet", cut)
    message = _failure(daemon, drop.glob("parquet"), "form")
    assert "c.parquet: column 'ts' is Datetime(time_unit='ns'" in message, message
    assert "values would be cut or changed" in message and "2026" not in message, message

    drop.put("c.parquet", later.with_columns(n=pl.Series([2.5, None])))
    message = _failure(daemon, drop.glob("parquet"), "form")
    assert "c.parquet: column 'n' is Float64 in this file and Int64" in message, message
    assert "2.5" not in message, message


def test_a_later_files_schema_difference_fails_before_any_chunk_is_written(
    daemon: ProfileDaemon,
) -> None:
    drop = daemon.sources / "late-chunks"
    drop.mkdir()
    for part in range(4):
        ids = list(range(part * 1000, part * 1000 + 1000))
        pl.DataFrame({"id": ids}).write_parquet(drop / f"p{part}.parquet")
    pl.DataFrame({"id": [9999], "extra": [1]}).write_parquet(drop / "p9.parquet")
    message = _failure(daemon, str(drop / "*.parquet"), "late-chunks", chunk_rows=500)
    assert "p9.parquet: its schema differs" in message, message
    written = [p.name for p in daemon.exports.rglob("part-*") if "late-chunks" in str(p)]
    assert written == []


def test_a_later_arrow_files_column_polars_cannot_hold_fails_naming_it(
    daemon: ProfileDaemon,
) -> None:
    """A run-end encoded column (Polars cannot hold one) in a later file: read, it fails
    naming the file and column; left out, the file's other columns are still checked."""
    drop = daemon.sources / "ipc-ree"
    drop.mkdir()
    pl.DataFrame({"id": [1], "v": [10]}).write_ipc(drop / "a.arrow")

    def later(**columns: pa.Array) -> None:
        table = pa.table({"id": [2], **columns})
        with ipc.new_file(drop / "b.arrow", table.schema) as writer:
            writer.write_table(table)

    ree = pa.RunEndEncodedArray.from_arrays(pa.array([1], pa.int32()), pa.array([20]))
    later(v=ree)
    message = _failure(daemon, str(drop / "*.arrow"), "ree")
    assert "b.arrow: column 'v' has type run_end_encoded" in message, message

    later(v=pa.array([2.7]), x=ree)
    message = _failure(daemon, str(drop / "*.arrow"), "ree", columns=["id", "v"])
    assert "b.arrow: column 'v' is Float64 in this file and Int64" in message, message


@pytest.mark.parametrize("where", WHERE)
def test_a_later_files_time_beyond_the_finer_units_range_fails_naming_column_and_range(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    """Microseconds read as the plan's nanoseconds (a finer unit) lose nothing, unless a
    value is past what nanoseconds hold (1677-2262): a "9999-12-31" end-of-time marker
    failed as Polars' bare InvalidOperationError, naming neither column nor why."""
    drop = _Drop(daemon, store, where, f"pq-finer-{where}")
    first = pl.DataFrame({"id": [1]}).with_columns(ts=pl.datetime(2026, 12, 1, time_unit="ns"))
    drop.put("a.parquet", first)
    later = pl.DataFrame({"id": [2]}).with_columns(ts=pl.datetime(2026, 12, 2, time_unit="us"))
    drop.put("b.parquet", later)
    out = _exported(daemon, drop.glob("parquet"), "finer")
    assert out.schema["ts"] == pl.Datetime("ns")
    assert [v.day for v in out["ts"]] == [1, 2]

    end = pl.DataFrame({"id": [3]}).with_columns(ts=pl.datetime(9999, 12, 31, time_unit="us"))
    drop.put("c.parquet", end)
    message = _failure(daemon, drop.glob("parquet"), "finer")
    assert "c.parquet: column 'ts' is Datetime(time_unit='us'" in message, message
    assert "Datetime(time_unit='ns', time_zone=None) in the export" in message, message
    assert "1677-09-21" in message and "2262-04-11" in message, message
    assert "9999" not in message, message


@pytest.mark.parametrize("where", WHERE)
def test_a_later_csv_files_header_in_another_order_is_exported_by_name(
    daemon: ProfileDaemon, store: S3Store, where: str
) -> None:
    """The same columns in another order lose nothing: each later file is compared with
    the plan by its columns' names (later_file_schemas) and read by name, locally as in
    S3 (a local glob was refused at CreateExport, an S3 one exported)."""
    drop = _Drop(daemon, store, where, f"csv-order-{where}")
    drop.put("a.csv", "id,name,city\n1,ann,paris\n")
    drop.put("b.csv", "city,id,name\nrome,2,bob\n")
    drop.put("c.csv", "name,city,id\ncy,oslo,3\n")
    out = _exported(daemon, drop.glob("csv"), "csv-order")
    assert out.columns == ["id", "name", "city"]
    assert out.to_dicts() == [
        {"id": 1, "name": "ann", "city": "paris"},
        {"id": 2, "name": "bob", "city": "rome"},
        {"id": 3, "name": "cy", "city": "oslo"},
    ]
    # A header that differs by more than its order still fails (FAILED_PRECONDITION:
    # a local glob's at CreateExport, which reads every local header), naming the file.
    drop.put("d.csv", "id,name\n4,dan\n")
    spec = _spec(daemon, drop.glob("csv"), "csv-order")
    with ExportClient(daemon.address) as client:
        try:
            export_id = client.create(spec).id
        except FailedPreconditionError as refused:
            message = str(refused)
        else:
            with pytest.raises(ExportFailedError) as failed:
                client.wait(export_id, timeout=300)
            assert failed.value.export.error.code == "FAILED_PRECONDITION"
            message = failed.value.export.error.message
    assert "d.csv" in message and "no column 'city'" in message, message


@pytest.mark.parametrize(
    ("first", "later", "exported"),
    [
        ("1,10\n2,20\n", "3,X7\n4,40\n", ["10", "20", "X7", "40"]),
        ("1,10\n2,20\n", "3,2.5\n4,40\n", [10.0, 20.0, 2.5, 40.0]),
        ("1,2026-12-01\n2,2026-12-02\n", "3,soon\n4,2026-12-04\n", None),
    ],
    ids=["int-then-text", "int-then-float", "date-then-text"],
)
def test_a_local_csv_globs_types_come_from_every_file(
    daemon: ProfileDaemon, first: str, later: str, exported: list[object] | None
) -> None:
    """Polars infers a local CSV glob's types from every file (a code column of numbers
    with one 'X7' in a later file is text), as the reader then parses every file: typed
    from the first file alone, such a glob failed FAILED_PRECONDITION at 'X7'."""
    drop = daemon.sources / f"csv-types-{exported is None}-{first[2:4]}-{later[2:4]}"
    drop.mkdir()
    (drop / "a.csv").write_text("id,code\n" + first)
    (drop / "b.csv").write_text("id,code\n" + later)
    out = _exported(daemon, str(drop / "*.csv"), drop.name)
    codes = out["code"].to_list()
    if exported is None:  # dates and text: text, as written
        assert out.schema["code"] == pl.String
        exported = ["2026-12-01", "2026-12-02", "soon", "2026-12-04"]
    assert codes == exported


def test_a_local_csv_glob_in_another_order_takes_the_first_files_types(
    daemon: ProfileDaemon,
) -> None:
    """Polars' scan of every file refuses a later header of the same columns in another
    order: then, and only then, the first file's types are the plan's, each file read by
    name; a later value those types cannot hold fails naming the file."""
    drop = daemon.sources / "csv-order-types"
    drop.mkdir()
    (drop / "a.csv").write_text("id,code\n1,10\n")
    (drop / "b.csv").write_text("code,id\n20,2\n")
    out = _exported(daemon, str(drop / "*.csv"), "csv-order-types")
    assert out.schema["code"] == pl.Int64
    assert out.to_dicts() == [{"id": 1, "code": 10}, {"id": 2, "code": 20}]
    (drop / "c.csv").write_text("code,id\nX7,3\n")
    message = _failure(daemon, str(drop / "*.csv"), "csv-order-types")
    assert "c.csv" in message and "X7" not in message, message


def test_a_local_csv_glob_repeating_a_name_in_another_order_is_refused_naming_it(
    daemon: ProfileDaemon,
) -> None:
    """Read by name, a header that repeats a name in another order cannot say which of
    its columns is which: refused naming the file, as before any order was read."""
    drop = daemon.sources / "csv-repeated"
    drop.mkdir()
    (drop / "a.csv").write_text("a,a,b\n1,2,3\n")
    (drop / "b.csv").write_text("a,b,a\n4,6,5\n")
    spec = _spec(daemon, str(drop / "*.csv"), "repeated")
    with ExportClient(daemon.address) as client, pytest.raises(FailedPreconditionError) as refused:
        client.create(spec)
    message = str(refused.value)
    assert f"{drop / 'b.csv'}: its columns differ from the first file's" in message, message
    assert "a repeated name in another order ('a', 'b', 'a')" in message, message


@pytest.mark.parametrize(
    ("planned", "later", "inside"),
    [
        (pl.List(pl.Datetime("ns")), pl.List(pl.Datetime("us")), "'l[]'"),
        (pl.Struct({"t": pl.Datetime("ns")}), pl.Struct({"t": pl.Datetime("us")}), "'l.t'"),
    ],
    ids=["list", "struct"],
)
def test_a_later_files_nested_time_beyond_the_finer_units_range_fails_naming_its_path(
    daemon: ProfileDaemon, planned: pl.DataType, later: pl.DataType, inside: str
) -> None:
    """A list's or struct's times in microseconds, planned as nanoseconds: exported when
    within the span, else FAILED_PRECONDITION naming the file, column and path, never
    the value (was 'cannot read the rows after row 0 (InvalidOperationError; ...)')."""
    drop = daemon.sources / f"nested-finer-{type(planned).__name__.lower()}"
    drop.mkdir()

    def value(year: int) -> object:
        day = datetime.datetime(year, 12, 31)
        return [day] if isinstance(planned, pl.List) else {"t": day}

    first = pl.DataFrame({"id": [1], "l": pl.Series([value(2025)], dtype=planned)})
    first.write_parquet(drop / "a.parquet")
    fine = pl.DataFrame({"id": [2], "l": pl.Series([value(2026)], dtype=later)})
    fine.write_parquet(drop / "b.parquet")
    out = _exported(daemon, str(drop / "*.parquet"), drop.name)
    assert out.schema["l"] == planned and out["id"].to_list() == [1, 2]

    end = pl.DataFrame({"id": [3], "l": pl.Series([value(9999)], dtype=later)})
    end.write_parquet(drop / "c.parquet")
    message = _failure(daemon, str(drop / "*.parquet"), drop.name)
    assert f"{drop / 'c.parquet'}: column 'l' is {later} in this file" in message, message
    assert f"some of its times ({inside}) are outside" in message, message
    assert "9999" not in message, message
