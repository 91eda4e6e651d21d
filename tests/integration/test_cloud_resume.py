"""Exports to S3 (moto) and Azure Blob (Azurite), through a fault-injecting proxy:
SIGKILLed mid multi-part upload, stopped gracefully (SIGTERM) mid chunk, and under 503s
and reset connections, they still finish with every record exactly once, nothing left
unfinished, and at most one part re-sent per crash or stop."""

from __future__ import annotations

import hashlib
import io
import random
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.servers.cloud import (
    PART_SIZE,
    AzureStore,
    CloudStore,
    ProfileDaemon,
    S3Store,
    read_manifest,
)
from tests.servers.fault_proxy import FaultPlan, FaultProxy
from tests.servers.processes import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 180_000  # ~92 MB of JSON lines: eight chunks of three 5 MiB parts or more
CHUNK_BYTES = 12 * 1024 * 1024
SUSPENDED_CHUNK_BYTES = 24 * 1024 * 1024


@pytest.fixture(params=["s3", "azure"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy(backend: str, request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    server: ServerProcess = request.getfixturevalue(
        "moto_server" if backend == "s3" else "azurite_server"
    )
    running = FaultProxy(server.port).start()
    yield running
    running.stop()


def _store(backend: str, proxy: FaultProxy, request: pytest.FixtureRequest) -> CloudStore:
    server: ServerProcess = request.getfixturevalue(
        "moto_server" if backend == "s3" else "azurite_server"
    )
    if backend == "s3":
        return S3Store(server.endpoint, proxy.endpoint)
    return AzureStore(server.endpoint, proxy.endpoint)


@pytest.fixture
def store(backend: str, proxy: FaultProxy, request: pytest.FixtureRequest) -> CloudStore:
    return _store(backend, proxy, request)


@pytest.fixture
def cloud_daemon(tmp_path: Path, store: CloudStore) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings={"batch_rows": 2048, "pipeline_queue_depth": 2},
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start()
    generate(daemon.sources / "events.parquet", ROWS, seed=11)
    yield daemon
    try:
        daemon.stop(timeout=20)
    except Exception:
        daemon.kill()


def _create(
    client: ExportClient, daemon: ProfileDaemon, store: CloudStore, chunk_bytes: int = CHUNK_BYTES
) -> str:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=store.root_uri,
        dataset="events",
        format="jsonl",
        compression="none",
        chunk_bytes=chunk_bytes,
    )
    spec.destination.profile = "lake"
    return client.create(spec).id


def _assert_exactly_once(store: CloudStore, manifest_uri: str) -> dict[str, object]:
    manifest = read_manifest(store, manifest_uri)
    folder = manifest_uri.removeprefix(store.root_uri + "/").rpartition("/")[0]
    frames = []
    for chunk in manifest["chunks"]:
        data = store.read(f"{folder}/{chunk['path']}")
        assert len(data) == chunk["stored_bytes"]
        assert hashlib.sha256(data).hexdigest() == chunk["sha256"], chunk["path"]
        frames.append(pl.read_ndjson(io.BytesIO(data)))
    assert pl.concat(frames)["id"].to_list() == list(range(ROWS))
    expected = sorted(
        [f"{folder}/{c['path']}" for c in manifest["chunks"]] + [f"{folder}/manifest.json"]
    )
    assert sorted(store.keys()) == expected
    assert store.unfinished_uploads() == []
    return manifest


def _multipart_bytes(manifest: dict[str, object]) -> int:
    """Bytes a crash-free export sends as parts (objects below one part are one PUT)."""
    chunks = manifest["chunks"]
    assert isinstance(chunks, list)
    return sum(c["stored_bytes"] for c in chunks if c["stored_bytes"] >= PART_SIZE)


def _wait_for_part_bytes(
    proxy: FaultProxy, target: int, daemon: ProfileDaemon, export_id: str
) -> bool:
    """Wait until `target` part bytes reached the store; False if the export ended first."""
    deadline = time.monotonic() + 90
    with ExportClient(daemon.address) as client:
        while proxy.part_bytes < target:
            # QUEUED counts as not ended: a freshly created export may not be picked up yet.
            if client.get(export_id).state not in (
                pb.EXPORT_STATE_QUEUED,
                pb.EXPORT_STATE_RUNNING,
            ):
                return False
            assert time.monotonic() < deadline, f"only {proxy.part_bytes} part bytes sent"
            time.sleep(0.01)
    return True


def test_sigkill_mid_multipart_upload_resumes_exactly_once(
    cloud_daemon: ProfileDaemon, store: CloudStore, proxy: FaultProxy
) -> None:
    rng = random.Random(5)
    with ExportClient(cloud_daemon.address) as client:
        export_id = _create(client, cloud_daemon, store)
    crashes = 0
    for _ in range(3):
        # A random moment within the next few parts, so kills land mid-chunk.
        target = proxy.part_bytes + int(PART_SIZE * rng.uniform(0.5, 1.5))
        if not _wait_for_part_bytes(proxy, target, cloud_daemon, export_id):
            break
        cloud_daemon.kill()
        crashes += 1
        # Held while it starts: without, the restarted daemon could upload the rest of
        # the export before start() returns, leaving no upload in flight for the next kill.
        with proxy.parts_held():
            cloud_daemon.start()
    with ExportClient(cloud_daemon.address) as client:
        finished = client.wait(export_id, timeout=180)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert crashes == 3  # every kill landed mid-upload, the last one too
    manifest = _assert_exactly_once(store, finished.manifest_uri)
    resent = proxy.part_bytes - _multipart_bytes(manifest)
    assert 0 <= resent <= crashes * PART_SIZE, (resent, crashes)
    print(f"crashes={crashes} part bytes re-sent={resent} faults={dict(proxy.faults)}")
    assert "verified and skipped" in cloud_daemon.log_tail(2000)


def _wait_for_open_upload(
    store: CloudStore, parts: int, seen: set[str], daemon: ProfileDaemon, export_id: str
) -> str | None:
    """The key of an upload, other than `seen`, that holds `parts` stored parts (asked
    of the store directly, not through the proxy); None if the export ended first."""
    deadline = time.monotonic() + 90
    with ExportClient(daemon.address) as client:
        while True:
            fresh = {k: n for k, n in store.stored_parts().items() if k not in seen}
            for key, stored in fresh.items():
                if stored >= parts:
                    return key
            # QUEUED counts as not ended: a graceful stop hands the export back to the
            # queue, and the restarted daemon serves before its worker claims it again.
            if client.get(export_id).state not in (
                pb.EXPORT_STATE_QUEUED,
                pb.EXPORT_STATE_RUNNING,
            ):
                return None
            assert time.monotonic() < deadline, f"no upload reached {parts} parts: {fresh}"
            time.sleep(0.02)


def test_sigterm_mid_chunk_suspends_the_upload_and_the_restart_continues_it(
    cloud_daemon: ProfileDaemon, store: CloudStore, proxy: FaultProxy
) -> None:
    """A graceful stop keeps the chunk's stored parts: chunks of ~5 parts, stopped once two
    are stored, so aborting (the old behaviour) would re-send at least two parts."""
    # Parts take 0.3 s each, so the SIGTERM lands while the chunk is still uploading.
    proxy.plan.part_delay = 0.3
    with ExportClient(cloud_daemon.address) as client:
        export_id = _create(client, cloud_daemon, store, chunk_bytes=SUSPENDED_CHUNK_BYTES)
    stopped: set[str] = set()
    for _ in range(2):
        key = _wait_for_open_upload(store, 2, stopped, cloud_daemon, export_id)
        if key is None:
            break
        assert cloud_daemon.stop(timeout=60) == 0  # SIGTERM, then the daemon exits by itself
        kept = store.stored_parts()
        assert list(kept) == [key] and kept[key] >= 2, kept  # suspended, not aborted
        stopped.add(key)
        cloud_daemon.start()
    with ExportClient(cloud_daemon.address) as client:
        finished = client.wait(export_id, timeout=180)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert len(stopped) == 2
    manifest = _assert_exactly_once(store, finished.manifest_uri)
    resent = proxy.part_bytes - _multipart_bytes(manifest)
    assert 0 <= resent <= PART_SIZE, resent
    log = cloud_daemon.log_tail(4000)
    assert log.count("suspended the upload of") == 2
    assert "verified and skipped" in log
    print(f"graceful stops={len(stopped)} part bytes re-sent={resent}")


def test_transient_faults_are_retried_and_the_export_is_exact(
    cloud_daemon: ProfileDaemon, store: CloudStore, proxy: FaultProxy
) -> None:
    proxy.plan = FaultPlan(unavailable=0.08, reset_before=0.04, reset_after=0.04, seed=3)
    with ExportClient(cloud_daemon.address) as client:
        finished = client.wait(_create(client, cloud_daemon, store), timeout=180)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    _assert_exactly_once(store, finished.manifest_uri)
    assert sum(proxy.faults.values()) >= 3, proxy.faults
    print(f"faults injected: {dict(proxy.faults)} of {proxy.requests} requests")
