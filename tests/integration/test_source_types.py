"""Source values and types through a real daemon: a CSV cell is null only when it is an
unquoted empty cell ("NA" is Namibia, "NaN" a float); a fixed-offset zone ("+05:30", as
pandas writes) of any source exports as the same instants in UTC; and a Parquet or Arrow
IPC file whose column has a type Polars cannot read (a decimal of more than 38 digits)
is refused naming the file, the column and its type, never INTERNAL nor a failure after
chunks were written: the first of a glob at CreateExport, a later one by the run before
its first row."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("source-types") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _spec(daemon: Daemon, source: Path | str, dataset: str, **options: object) -> pb.ExportSpec:
    values: dict[str, object] = {"source": str(source), "to": str(daemon.exports)}
    values.update(dataset=dataset, **options)
    return ExportClient.build_spec(**values)  # type: ignore[arg-type]


def _refused(client: ExportClient, spec: pb.ExportSpec) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        client.create(spec)
    return str(caught.value)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_csv_cells_are_null_only_when_empty_and_unquoted(
    world: tuple[Daemon, ExportClient], fmt: str
) -> None:
    daemon, client = world
    source = daemon.sources / f"countries-{fmt}.csv"
    source.write_text(
        "id,country,note,ratio\n"
        "1,NA,N/A,NaN\n"
        "2,DE,null,1.5\n"
        "3,FR,nan,nan\n"
        "4,NL,#N/A,-NaN\n"
        '5,BE,"",2.0\n'
        "6,,,\n"
    )
    spec = _spec(daemon, source, f"na-{fmt}", format=fmt, source_schema={"ratio": "float64"})
    done = client.wait(client.create(spec).id, timeout=120)
    rows = read_export(done.manifest_uri).rows()
    assert [r[:3] for r in rows] == [
        (1, "NA", "N/A"),
        (2, "DE", "null"),
        (3, "FR", "nan"),
        (4, "NL", "#N/A"),
        (5, "BE", ""),
        (6, None, None),
    ]
    ratios = [r[3] for r in rows]
    assert ratios[1] == 1.5 and ratios[4] == 2.0 and ratios[5] is None
    if fmt != "jsonl":  # JSON has no NaN: written as null there
        assert all(
            isinstance(v, float) and math.isnan(v) for v in (ratios[0], ratios[2], ratios[3])
        )


#: The instants of the fixed-offset tests: one in winter, one in summer, one before 1970.
_INSTANTS = [
    dt.datetime(2024, 1, 15, 23, 30, tzinfo=UTC),
    dt.datetime(2024, 7, 1, 0, 15, 30, 123456, tzinfo=UTC),
    dt.datetime(1969, 12, 31, 20, 0, tzinfo=UTC),
]

#: The same, to the millisecond.
_IN_MS = [i.replace(microsecond=i.microsecond // 1000 * 1000) for i in _INSTANTS]


def _offset_table(zone: str, first_id: int) -> pa.Table:
    """_INSTANTS as pandas writes them with datetime.timezone(timedelta(...)): a column
    zoned `zone`, and a list of them zoned "+05:45" (a zone Polars cannot parse)."""
    return pa.table(
        {
            "id": range(first_id, first_id + len(_INSTANTS)),
            "at": pa.array(_INSTANTS, pa.timestamp("us", zone)),
            "ats": pa.array([[i, None] for i in _IN_MS], pa.list_(pa.timestamp("ms", "+05:45"))),
        }
    )


def _utc_rows(first_id: int) -> list[tuple[object, ...]]:
    return [
        (first_id + n, i, [m, None]) for n, (i, m) in enumerate(zip(_INSTANTS, _IN_MS, strict=True))
    ]


@pytest.mark.parametrize("suffix", ["parquet", "arrow"])
def test_fixed_offset_zones_export_the_same_instants_in_utc(
    world: tuple[Daemon, ExportClient], suffix: str
) -> None:
    """A glob whose files pandas wrote at +02:00 (which Polars alone reads as Etc/GMT-2)
    and at +05:30 (which Polars cannot read at all): one UTC column of the same instants."""
    daemon, client = world
    folder = daemon.sources / f"offsets-{suffix}"
    folder.mkdir()
    for name, zone, first_id in (("a", "+02:00", 0), ("b", "+05:30", 3), ("c", "-03:30", 6)):
        path = folder / f"{name}.{suffix}"
        if suffix == "parquet":
            pq.write_table(_offset_table(zone, first_id), path)
        else:
            feather.write_feather(
                _offset_table(zone, first_id), str(path), compression="uncompressed"
            )
    spec = _spec(daemon, f"{folder}/*.{suffix}", f"offsets-{suffix}", format="parquet")
    done = client.wait(client.create(spec).id, timeout=120)
    read = read_export(done.manifest_uri)
    assert read.rows() == _utc_rows(0) + _utc_rows(3) + _utc_rows(6)
    assert done.progress.source_rows_total == 9  # counted, though Polars' scans panic
    schema = {f["name"]: f["type"] for f in load_manifest(done.manifest_uri)["schema"]}
    assert schema["at"] == "timestamp[us, tz=UTC]", schema
    assert schema["ats"] == "large_list<item: timestamp[ms, tz=UTC]>", schema
    # As text (JSON lines): the instants in UTC.
    spec = _spec(daemon, folder / f"b.{suffix}", f"offsets-{suffix}-jsonl", columns=["id", "at"])
    done = client.wait(client.create(spec).id, timeout=120)
    text = [row[1] for row in read_export(done.manifest_uri).rows()]
    assert text == [
        "2024-01-15T23:30:00.000000Z",
        "2024-07-01T00:15:30.123456Z",
        "1969-12-31T20:00:00.000000Z",
    ]


def test_a_put_with_a_fixed_offset_zone_exports_the_same_instants_in_utc(
    world: tuple[Daemon, ExportClient],
) -> None:
    daemon, client = world
    spec = ExportClient.build_spec(source="", to=str(daemon.exports), dataset="put-offset")
    spec.ClearField("source")
    spec.output.format = "parquet"
    done = client.put(spec, _offset_table("-03:30", 0))
    assert read_export(done["manifest_uri"]).rows() == _utc_rows(0)


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
def test_text_with_offsets_reads_as_the_same_instants_in_utc(
    world: tuple[Daemon, ExportClient], suffix: str
) -> None:
    """Text with offsets (CSV: inferred; NDJSON: typed datetime_utc) gives UTC instants,
    as the Arrow sources now do."""
    daemon, client = world
    texts = [
        "2024-01-16T05:00:00+05:30",
        "2024-06-30T20:45:30.123456-03:30",
        "1969-12-31T22:00:00+02:00",
    ]
    source = daemon.sources / f"offsets.{suffix}"
    if suffix == "csv":
        source.write_text("id,at\n" + "".join(f"{n},{t}\n" for n, t in enumerate(texts)))
        options: dict[str, object] = {}
    else:
        source.write_text("".join(f'{{"id": {n}, "at": "{t}"}}\n' for n, t in enumerate(texts)))
        options = {"source_schema": {"at": "datetime_utc"}}
    spec = _spec(daemon, source, f"offsets-{suffix}", format="parquet", **options)
    done = client.wait(client.create(spec).id, timeout=120)
    assert read_export(done.manifest_uri).rows() == [(n, i) for n, i in enumerate(_INSTANTS)]


def test_a_later_file_with_a_decimal_over_38_digits_fails_before_any_chunk_naming_it(
    world: tuple[Daemon, ExportClient],
) -> None:
    """Every file of a glob is checked before the first row is read, not only the first:
    a later file's decimal256 failed the export once its rows were reached, after the
    chunks of the files before it. The first file alone is read at CreateExport (all of
    a 100,000-file glob took longer than a client waits), the others by the run."""
    daemon, client = world
    folder = daemon.sources / "later-dec"
    folder.mkdir()
    pq.write_table(
        pa.table({"id": [0, 1], "d": pa.array([1, 2], pa.decimal128(4, 0))}), folder / "a.parquet"
    )
    big = decimal.Decimal("1234567890123456789012345678901234567890")
    pq.write_table(
        pa.table({"id": [2], "d": pa.array([big], pa.decimal256(45, 0))}), folder / "b.parquet"
    )
    export_id = client.create(_spec(daemon, f"{folder}/*.parquet", "later-dec", chunk_rows=1)).id
    with pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=120)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION" and not error.transient, error
    assert "b.parquet" in error.message and "'d'" in error.message, error.message
    assert "decimal256(45, 0)" in error.message, error.message
    assert failed.value.export.progress.chunks == 0
    assert not list((daemon.exports / "later-dec").rglob("part-*")), "no chunk is written"
    # Left out, the other columns of every file export.
    spec = _spec(daemon, f"{folder}/*.parquet", "later-dec-ids", format="parquet", columns=["id"])
    done = client.wait(client.create(spec).id, timeout=120)
    assert read_export(done.manifest_uri).rows() == [(0,), (1,), (2,)]


def test_a_decimal_over_38_digits_is_refused_and_can_be_left_out(
    world: tuple[Daemon, ExportClient],
) -> None:
    daemon, client = world
    source = daemon.sources / "dec.parquet"
    big = decimal.Decimal("1234567890123456789012345678901234567890.12345")
    pq.write_table(
        pa.table(
            {
                "id": [0, 1],
                "d256": pa.array([big, None], pa.decimal256(45, 5)),
                "d9": pa.array(
                    [decimal.Decimal("1.10"), decimal.Decimal("-99.99")], pa.decimal128(4, 2)
                ),
            }
        ),
        source,
    )
    details = _refused(client, _spec(daemon, source, "dec", format="parquet"))
    assert "spec.source.uri" in details and "'d256'" in details and "decimal256(45, 5)" in details
    assert "spec.query.columns" in details
    spec = _spec(daemon, source, "dec-left-out", format="parquet", columns=["id", "d9"])
    done = client.wait(client.create(spec).id, timeout=120)
    rows = read_export(done.manifest_uri).rows()
    assert rows == [(0, decimal.Decimal("1.10")), (1, decimal.Decimal("-99.99"))]
