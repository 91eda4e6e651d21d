"""A keyed increment killed mid-export resumes to exactly the changes: its first pass runs
again (deterministically), the chunks continue after the last journalled one, and the
destination holds the chunks, the key index, the tombstones and the manifest, nothing
else."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export
from tests.integration.test_resume import _wait_for_chunks

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 60_000


def _create(client: ExportClient, daemon: Daemon, mode: str) -> str:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        level=15,
        chunk_rows=2_000,
        incremental=pb.Incremental(mode=mode, key=["id"]),
    )
    return client.create(spec).id


def test_sigkill_mid_keyed_increment_resumes_to_exactly_the_changes(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("keyed-slow", batch_rows=1024, pipeline_queue_depth=2)
    daemon.start()
    source = generate(daemon.sources / "events.parquet", ROWS, seed=5)
    with ExportClient(daemon.address) as client:
        client.wait(_create(client, daemon, "full"), timeout=300)
    day1 = pl.read_parquet(source)
    changed = day1.with_columns(
        pl.when(pl.col("id") % 5 == 0).then(pl.col("amount") + 1).otherwise("amount")
        .alias("amount")
    ).filter(pl.col("id") % 1_000 != 1)  # fmt: skip
    changed.write_parquet(source)

    with ExportClient(daemon.address) as client:
        export_id = _create(client, daemon, "incremental")
        _wait_for_chunks(client, export_id, 2)
    daemon.kill()
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)

    manifest = load_manifest(finished.manifest_uri)
    sent = read_export(finished.manifest_uri)
    assert sent["id"].to_list() == changed.filter(pl.col("id") % 5 == 0)["id"].to_list()
    assert manifest["incremental"]["changes"] == {
        "inserted": 0, "updated": ROWS // 5, "deleted": ROWS // 1_000, "unchanged": 47_940
    }  # fmt: skip
    folder = manifest_path(finished.manifest_uri).parent
    expected = [c["path"] for c in manifest["chunks"]]
    expected += [manifest["key_index"]["path"], manifest["tombstones"]["path"], "manifest.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    assert [c["index"] for c in manifest["chunks"]] == list(range(len(manifest["chunks"])))
    assert "resumes after chunk" in daemon.log_tail(400)
    with ExportClient(daemon.address) as client:
        assert client.verify(export_id).ok
