"""The state folder belongs to one daemon, and its job store is never lost silently: a
second daemon is refused naming the first one's pid; a store emptied under a used state
folder stops the start until `--recover-job-store` rebuilds it from the manifests; a
garbage store is a one-line error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration


def _create(client: ExportClient, daemon: Daemon, request_id: str = "", **options: object) -> str:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        **options,
    )
    return client.create(spec, request_id=request_id).id


def _one_line_error(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sluice: error: "), stderr
    return str(lines[0])


def test_a_second_daemon_on_the_same_state_folder_is_refused(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    first = daemon_factory("shared", batch_rows=1024)
    first.start()
    generate(first.sources / "events.parquet", 40_000, seed=3)
    with ExportClient(first.address) as client:
        export_id = _create(client, first, level=15, chunk_rows=4000)
        # Same root, state folder and config; only the port differs.
        second = daemon_factory("shared", batch_rows=1024)
        refused = second.serve_refused(timeout=20)
        assert refused.returncode != 0
        message = _one_line_error(refused)
        assert f"pid {first.process.pid}" in message
        assert str(first.state_dir) in message
        assert first.healthy()
        finished = client.wait(export_id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert Path(finished.manifest_uri.removeprefix("file://")).is_file()


def test_lost_job_store_is_refused_then_rebuilt_from_manifests(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("lost")
    daemon.start()
    generate(daemon.sources / "events.parquet", 5_000, seed=4)
    with ExportClient(daemon.address) as client:
        export_id = _create(
            client, daemon, request_id="nightly-1", labels={"team": "data"}, chunk_rows=2000
        )
        before = client.wait(export_id, timeout=60)
    assert before.state == pb.EXPORT_STATE_SUCCEEDED
    assert daemon.stop() == 0
    store = daemon.state_dir / "jobs.sqlite3"
    store.write_bytes(b"")  # truncated to 0 bytes

    refused = daemon.serve_refused(timeout=20)
    assert refused.returncode != 0
    message = _one_line_error(refused)
    assert str(store) in message and "--recover-job-store" in message
    assert store.stat().st_size == 0  # nothing was created meanwhile

    daemon.start(args=["--recover-job-store"])
    with ExportClient(daemon.address) as client:
        after = client.get(export_id)
        assert after.state == pb.EXPORT_STATE_SUCCEEDED
        assert after.manifest_uri == before.manifest_uri
        assert after.progress.records == 5_000 and after.progress.chunks == 3
        assert dict(after.spec.labels) == {"team": "data"}
        assert after.spec.destination.dataset == "events"
        assert after.created_at.ToDatetime() == before.created_at.ToDatetime()
        listed = client.list(states=[pb.EXPORT_STATE_SUCCEEDED])
        assert [e.id for e in listed] == [export_id]
        assert client.verify(export_id).ok
    # Rebuilt once: the next plain start finds an intact store.
    daemon.restart()
    with ExportClient(daemon.address) as client:
        assert client.get(export_id).state == pb.EXPORT_STATE_SUCCEEDED


def test_garbage_job_store_is_a_one_line_error_naming_the_file(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("garbage")
    daemon.start()
    assert daemon.stop() == 0
    store = daemon.state_dir / "jobs.sqlite3"
    store.write_bytes(b"\x00\xffnot a database at all\n" * 500)
    refused = daemon.serve_refused(timeout=20)
    assert refused.returncode != 0
    message = _one_line_error(refused)
    assert str(store) in message
