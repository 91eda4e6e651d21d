"""A Flight DoPut waiting for its export's chunks (server.flight.puts) on the real event
hub, export service and SQLite job store: a nudge (a shared store's RESYNC nudges every
subscriber) makes it read the job once, not spin on the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import schema_payload
from sluice.server.flight.puts import FlightPuts, PutMessage, PutRequest
from sluice.server.jobs.model import Job
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink

#: Waiting this long, a put reads the job at its poll (every 0.5 s) and once per nudge.
WAIT_SECONDS = 1.5


class _CountingStore(SQLiteJobStore):
    def __init__(self) -> None:
        super().__init__(":memory:")
        self.gets = 0

    def get(self, job_id: str) -> Job:
        self.gets += 1
        return super().get(job_id)


def test_a_waiting_put_reads_its_job_once_per_nudge(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [exports]}, environ={}
    )
    store, hub = _CountingStore(), EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    service = ExportService(settings, store, ExportRunner(context), hub)  # no worker runs it
    puts = FlightPuts(settings, store, service, hub)
    spec = ExportSpec(source=SourceSpec(""), destination=DestinationSpec(str(exports), "events"))
    sending = threading.Event()

    def rest() -> Iterator[PutMessage]:
        sending.wait(WAIT_SECONDS + 5)  # the caller sends nothing yet
        yield from ()

    deadline = time.monotonic() + 3600.0
    put = puts.put(
        PutRequest(spec, "put-1"),
        PutMessage(schema_payload(pa.schema([("id", pa.int64())]))),
        rest(),
        lambda: time.monotonic() < deadline,
        ANONYMOUS,
    )
    try:
        assert next(put)["committed_records"] == 0
        hub.nudge("")
        before = store.gets
        deadline = time.monotonic() + WAIT_SECONDS
        assert list(put) == []
        reads = store.gets - before
        assert reads <= WAIT_SECONDS / 0.5 + 3, reads
    finally:
        sending.set()
        put.close()
