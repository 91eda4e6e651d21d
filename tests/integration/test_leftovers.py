"""A kill before the first chunk is journalled leaves a temporary file; the next run
sweeps it, and verify reports any temporary file found in an export folder."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = pytest.mark.integration
ROWS = 60_000
TEMP_MARKER = ".sluice-tmp-"


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{TEMP_MARKER}*")) if folder.is_dir() else []


def _kill_while_writing_chunk_0(daemon: Daemon, folder: Path) -> Path:
    """SIGKILL the daemon once chunk 0's temporary file exists, before it is committed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _temporaries(folder)
        if found:
            daemon.kill()
            assert not (folder / "part-000000.jsonl.zst").exists(), "chunk 0 was committed"
            return found[0]
        time.sleep(0.005)
    raise AssertionError("chunk 0 never started")


def test_a_kill_during_chunk_0_leaves_no_temporary_after_the_resume(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("leftover", batch_rows=1024, pipeline_queue_depth=2)
    daemon.start()
    generate(daemon.sources / "events.parquet", ROWS, seed=8)
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        level=12,  # one slowish chunk holding every row: a wide window for the kill
        chunk_rows=ROWS,
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
    folder = daemon.exports / "events" / export_id
    leftover = _kill_while_writing_chunk_0(daemon, folder)
    assert leftover.exists()
    kept = daemon.root / leftover.name
    shutil.copyfile(leftover, kept)

    daemon.start()  # picks the running export up again, from row 0
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
        assert finished.state == pb.EXPORT_STATE_SUCCEEDED
        assert _temporaries(folder) == []
        manifest = load_manifest(finished.manifest_uri)
        assert manifest_path(finished.manifest_uri).parent == folder
        on_disk = sorted(p.name for p in folder.iterdir())
        assert on_disk == sorted([c["path"] for c in manifest["chunks"]] + ["manifest.json"])
        for chunk in manifest["chunks"]:
            digest = hashlib.sha256((folder / chunk["path"]).read_bytes()).hexdigest()
            assert digest == chunk["sha256"]
        assert read_export(finished.manifest_uri)["id"].to_list() == list(range(ROWS))
        assert client.verify(export_id).ok

        # What an unswept folder looked like: verify names the temporary file.
        shutil.copyfile(kept, folder / leftover.name)
        report = client.verify(export_id)
        assert not report.ok
        assert list(report.temporaries) == [leftover.name]
        assert list(report.extra) == [] and list(report.missing) == []
