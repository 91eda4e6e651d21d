"""A resume (a DoPut with the same requestId) arriving just as the export's run ends on
another put's refused input (server.flight.puts, server.pipeline.stream_source). Real
FlightPuts, export service, runner and pipeline on a SQLite job store and a local
folder; the store holds the run's FAILED write at each of the two moments that raced,
until the resume has attached (its subscription to the export's events):

- before the write: the resume found the export running and joined the ending run,
  then failed with the other put's INVALID_ARGUMENT (a permanent code: no retry);
- after the write, before the run's end discarded its inbox: the resume queued the
  export again but fed the inbox that was then discarded, and the run's FAILED event,
  published after, ended it with the other put's error.

Either way the resume must finish the export with every row once."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.server.errors import ErrorCode, InvalidArgument
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import batch_payload, schema_payload
from sluice.server.flight.puts import FlightPuts, JobFailed, PutMessage, PutRequest
from sluice.server.jobs.model import AttemptEnd, Job, JobError, JobState, Lease
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub, Subscription
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from tests.integration.helpers import read_export

SCHEMA = pa.schema([("id", pa.int64())])
ROWS = 40
WAIT = 120.0


class _HeldStore(SQLiteJobStore):
    """The real store; its first write of FAILED waits for `release`, `at` "before" or
    "after" the write itself."""

    def __init__(self, at: str) -> None:
        super().__init__(":memory:")
        self.at = at
        self.failing = threading.Event()
        self.release = threading.Event()

    def transition(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        to: JobState,
        *,
        error: JobError | None = None,
        manifest_uri: str | None = None,
        lease: Lease | None = None,
        attempt: AttemptEnd | None = None,
    ) -> Job:
        held = to == JobState.FAILED and not self.failing.is_set()
        if held and self.at == "before":
            self._hold()
        job = super().transition(
            job_id,
            allowed_from,
            to,
            error=error,
            manifest_uri=manifest_uri,
            lease=lease,
            attempt=attempt,
        )
        if held and self.at == "after":
            self._hold()
        return job

    def _hold(self) -> None:
        self.failing.set()
        assert self.release.wait(WAIT), "the test never released the store"


class _CountingHub(EventHub):
    """The real hub, counting subscriptions (a put subscribes once it attached, or
    found the run ending)."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions = 0
        self.subscribed = threading.Condition()

    def subscribe(
        self, job_id: str, *, progress: bool = True, hub_nudges: bool = True
    ) -> AbstractContextManager[Subscription]:
        with self.subscribed:
            self.subscriptions += 1
            self.subscribed.notify_all()
        return super().subscribe(job_id, progress=progress, hub_nudges=hub_nudges)


def _batch(start: int, stop: int) -> PutMessage:
    rows = pa.record_batch([pa.array(range(start, stop), pa.int64())], schema=SCHEMA)
    return PutMessage(batch_payload(rows))


def _refused() -> Iterator[PutMessage]:
    yield _batch(0, 10)
    other = pa.schema([("id", pa.string())])
    yield PutMessage(schema_payload(other))  # "the schema changed mid-stream"


def _whole() -> Iterator[PutMessage]:
    yield _batch(0, ROWS // 2)
    last = _batch(ROWS // 2, ROWS)
    yield PutMessage(last.payload, end_of_records=True)


@pytest.mark.parametrize("at", ["before", "after"])
def test_a_resume_racing_the_end_of_a_refused_put_finishes_the_export(
    tmp_path: Path, at: str
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [exports],
            "max_concurrent_exports": 1,
            "flight_put_idle_timeout": WAIT,
        },
        environ={},
    )
    store, hub = _HeldStore(at), _CountingHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    runner = ExportRunner(context)
    service = ExportService(settings, store, runner, hub)
    puts = FlightPuts(settings, store, service, hub)
    spec = ExportSpec(source=SourceSpec(""), destination=DestinationSpec(str(exports), "events"))
    announce = PutMessage(schema_payload(SCHEMA), end_of_records=False)
    runner.start()
    try:
        first = puts.put(PutRequest(spec, "race"), announce, _refused(), lambda: True, ANONYMOUS)
        # The refusal itself when the put sees it first, or the export that failed on it
        # (the store holds the run once FAILED is written): INVALID_ARGUMENT either way.
        with pytest.raises((InvalidArgument, JobFailed), match="schema changed mid-stream") as no:
            list(first)
        assert no.value.code == ErrorCode.INVALID_ARGUMENT
        assert store.failing.wait(WAIT), "the refused put's export never failed"
        resumed: list[dict[str, Any]] = []
        failure: list[BaseException] = []

        def resume() -> None:
            again = puts.put(PutRequest(spec, "race"), announce, _whole(), lambda: True, ANONYMOUS)
            try:
                resumed.extend(again)
            except BaseException as exc:  # reported by the test
                failure.append(exc)

        with hub.subscribed:
            before = hub.subscriptions
            thread = threading.Thread(target=resume, daemon=True)
            thread.start()
            assert hub.subscribed.wait_for(lambda: hub.subscriptions > before, WAIT)
        store.release.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "the resumed put never ended"
        assert failure == [], failure
        final = resumed[-1]
        assert final["state"] == "succeeded" and final["committed_records"] == ROWS, resumed
        assert store.get(str(final["export_id"])).state == JobState.SUCCEEDED
        records = read_export(str(final["manifest_uri"]))
        assert records["id"].to_list() == list(range(ROWS))
    finally:
        store.release.set()
        runner.shutdown(5)
