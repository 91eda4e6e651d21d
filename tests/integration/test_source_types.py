"""Source values and types through a real daemon: a CSV cell is null only when it is an
unquoted empty cell ("NA" is Namibia, "NaN" a float), and a Parquet, Arrow IPC or DoPut
source whose column has a type Polars cannot read (a fixed-offset zone such as "+05:30",
a decimal of more than 38 digits) is refused at CreateExport naming the column and its
type, never INTERNAL nor a failure after the export started."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import read_export

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


def _offset_table() -> pa.Table:
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    at = [dt.datetime(2024, 5, 1, 12, tzinfo=zone), dt.datetime(2024, 5, 2, 8, tzinfo=zone)]
    return pa.table({"id": [1, 2], "at": pa.array(at, pa.timestamp("us", "+05:30"))})


@pytest.mark.parametrize("suffix", ["parquet", "arrow"])
def test_a_fixed_offset_zone_is_refused_naming_the_column(
    world: tuple[Daemon, ExportClient], suffix: str
) -> None:
    daemon, client = world
    source = daemon.sources / f"offset.{suffix}"
    if suffix == "parquet":
        pq.write_table(_offset_table(), source)
    else:
        feather.write_feather(_offset_table(), str(source), compression="uncompressed")
    details = _refused(client, _spec(daemon, source, f"offset-{suffix}"))
    assert "spec.source.uri" in details
    assert "'at'" in details and "+05:30" in details
    # The daemon still answers.
    assert client.list() is not None


def test_a_put_with_a_fixed_offset_zone_is_refused_naming_the_column(
    world: tuple[Daemon, ExportClient],
) -> None:
    daemon, client = world
    batch = pa.record_batch(
        {"id": [1, 2], "at": pa.array([0, 1_700_000_000_000_000], pa.timestamp("us", "-03:30"))}
    )
    spec = ExportClient.build_spec(source="", to=str(daemon.exports), dataset="put-offset")
    spec.ClearField("source")
    with pytest.raises(InvalidArgumentError) as caught:
        client.put(spec, iter([batch]))
    assert "spec.source.uri" in str(caught.value)
    assert "'at'" in str(caught.value) and "-03:30" in str(caught.value)


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
