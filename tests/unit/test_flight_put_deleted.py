"""A DoPut with the requestId of a deleted export (server.flight.puts): refused at once,
before it pins the export, feeds an inbox or acks anything. Real export service and
SQLite job store; the export is made DELETED as the admin service makes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.server.errors import ErrorCode, FailedPrecondition
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import batch_payload, schema_payload
from sluice.server.flight.puts import FlightPuts, PutMessage, PutRequest
from sluice.server.jobs.model import JobError, JobState
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink

SCHEMA = pa.schema([("id", pa.int64())])
EXPORTS = "/srv/exports"
SPEC = ExportSpec(source=SourceSpec(""), destination=DestinationSpec(EXPORTS, "events"))


def messages() -> Iterator[PutMessage]:
    batch = pa.record_batch([pa.array(range(3), pa.int64())], schema=SCHEMA)
    yield PutMessage(batch_payload(batch))


def put(puts: FlightPuts) -> Iterator[dict[str, object]]:
    first = PutMessage(schema_payload(SCHEMA))
    return puts.put(PutRequest(SPEC, "put-d"), first, messages(), lambda: True, ANONYMOUS)


@pytest.fixture
def store() -> SQLiteJobStore:
    return SQLiteJobStore(":memory:")


@pytest.fixture
def puts(tmp_path: Path, store: SQLiteJobStore) -> FlightPuts:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [EXPORTS]}, environ={}
    )
    hub = EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    service = ExportService(settings, store, ExportRunner(context), hub)  # no worker runs it
    return FlightPuts(settings, store, service, hub)


@pytest.mark.parametrize("ended_as", [JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED])
def test_a_put_of_a_deleted_export_is_refused_before_anything(
    puts: FlightPuts, store: SQLiteJobStore, ended_as: JobState
) -> None:
    """Whatever the export ended as (a failed one's transient error code would have its
    client retry in vain), the caller is told it needs a new requestId."""
    export_id = next(put(puts))["export_id"]
    assert isinstance(export_id, str)
    INBOXES.discard(export_id)
    error = JobError("UNAVAILABLE", "storage went away") if ended_as == JobState.FAILED else None
    store.transition(export_id, {JobState.QUEUED}, ended_as, error=error)
    store.mark_deleted(export_id, {ended_as})
    answers: list[dict[str, object]] = []
    with pytest.raises(FailedPrecondition) as raised:
        answers.extend(put(puts))
    assert answers == []  # no ack with the journal's committed rows
    assert raised.value.code == ErrorCode.FAILED_PRECONDITION
    message = str(raised.value)
    assert export_id in message and "deleted" in message and "new requestId" in message
    assert store.get(export_id).state == JobState.DELETED
