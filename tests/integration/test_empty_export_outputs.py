"""An export with no records (a --where matching nothing) read back: the outputs carry
its columns. `get-records --format arrow` and `read --format parquet` wrote 0-byte files,
which Arrow and Parquet readers refuse, and `read --format csv` a file without its
header. A real daemon and the real CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest

pytestmark = pytest.mark.integration

COLUMNS = ["id", "name", "at", "tags", "score"]


@pytest.fixture
def empty_export(daemon: Daemon) -> dict[str, str]:
    source = daemon.sources / "t.parquet"
    daemon.sources.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "id": [1, 2],
            "name": ["a", "b"],
            "at": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
            "tags": [["x"], []],
            "score": [0.5, 1.5],
        }
    ).write_parquet(source)
    created = run_cli(
        daemon,
        *["export", "create", "--source", str(source), "--to", str(daemon.exports)],
        *["--dataset", "empty", "--where", "id < 0", "--wait", "--json"],
    )
    assert created.returncode == 0, created.stderr
    export: dict[str, str] = json.loads(created.stdout)
    assert export["state"] == "succeeded" and int(export.get("records", 0)) == 0, export
    return export


def test_get_records_as_arrow_writes_the_schema(
    daemon: Daemon, empty_export: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "e.arrows"
    got = run_cli(
        daemon, "export", "get-records", empty_export["id"], "--format", "arrow", "-o", str(out)
    )
    assert got.returncode == 0, got.stderr
    with pa.ipc.open_stream(out) as reader:
        table = reader.read_all()
    assert table.num_rows == 0 and table.schema.names == COLUMNS
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")


def test_read_as_parquet_and_csv_writes_the_schema_and_the_header(
    daemon: Daemon, empty_export: dict[str, str], tmp_path: Path
) -> None:
    manifest = empty_export["manifest_uri"]
    parquet, csv = tmp_path / "e.parquet", tmp_path / "e.csv"
    for fmt, out in (("parquet", parquet), ("csv", csv)):
        got = run_cli(daemon, "export", "read", manifest, "--format", fmt, "-o", str(out))
        assert got.returncode == 0, got.stderr
    table = pq.read_table(parquet)
    assert table.num_rows == 0 and table.schema.names == COLUMNS
    # The manifest's types, as the export wrote them (Parquet names a list's items
    # "element").
    written = {f["name"]: f["type"] for f in load_manifest(manifest)["schema"]}
    read = {f.name: str(f.type).replace("<element: ", "<item: ") for f in table.schema}
    assert read == written
    assert written["id"] == "int64"
    assert csv.read_text() == ",".join(COLUMNS) + "\n"
