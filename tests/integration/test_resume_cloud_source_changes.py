"""A source object in S3 (moto) or Azure (Azurite) written again with the very same size
between a SIGKILL and the restart: its first run journalled the object's ETag (etag) with
its size (run_facts), so the resumed run is refused FAILED_PRECONDITION naming it, the
chunks already written stay as they were, and nothing commits rows of two versions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError
from tests.daemon import create_and_kill_after_chunk
from tests.servers.cloud import AzureStore, CloudStore, ProfileDaemon, S3Store
from tests.servers.processes import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Enough rows (about 8 MB, 100 chunks) that the export is still running at the kill,
# even on a loaded machine (40,000 rows could finish before the SIGKILL).
ROWS = 200_000


def _log(value: int) -> bytes:
    return "".join(f'{{"id":{i},"v":{value},"txt":"row {i}"}}\n' for i in range(ROWS)).encode()


@pytest.fixture(params=["s3", "azure"])
def store(request: pytest.FixtureRequest) -> CloudStore:
    if request.param == "s3":
        moto: ServerProcess = request.getfixturevalue("moto_server")
        return S3Store(moto.endpoint, moto.endpoint)
    azurite: ServerProcess = request.getfixturevalue("azurite_server")
    return AzureStore(azurite.endpoint, azurite.endpoint)


def _put(store: CloudStore, key: str, data: bytes) -> None:
    if isinstance(store, S3Store):
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
    else:
        assert isinstance(store, AzureStore)
        store.container.upload_blob(key, data, overwrite=True)


@pytest.fixture
def daemon(tmp_path: Path, store: CloudStore) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings={"batch_rows": 1024, "pipeline_queue_depth": 2},
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start()
    yield daemon
    daemon.kill()


def test_an_object_rewritten_with_the_same_size_fails_the_resume(
    daemon: ProfileDaemon, store: CloudStore
) -> None:
    _put(store, "src/events.ndjson", _log(0))
    source = f"{store.root_uri.rpartition('/')[0]}/src/events.ndjson"
    spec = ExportClient.build_spec(
        source=source, source_profile="lake", to=str(daemon.exports), dataset="ev",
        format="jsonl", chunk_rows=2_000,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    rewritten = _log(1)
    assert len(rewritten) == len(_log(0))  # every "v":0 became "v":1
    _put(store, "src/events.ndjson", rewritten)
    folder = daemon.exports / "ev" / export_id
    parts = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("part-") and "tmp" not in p.name
    }
    assert parts
    assert not (folder / "manifest.json").exists(), "finished before the kill"
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    assert f"source changed since the export started: {source} (written again" in str(failed.value)
    assert not (folder / "manifest.json").exists()
    assert {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in parts} == parts
