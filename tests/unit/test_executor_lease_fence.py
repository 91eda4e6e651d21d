"""A run that lost its lease before its pipeline started leaves the export alone:
aborting journalled uploads and sweeping half-written temporaries assume no other
writer of the export is active, and after a takeover the new holder is one (its chunk
in flight is such an upload or temporary). Run in-process on a real SQLite store and a
real local folder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sluice.server.errors import LeaseLost
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.model import NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.sinks import open_sink
from sluice.sinks.base import Sink
from sluice.sinks.local import TEMP_MARKER
from tests.unit.local_runs import local_run


def test_a_run_that_lost_its_lease_removes_no_temporary_of_the_new_holder(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    run = local_run(tmp_path, 100)
    source, out, settings = run.source, run.out, run.settings
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
    taken = store.claim("elsewhere", 60)
    assert taken is not None
    journalled = ("events/" + job.id + "/part-000003.jsonl.zst", '{"the new holder": 3}')
    store.save_upload(job.id, *journalled, lease=taken[1])
    folder = out / "events" / job.id
    folder.mkdir(parents=True)
    in_flight = folder / f"part-000000.jsonl.zst{TEMP_MARKER}0a1b2c3d"
    in_flight.write_bytes(b"the new holder's chunk, half written")
    aborted: list[str] = []

    def recording_sink(uri: str, *, profile: object = None) -> Sink:
        # The real local sink; only the aborts it is asked for are recorded.
        sink = open_sink(uri, profile=profile)  # type: ignore[arg-type]
        abort = sink.abort_upload

        def abort_upload(key: str, state: str) -> None:
            aborted.append(key)
            abort(key, state)

        sink.abort_upload = abort_upload  # type: ignore[method-assign]
        return sink

    context = ExecutionContext(
        settings, store, EventHub(), recording_sink, b"k" * 32, "key-id", b"i" * 32
    )

    with pytest.raises(LeaseLost):
        execute(job, context, threading.Event(), lease)

    assert in_flight.read_bytes() == b"the new holder's chunk, half written"
    assert sorted(p.name for p in folder.iterdir()) == [in_flight.name]
    assert list(store.uploads(job.id)) == [journalled]
    assert aborted == []
