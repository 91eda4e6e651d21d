"""CreateExport with the request id of a deleted export (ExportService._same_request):
the deleted export's request is forgotten (JobStore.mark_deleted: its spec masked, its
fingerprint emptied), so a retry can no longer be told from another request with that
id; either gets the deleted export back, never a new one (which would export again what
was just deleted). Another principal's use of the id still reveals nothing of it. Real
export service and SQLite job store; nothing runs the export (no worker)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.client.demo_data import generate
from sluice.server.errors import ErrorCode, FailedPrecondition, InvalidArgument
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import schema_payload
from sluice.server.flight.puts import FlightPuts, PutMessage, PutRequest
from sluice.server.jobs.model import JobFilter, JobState
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    QuerySpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.principals import ANONYMOUS, Principal, Scope
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink

#: Another caller, allowed to create exports anywhere the server allows.
MALLORY = Principal(name="mallory", scopes=frozenset({Scope.CREATE, Scope.READ}))


def config(tmp_path: Path) -> dict[str, object]:
    return {
        "state_dir": tmp_path / "state",
        "allowed_roots": [tmp_path / "out"],
        "allowed_source_roots": [tmp_path / "src"],
    }


@pytest.fixture
def store() -> SQLiteJobStore:
    return SQLiteJobStore(":memory:")


@pytest.fixture
def service(tmp_path: Path, store: SQLiteJobStore) -> ExportService:
    settings = load_settings(None, config(tmp_path), environ={})
    hub = EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    return ExportService(settings, store, ExportRunner(context), hub)


@pytest.fixture
def spec(tmp_path: Path) -> ExportSpec:
    source = generate(tmp_path / "src" / "events.parquet", 100, seed=3)
    return ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(str(tmp_path / "out"), "events"),
        query=QuerySpec(where="country <> 'alice@example.com'"),
    )


def deleted(service: ExportService, store: SQLiteJobStore, spec: ExportSpec) -> str:
    job = service.create(spec, "req-d", principal=ANONYMOUS)
    store.mark_deleted(job.id, {JobState.QUEUED})  # as export delete marks it
    return job.id


def test_a_retry_of_a_deleted_export_gets_it_back(
    service: ExportService, store: SQLiteJobStore, spec: ExportSpec
) -> None:
    export_id = deleted(service, store, spec)
    again = service.create(spec, "req-d", principal=ANONYMOUS)
    assert (again.id, again.state) == (export_id, JobState.DELETED)


def test_another_spec_with_a_deleted_exports_request_id_gets_it_back(
    service: ExportService, store: SQLiteJobStore, spec: ExportSpec
) -> None:
    # Its request is forgotten: this might be a retry; it must not export anew.
    export_id = deleted(service, store, spec)
    other = replace(spec, destination=replace(spec.destination, dataset="elsewhere"))
    job = service.create(other, "req-d", principal=ANONYMOUS)
    assert (job.id, job.state) == (export_id, JobState.DELETED)
    assert [j.id for j in store.list(JobFilter(), page_size=10).jobs] == [export_id]


def test_another_principal_with_a_deleted_exports_request_id_learns_nothing(
    service: ExportService, store: SQLiteJobStore, spec: ExportSpec
) -> None:
    # Request ids are each principal's own: the same id is another principal's new
    # export, never the deleted one, nor a refusal that would tell it was used.
    export_id = deleted(service, store, spec)
    job = service.create(spec, "req-d", principal=MALLORY)
    assert job.id != export_id and job.state == JobState.QUEUED
    again = service.create(spec, "req-d", principal=MALLORY)
    assert again.id == job.id  # her own retry finds her own export
    with pytest.raises(InvalidArgument) as raised:
        service.create(replace(spec, query=QuerySpec()), "req-d", principal=MALLORY)
    assert export_id not in str(raised.value) and "deleted" not in str(raised.value)


def test_a_put_with_another_schema_and_a_deleted_exports_request_id_is_refused(
    tmp_path: Path, service: ExportService, store: SQLiteJobStore
) -> None:
    # A DoPut's spec holds its stream's schema: another schema is another request, yet
    # the put learns the export is deleted (and needs a new requestId), not that its id
    # was used for a different request.
    settings = load_settings(None, config(tmp_path), environ={})
    puts = FlightPuts(settings, store, service, EventHub())
    spec = ExportSpec(
        source=SourceSpec(""), destination=DestinationSpec(str(tmp_path / "out"), "events")
    )

    def put(schema: pa.Schema) -> dict[str, object]:
        first = PutMessage(schema_payload(schema))
        request = PutRequest(spec, "put-d")
        return next(puts.put(request, first, iter(()), lambda: True, ANONYMOUS))

    export_id = put(pa.schema([("id", pa.int64())]))["export_id"]
    assert isinstance(export_id, str)
    INBOXES.discard(export_id)
    store.mark_deleted(export_id, {JobState.QUEUED})
    with pytest.raises(FailedPrecondition) as raised:
        put(pa.schema([("name", pa.string())]))
    assert raised.value.code == ErrorCode.FAILED_PRECONDITION
    message = str(raised.value)
    assert export_id in message and "deleted" in message and "new requestId" in message


def test_the_schedule_request_id_prefix_is_the_servers(
    tmp_path: Path, service: ExportService, store: SQLiteJobStore, spec: ExportSpec
) -> None:
    # A "forbid" schedule names its next export schedule/<name>/<uid>/after-<last id>,
    # all visible to its readers: a caller taking that id would stop the schedule.
    taken = "schedule/nightly/0123abcd/after-none"
    package = replace(spec, subject=SubjectSpec("alice"))
    for asked in (spec, package):
        with pytest.raises(InvalidArgument) as raised:
            service.create(asked, taken, principal=ANONYMOUS)
        assert "schedule/ prefix is reserved for schedules" in str(raised.value)
    settings = load_settings(None, config(tmp_path), environ={})
    puts = FlightPuts(settings, store, service, EventHub())
    put_spec = ExportSpec(
        source=SourceSpec(""), destination=DestinationSpec(str(tmp_path / "out"), "events")
    )
    first = PutMessage(schema_payload(pa.schema([("id", pa.int64())])))
    with pytest.raises(InvalidArgument, match="reserved for schedules"):
        next(puts.put(PutRequest(put_spec, taken), first, iter(()), lambda: True, ANONYMOUS))
    assert not store.list(JobFilter(), page_size=10).jobs
    # The scheduler's own path still takes it.
    assert service.create_scheduled(spec, taken).id
