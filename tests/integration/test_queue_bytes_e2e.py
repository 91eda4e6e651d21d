"""Through real daemons: bounding the bytes queued between the encoder and the writer
(`pipeline_queue_bytes`) changes only how long the encoder waits, never what is stored.
A bound of one byte (every segment waits until the writer took the one before) stores
byte-identical chunks to an unbounded queue, and every record reads back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration
ROWS = 20_000


def _export(daemon: Daemon, source: Path) -> pb.Export:
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset="events",
            format="jsonl", compression="none", chunk_rows=6_000,
        )  # fmt: skip
        return client.wait(client.create(spec).id, timeout=120)


def test_a_tiny_queue_byte_bound_stores_the_same_chunks(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    stored: list[list[tuple[int, str]]] = []
    for name, queue_bytes in (("unbounded", 0), ("one-byte", 1)):
        daemon = daemon_factory(name, batch_rows=1024, pipeline_queue_bytes=queue_bytes)
        daemon.start()
        source = generate(daemon.sources / "events.parquet", ROWS, seed=5)
        finished = _export(daemon, source)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED
        manifest = load_manifest(finished.manifest_uri)
        stored.append([(c["records"], c["sha256"]) for c in manifest["chunks"]])
        exported = read_export(finished.manifest_uri)
        assert exported.height == ROWS
        assert exported["id"].to_list() == pl.read_parquet(source)["id"].to_list()
    assert stored[0] == stored[1]
    assert len(stored[0]) == 4
