"""Fixed-offset zones ("+02:00") across the change that reads them as UTC.

Before it, a whole-hour offset was read (by Polars) as Etc/GMT-2 and exported with that
type. A chain whose parent was so exported keeps the type, so its increments compare
the same values (nothing looks updated), keep its key types and its parts' schema; a
new chain exports UTC. A run resuming an export whose first run read offsets the former
way (its run facts lack `offsets_utc`) reads them so too. Old exports are made here from
a source stored in Etc/GMT-2 (what the former reading gave), then the same instants are
stored as +02:00."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

_BASE = 1_700_000_000_000_000  # µs: 2023-11-14T22:13:20Z


def _write(path: Path, zone: str, rows: int) -> None:
    instants = pa.array([_BASE + i * 1_000_000 for i in range(rows)], pa.timestamp("us", zone))
    pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64()), "t": instants}), path)


def _spec(
    daemon: Daemon, dataset: str, mode: str, key: list[str], **options: object
) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(daemon.sources / f"{dataset}.parquet"), to=str(daemon.exports),
        dataset=dataset, format="parquet", incremental=pb.Incremental(mode=mode, key=key),
        **options,
    )  # fmt: skip


def _t_type(manifest: dict[str, object]) -> str:
    schema = manifest["schema"]
    assert isinstance(schema, list)
    return next(str(f["type"]) for f in schema if f["name"] == "t")


def _instants(frame: pl.DataFrame) -> list[int]:
    return frame["t"].dt.epoch("us").to_list()


@pytest.mark.parametrize("key", [["id"], ["id", "t"]])
def test_a_chain_exported_as_etc_gmt_keeps_its_type_and_finds_nothing_changed(
    daemon_factory,  # type: ignore[no-untyped-def]
    key: list[str],
) -> None:
    daemon: Daemon = daemon_factory("chain")
    daemon.sources.mkdir(parents=True, exist_ok=True)
    daemon.start()
    rows = 1_000
    source = daemon.sources / "ds.parquet"
    with ExportClient(daemon.address) as client:
        _write(source, "Etc/GMT-2", rows)
        parent = client.wait(client.create(_spec(daemon, "ds", "full", key)).id, timeout=300)
        assert _t_type(load_manifest(parent.manifest_uri)) == "timestamp[us, tz=Etc/GMT-2]"
        _write(source, "+02:00", rows)
        child = client.wait(client.create(_spec(daemon, "ds", "incremental", key)).id, timeout=300)
        manifest = load_manifest(child.manifest_uri)
        assert manifest["incremental"]["changes"] == {
            "inserted": 0, "updated": 0, "deleted": 0, "unchanged": rows,
        }  # fmt: skip
        assert _t_type(manifest) == "timestamp[us, tz=Etc/GMT-2]"
        assert "keeps the type its parent" in daemon.log_tail(400)
        # A row changed later is sent in the chain's type, its instant as it was.
        table = pq.read_table(source)
        moved = pa.array(
            [_BASE + (i + (i == 7)) * 1_000_000 for i in range(rows)], pa.timestamp("us", "+02:00")
        )
        pq.write_table(table.set_column(1, "t", moved), source)
        third = client.create(_spec(daemon, "ds", "incremental", key))
        third = client.wait(third.id, timeout=300)
        sent = read_export(third.manifest_uri)
        assert sent["t"].dtype == pl.Datetime("us", "Etc/GMT-2")
        assert sent["id"].to_list() == [7] and _instants(sent) == [_BASE + 8_000_000]


def test_a_new_chain_of_a_fixed_offset_source_exports_utc(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    daemon: Daemon = daemon_factory("new-chain")
    daemon.sources.mkdir(parents=True, exist_ok=True)
    daemon.start()
    _write(daemon.sources / "ds.parquet", "+02:00", 100)
    with ExportClient(daemon.address) as client:
        first = client.wait(client.create(_spec(daemon, "ds", "full", ["id"])).id, timeout=300)
        child = client.wait(
            client.create(_spec(daemon, "ds", "incremental", ["id"])).id, timeout=300
        )
    assert _t_type(load_manifest(first.manifest_uri)) == "timestamp[us, tz=UTC]"
    assert _t_type(load_manifest(child.manifest_uri)) == "timestamp[us, tz=UTC]"
    assert load_manifest(child.manifest_uri)["incremental"]["changes"]["unchanged"] == 100
    assert _instants(read_export(first.manifest_uri)) == [_BASE + i * 1_000_000 for i in range(100)]


def test_a_keyed_export_begun_before_offsets_read_as_utc_resumes_as_it_began(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Its first run (facts without offsets_utc) read +02:00 as Etc/GMT-2: the resumed run
    does too, so its key pass matches the first run's and its chunks have one type."""
    daemon: Daemon = daemon_factory("resume", batch_rows=512, pipeline_queue_depth=2)
    daemon.sources.mkdir(parents=True, exist_ok=True)
    daemon.start()
    rows = 40_000
    source = daemon.sources / "ds.parquet"
    _write(source, "Etc/GMT-2", rows)
    spec = _spec(daemon, "ds", "full", ["id"], chunk_rows=2_000)
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    _write(source, "+02:00", rows)  # the same instants, as the former daemon read them
    with sqlite3.connect(daemon.state_dir / "jobs.sqlite3") as db:
        (text,) = db.execute(
            "SELECT facts_json FROM run_facts WHERE job_id = ?", (export_id,)
        ).fetchone()
        facts = json.loads(text)
        facts.pop("offsets_utc", None)  # as journalled before the field was
        db.execute(
            "UPDATE run_facts SET facts_json = ? WHERE job_id = ?", (json.dumps(facts), export_id)
        )
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert "resumes after chunk" in daemon.log_tail(400)
    manifest = load_manifest(finished.manifest_uri)
    assert _t_type(manifest) == "timestamp[us, tz=Etc/GMT-2]"
    exported = read_export(finished.manifest_uri)  # every chunk of one type
    assert exported["t"].dtype == pl.Datetime("us", "Etc/GMT-2")
    assert exported["id"].to_list() == list(range(rows))
    assert _instants(exported) == [_BASE + i * 1_000_000 for i in range(rows)]
