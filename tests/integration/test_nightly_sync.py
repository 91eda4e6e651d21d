"""Nightly syncs through a real daemon: day 1 full, day 2 only what changed, day 3 nothing;
the chain continues from storage alone after the job store is wiped."""

from __future__ import annotations

import shutil
from datetime import timedelta

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration


def _sync(client: ExportClient, daemon: Daemon, mode: str, **incremental: object) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        format="parquet",
        chunk_rows=1_000,
        incremental=pb.Incremental(mode=mode, cursor="updated_at", **incremental),  # type: ignore[arg-type]
    )
    return client.wait(client.create(spec).id, timeout=120)


def test_nightly_sync_sends_only_changes_and_survives_a_lost_job_store(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    daemon = daemon_factory("nightly")
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 4_000, seed=21)
    day1_rows = pl.read_parquet(source)

    with ExportClient(daemon.address) as client:
        day1 = _sync(client, daemon, "full")
    m1 = load_manifest(day1.manifest_uri)
    assert m1["totals"]["records"] == 4_000 and m1["parent_export_id"] is None
    assert m1["watermark"]["column"] == "updated_at"
    high = day1_rows["updated_at"].max()
    assert m1["watermark"]["value"] == high.isoformat()  # type: ignore[union-attr]

    # Day 2: 100 rows updated, 50 inserted, all stamped after the watermark.
    later = high + timedelta(hours=1)  # type: ignore[operator]
    touched = day1_rows["id"].sample(100, seed=1).sort()
    updated = day1_rows.with_columns(
        pl.when(pl.col("id").is_in(touched.implode()))
        .then(pl.lit(later))
        .otherwise(pl.col("updated_at"))
        .alias("updated_at"),
        pl.when(pl.col("id").is_in(touched.implode()))
        .then(pl.col("amount") + 1)
        .otherwise(pl.col("amount"))
        .alias("amount"),
    )
    inserted = day1_rows.tail(50).with_columns(
        (pl.col("id") + 10_000).alias("id"), pl.lit(later).alias("updated_at")
    )
    pl.concat([updated, inserted]).write_parquet(source)

    with ExportClient(daemon.address) as client:
        day2 = _sync(client, daemon, "incremental")
        rerun = _sync(client, daemon, "incremental")
    m2 = load_manifest(day2.manifest_uri)
    assert m2["parent_export_id"] == day1.id
    assert m2["incremental"]["since"]["value"] == high.isoformat()  # type: ignore[union-attr]
    changed = read_export(day2.manifest_uri)
    assert changed["id"].to_list() == sorted([*touched.to_list(), *range(13_950, 14_000)])
    assert changed["amount"].to_list() == (
        pl.concat([updated, inserted]).filter(pl.col("updated_at") > high)["amount"].to_list()
    )
    assert m2["watermark"]["value"] == later.isoformat()
    # Re-running day 2 sends nothing twice: there is nothing past day 2's watermark.
    assert load_manifest(rerun.manifest_uri)["totals"]["records"] == 0

    # Day 3 after losing the job store: the chain continues from the manifests.
    daemon.stop()
    shutil.rmtree(daemon.state_dir)
    daemon.start()
    with ExportClient(daemon.address) as client:
        day3 = _sync(client, daemon, "incremental")
    m3 = load_manifest(day3.manifest_uri)
    assert m3["parent_export_id"] == rerun.id
    assert m3["totals"]["records"] == 0
    assert m3["watermark"]["value"] == later.isoformat()


def test_bad_incremental_requests_are_rejected(daemon: Daemon) -> None:
    generate(daemon.sources / "events.parquet", 100, seed=2)
    with ExportClient(daemon.address) as client:
        for incremental, field in (
            (pb.Incremental(mode="incremental"), "spec.incremental.cursor"),
            (pb.Incremental(mode="incremental", cursor="device"), "spec.incremental.cursor"),
            (pb.Incremental(mode="sometimes", cursor="id"), "spec.incremental.mode"),
        ):
            spec = ExportClient.build_spec(
                source=str(daemon.sources / "events.parquet"),
                to=str(daemon.exports),
                dataset="events",
                incremental=incremental,
            )
            from sluice.client import InvalidArgumentError

            with pytest.raises(InvalidArgumentError) as raised:
                client.create(spec)
            assert raised.value.violations[0].field == field
