"""Nightly syncs by key through a real daemon, on a local folder and on S3 (moto): day 1
full; day 2 inserts, updates and deletes (sent as rows and tombstones); the re-run of
day 2 sends nothing; the job store is lost; day 3 (no changes) continues the chain. The
record diff of day 1 and day 2 is checked line by line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client._convert import message_dict
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import keyed_sync as scenario
from tests.servers.cloud import ProfileDaemon, S3Store, read_manifest
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration


@dataclass
class Place:
    """Where the exports go, and how the test reads them back (as a user would)."""

    daemon: Daemon
    destination: str
    profile: str
    read: Callable[[str], bytes]
    manifest: Callable[[pb.Export], dict[str, Any]]


def _local(tmp_path: Path) -> Iterator[Place]:
    (tmp_path / "digest.key").write_bytes(scenario.DIGEST_KEY)
    daemon = Daemon(
        root=tmp_path / "d",
        settings={"content_digest_key": f"file:{tmp_path / 'digest.key'}", "batch_rows": 256},
    )
    daemon.start()
    root = daemon.exports

    def manifest(export: pb.Export) -> dict[str, Any]:
        return read_manifest_file(root, export)

    yield Place(daemon, str(root), "", lambda key: (root / key).read_bytes(), manifest)
    daemon.stop()


def read_manifest_file(root: Path, export: pb.Export) -> dict[str, Any]:
    import json

    return dict(json.loads((root / "items" / export.id / "manifest.json").read_text()))


def _s3(tmp_path: Path, moto: ServerProcess) -> Iterator[Place]:
    store = S3Store(moto.endpoint, moto.endpoint)
    (tmp_path / "digest.key").write_bytes(scenario.DIGEST_KEY)
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings={"content_digest_key": f"file:{tmp_path / 'digest.key'}", "batch_rows": 256},
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start()
    yield Place(
        daemon,
        store.root_uri,
        "lake",
        store.read,
        lambda export: read_manifest(store, export.manifest_uri),
    )
    daemon.stop()


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _s3(tmp_path, request.getfixturevalue("moto_server"))


def _sync(place: Place, mode: str) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(place.daemon.sources / "items.parquet"),
        to=place.destination,
        dataset="items",
        format="jsonl",
        compression="zstd",
        chunk_rows=100,
        storage_profile=place.profile,
        incremental=pb.Incremental(mode=mode, key=["id"]),
    )
    with ExportClient(place.daemon.address) as client:
        export = client.wait(client.create(spec).id, timeout=120)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error.message
    return export


def _record_diff(place: Place, base: str, other: str) -> list[dict[str, Any]]:
    with ExportClient(place.daemon.address) as client:
        assert client.diff(base, other).record_level
        lines: list[dict[str, Any]] = []
        for event in client.diff_records(base, other):
            if event.HasField("summary"):
                lines.append({"summary": message_dict(event.summary, proto_names=True)})
            for change in event.changes.changes:
                line: dict[str, Any] = {"change": change.change, "key_digest": change.key_digest}
                if change.change == "changed":
                    line["columns"] = list(change.columns)
                lines.append(line)
    return lines


def test_keyed_nightly_sync(place: Place) -> None:
    source = place.daemon.sources / "items.parquet"
    scenario.day1().write_parquet(source)
    day1 = _sync(place, "full")
    m1 = place.manifest(day1)
    assert m1["incremental"]["changes"] == {
        "inserted": 300, "updated": 0, "deleted": 0, "unchanged": 0
    }  # fmt: skip
    assert (m1["parent_export_id"], m1["tombstones"]) == (None, None)
    assert scenario.read_rows(place.read, m1).equals(scenario.day1())
    index = scenario.index_rows(place.read, m1)
    assert index.height == 300 and index["key_digest"].is_sorted()
    assert set(index.columns) == {
        "key_digest", "row_digest", "column:id", "column:name", "column:amount", "sealed_key"
    }  # fmt: skip
    # No key value in the index: its digests are the documented HMACs.
    assert sorted(d.hex() for d in index["key_digest"]) == sorted(
        scenario.key_digest(i) for i in range(1, 301)
    )
    assert not any(b"name-1" in blob for blob in index["sealed_key"])

    scenario.day2().write_parquet(source)
    day2 = _sync(place, "incremental")
    m2 = place.manifest(day2)
    assert m2["parent_export_id"] == day1.id
    assert m2["incremental"]["changes"] == {
        "inserted": 2, "updated": 3, "deleted": 2, "unchanged": 295
    }  # fmt: skip
    sent = scenario.day2().filter(pl.col("id").is_in([10, 20, 30, 301, 302]))
    assert scenario.read_rows(place.read, m2).equals(sent)
    tombstones = scenario.read_tombstones(place.read, m2)
    assert m2["tombstones"]["records"] == 2
    assert (m2["tombstones"]["op_column"], m2["tombstones"]["key"]) == ("__sluice_op", ["id"])
    expected_order = sorted(scenario.DELETED, key=scenario.key_digest)
    assert tombstones.to_dicts() == [{"id": k, "__sluice_op": "delete"} for k in expected_order]
    # Tombstones carry a keyed BLAKE3 content digest like the chunks, and the manifest
    # names that one algorithm.
    assert m2["tombstones"]["content_digest"] == scenario.tombstones_content_digest(place.read, m2)
    assert m2["content_digest"]["algorithm"] == "blake3"

    assert _record_diff(place, day1.id, day2.id) == scenario.expected_record_diff(day1.id, day2.id)

    rerun = _sync(place, "incremental")
    m_rerun = place.manifest(rerun)
    assert (m_rerun["totals"]["records"], m_rerun["tombstones"]) == (0, None)
    assert m_rerun["incremental"]["changes"]["unchanged"] == 300
    day2_index = scenario.index_rows(place.read, m2)
    assert day2_index["key_digest"].is_sorted() and day2_index.height == 300
    assert scenario.index_rows(place.read, m_rerun).equals(day2_index)

    place.daemon.stop()
    shutil.rmtree(place.daemon.state_dir)
    place.daemon.start()
    day3 = _sync(place, "incremental")
    m3 = place.manifest(day3)
    assert m3["parent_export_id"] == rerun.id
    assert (m3["totals"]["records"], m3["tombstones"]) == (0, None)
    with ExportClient(place.daemon.address) as client:
        verified = client.verify(day3.id)
    assert verified.ok and verified.chunks_checked == 1  # the key index


def test_cli_prints_the_record_diff_as_json_lines(tmp_path: Path) -> None:
    place = next(_local(tmp_path))
    try:
        source = place.daemon.sources / "items.parquet"
        scenario.day1().write_parquet(source)
        day1 = _sync(place, "full")
        scenario.day2().write_parquet(source)
        day2 = _sync(place, "incremental")
        shown = subprocess.run(
            [sys.executable, "-m", "sluice.client.cli.main", "--server", place.daemon.address,
             "export", "diff", day1.id, day2.id, "--json"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        lines = scenario.json_lines(shown.stdout)
        assert lines[0]["record_level"] is True
        assert lines[1:] == scenario.expected_record_diff(day1.id, day2.id)
    finally:
        place.daemon.stop()
