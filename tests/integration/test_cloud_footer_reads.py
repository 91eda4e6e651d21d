"""A Parquet glob in S3 (moto, behind a counting proxy) through a real daemon: one run
reads each file's footer once (the first file's: once more, by CreateExport's own
planning), however many steps of it need the footer (planning's
schema and survey, the row count for progress, the reader's check of every file before
its first row, then each file's rows), and the records come back as they were."""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.integration.helpers import read_export
from tests.servers.cloud import ProfileDaemon, S3Store
from tests.servers.fault_proxy import FaultProxy
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration
FILES = 20
ROWS = 300
#: pyarrow reads a footer with one range over a file's last 64 KiB (the files are larger).
FOOTER_READ = 64 * 1024


def _parquet(first_id: int, seed: int) -> bytes:
    rng = random.Random(seed)
    frame = pl.DataFrame(
        {
            "id": range(first_id, first_id + ROWS),
            "payload": [rng.randbytes(128).hex() for _ in range(ROWS)],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="uncompressed")
    data = buffer.getvalue()
    assert len(data) > FOOTER_READ + 4  # a footer read never starts at the first page
    return data


@pytest.fixture
def proxy(moto_server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.port) as running:
        yield running


@pytest.fixture
def store(moto_server: ServerProcess, proxy: FaultProxy) -> S3Store:
    return S3Store(moto_server.endpoint, proxy.endpoint)


@pytest.fixture
def daemon(tmp_path: Path, store: S3Store) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path / "d", profiles={"lake": store.profile}, environment=store.environment
    )
    daemon.start(timeout=180)
    try:
        yield daemon
    finally:
        daemon.stop(timeout=20)


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keyed"])
def test_each_parquet_footer_of_a_cloud_glob_is_read_once_per_run(
    daemon: ProfileDaemon, store: S3Store, proxy: FaultProxy, keyed: bool
) -> None:
    sizes = {}
    frames = []
    for index in range(FILES):
        data = _parquet(index * ROWS, index)
        key = f"drop/part-{index:02}.parquet"
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
        sizes[f"/{store.bucket}/{key}"] = len(data)
        frames.append(pl.read_parquet(io.BytesIO(data)))
    options: dict[str, object] = {"incremental": pb.Incremental(key=["id"])} if keyed else {}
    spec = ExportClient.build_spec(  # type: ignore[arg-type]
        source=f"s3://{store.bucket}/drop/*.parquet",
        source_profile="lake",
        to=str(daemon.exports),
        dataset="footers",
        format="jsonl",
        **options,
    )
    with ExportClient(daemon.address) as client:
        done = client.wait(client.create(spec).id, timeout=300)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error

    exported = read_export(done.manifest_uri)
    expected = pl.concat(frames)
    assert exported.select(expected.columns).equals(expected)
    footer_reads: Counter[str] = Counter()
    for path, wanted in proxy.ranged_reads:
        size = sizes.get(path)
        if size is not None and wanted == f"bytes={size - FOOTER_READ}-{size - 1}":
            footer_reads[path] += 1
    # The first file's once more: CreateExport plans the export (checking the request)
    # before the run plans it again for itself.
    first = min(sizes)
    assert footer_reads == Counter({path: 2 if path == first else 1 for path in sizes})
