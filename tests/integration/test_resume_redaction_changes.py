"""A named server redaction policy is read from the settings of the daemon that runs the
export, at each run. A policy changed while an export runs (a helm upgrade of
redaction_policies rolls the pod: SIGTERM, restart under the new config) must not
redact the rest of the export another way than its first chunks under a manifest that
describes only one of the two: the resumed run fails FAILED_PRECONDITION naming the
policy and what changed, keeping its chunks, and a daemon with the original policy
resumes it to one redaction throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import decode, decompress, load_manifest, manifest_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 100_000


def _policy(column: str) -> dict[str, object]:
    return {"share": {"level": "none", "rules": [{"column": column, "action": "drop"}]}}


def _columns_of_chunks(folder: Path) -> list[set[str]]:
    """The columns of each chunk file in `folder` (jsonl, zstd), in chunk order."""
    parts = sorted(
        p for p in folder.iterdir() if p.name.startswith("part-") and "tmp" not in p.name
    )
    return [
        set(decode(decompress(p.read_bytes(), "zstd", "jsonl"), "jsonl").columns) for p in parts
    ]


def test_a_policy_changed_between_runs_fails_the_resume_and_the_original_resumes_it(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    daemon: Daemon = daemon_factory(
        "policy", batch_rows=1024, pipeline_queue_depth=2, redaction_policies=_policy("last_name")
    )
    daemon.start()
    generate(daemon.sources / "events.parquet", ROWS, seed=5)
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        level=15,
        chunk_rows=4000,
        redaction=pb.Redaction(policy="share"),
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= 1:
                break
            assert not event.HasField("finished"), event
    daemon.stop(timeout=60)  # SIGTERM, as a rolling update sends
    folder = daemon.exports / "events" / export_id
    written = _columns_of_chunks(folder)
    assert written and all("last_name" not in c and "first_name" in c for c in written)

    daemon.settings["redaction_policies"] = _policy("first_name")
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    message = str(failed.value)
    assert "server policy 'share'" in message and "rules differ" in message, message
    assert not (folder / "manifest.json").exists()
    # No chunk of the other redaction was written.
    assert _columns_of_chunks(folder) == written
    daemon.stop(timeout=60)

    daemon.settings["redaction_policies"] = _policy("last_name")
    daemon.start()
    with ExportClient(daemon.address) as client:
        client.resume(export_id)
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["totals"]["records"] == ROWS
    assert [r.get("column") for r in manifest["redaction"]["rules"]] == ["last_name"]
    chunks = _columns_of_chunks(manifest_path(finished.manifest_uri).parent)
    assert len(chunks) == len(manifest["chunks"]) > len(written)
    assert all("last_name" not in c and "first_name" in c for c in chunks)
