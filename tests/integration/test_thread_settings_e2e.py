"""Through real daemons: the compression worker setting (`zstd_threads`) changes how many
cores an export uses, never the bytes it stores, so it can be tuned per machine and a
chunk resumed on another replica is still byte-identical."""

from __future__ import annotations

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.integration.helpers import load_manifest

pytestmark = pytest.mark.integration
ROWS = 40_000
CASES = [("jsonl", "zstd"), ("csv", "gzip"), ("parquet", "zstd")]


def _digests(daemon, fmt: str, compression: str) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    source = generate(daemon.sources / "events.parquet", ROWS, seed=3)
    spec = ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="events",
        format=fmt, compression=compression, chunk_bytes=1024 * 1024,
    )  # fmt: skip
    with ExportClient(daemon.address) as client:
        finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    chunks = load_manifest(finished.manifest_uri)["chunks"]
    return [(c["path"], c["records"], c["sha256"]) for c in chunks]


def test_chunk_bytes_do_not_depend_on_the_compression_workers(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    one = daemon_factory("one", zstd_threads=1, batch_rows=4096)
    two = daemon_factory("two", zstd_threads=2, batch_rows=4096)
    one.start()
    two.start()

    for fmt, compression in CASES:
        stored = _digests(one, fmt, compression)
        assert len(stored) > 1, (fmt, compression)
        assert _digests(two, fmt, compression) == stored, (fmt, compression)
