"""A run that lost its lease before its pipeline started leaves the export's folder
alone: sweeping half-written temporaries assumes no other writer of the export is
active, and after a takeover the new holder is one (its chunk in flight is such a
temporary). Run in-process on a real SQLite store and a real local folder."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import LeaseLost
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.model import NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from sluice.sinks.local import TEMP_MARKER


def test_a_run_that_lost_its_lease_removes_no_temporary_of_the_new_holder(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in" / "events.parquet"
    source.parent.mkdir()
    pl.DataFrame({"id": range(100)}).write_parquet(source)
    out = tmp_path / "out"
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            "allowed_source_roots": [str(source.parent)],
            "allowed_roots": [str(out)],
        },
        environ={},
    )
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    try:
        spec = ExportSpec(
            source=SourceSpec(uri=str(source)),
            destination=DestinationSpec(uri=str(out), dataset="events"),
        )
        job, _ = store.create(NewJob(id="20260101T000000Z-fence", spec=spec))
        claimed = store.claim("here", 60)
        assert claimed is not None
        job, lease = claimed
        # Another replica takes the job over while this run stalls before its pipeline,
        # and starts writing its first chunk.
        store.expire_leases()
        assert store.claim("elsewhere", 60) is not None
        folder = out / "events" / job.id
        folder.mkdir(parents=True)
        in_flight = folder / f"part-000000.jsonl.zst{TEMP_MARKER}0a1b2c3d"
        in_flight.write_bytes(b"the new holder's chunk, half written")
        context = ExecutionContext(
            settings, store, EventHub(), open_sink, b"k" * 32, "key-id", b"i" * 32
        )

        with pytest.raises(LeaseLost):
            execute(job, context, threading.Event(), lease)

        assert in_flight.read_bytes() == b"the new holder's chunk, half written"
        assert sorted(p.name for p in folder.iterdir()) == [in_flight.name]
    finally:
        store.close()
