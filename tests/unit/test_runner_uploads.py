"""The runner owns what a graceful stop leaves in the store: an export suspended by a
shutdown and then cancelled while queued has its open upload aborted (against moto)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sluice.server.execution.executor import ExecutionContext
from sluice.server.jobs.model import JobState, NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess

PART = 5 * 1024 * 1024


class _StoreJournal:
    def __init__(self, store: SQLiteJobStore, job_id: str, key: str) -> None:
        self.store, self.job_id, self.key = store, job_id, key

    def load(self) -> str | None:
        return dict(self.store.uploads(self.job_id)).get(self.key)

    def save(self, state: str) -> None:
        self.store.save_upload(self.job_id, self.key, state)

    def clear(self) -> None:
        self.store.delete_upload(self.job_id, self.key)

    def handed_over(self) -> bool:
        return False

    def wait_handed_over(self, timeout: float) -> bool:
        time.sleep(timeout)
        return False


def test_cancelling_a_queued_export_aborts_the_upload_its_shutdown_kept(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("T_RUNNER_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_RUNNER_SECRET", MOTO_SECRET)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "storage_profiles": {
                "lake": {
                    "kind": "s3",
                    "endpoint_url": moto_server.endpoint,
                    "access_key_id_ref": "env:T_RUNNER_KEY",
                    "secret_access_key_ref": "env:T_RUNNER_SECRET",
                    "part_size": PART,
                }
            },
        },
        environ={},
    )
    bucket = new_bucket(moto_server.endpoint)
    store = SQLiteJobStore(":memory:")
    spec = ExportSpec(
        source=SourceSpec(uri=str(tmp_path / "never-read.parquet")),
        destination=DestinationSpec(uri=f"s3://{bucket}/exports", dataset="events", profile="lake"),
    )
    job, _ = store.create(NewJob(id="20260101T000000Z-queued", spec=spec))
    key = f"events/{job.id}/part-000000.jsonl.zst"
    sink = open_sink(spec.destination.uri, profile=settings.storage_profiles["lake"])
    writer = sink.create(key, overwrite=False, journal=_StoreJournal(store, job.id, key))
    writer.write(b"x" * (PART + 1))
    writer.suspend()  # what a shutdown leaves: one stored part, journalled
    client = s3_client(moto_server.endpoint)
    assert len(client.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1

    context = ExecutionContext(
        settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
    )
    cancelled = ExportRunner(context).cancel(job.id)  # no worker runs: it is still queued

    assert cancelled.state == JobState.CANCELLED
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert list(store.uploads(job.id)) == []
