"""DoPut: an export whose source is the caller's stream of record batches.

The put creates (or, with a known requestId, finds) the export, answers first with the
rows committed so far, then feeds the batches to the export's inbox on a thread of its
own while it reports every durable chunk, and finally the manifest:

    {"export_id": ID, "committed_records": N}                     first, and per chunk
    {"export_id": ID, "committed_records": N, "state": "succeeded", "manifest_uri": URI}

`committed_records` counts the stream's rows (before any query filter) that are in
committed chunks: a caller whose stream broke puts again with the same requestId and
sends from that row on; rows the export had already taken are dropped, so every row is
exported once (server.pipeline.stream_source).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from sluice.server.errors import (
    ErrorCode,
    Interrupted,
    InvalidArgument,
    SluiceError,
    must_propagate,
)
from sluice.server.flight.ipc_codec import AnyPayload, read_batch, read_message, read_schema
from sluice.server.jobs.model import RESUMABLE_STATES, Job, JobState
from sluice.server.jobs.store import JobStore
from sluice.server.pipeline.stream_source import (
    INBOXES,
    STREAM_FORMAT,
    Inbox,
    put_batch,
    put_end,
    stream_uri,
)
from sluice.server.planning.spec import ExportSpec, SourceSpec
from sluice.server.principals import Principal
from sluice.server.service.events import ChunkCommitted, EventHub, Finished
from sluice.server.service.export_service import ExportService
from sluice.server.settings import Settings

_log = logging.getLogger("sluice.flight")
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class PutRequest:
    """The descriptor's command: a CreateExportRequest without a source."""

    spec: ExportSpec
    request_id: str


class JobFailed(SluiceError):
    """The export failed; the status is the export's own."""

    def __init__(self, job: Job) -> None:
        error = job.error
        super().__init__(f"export {job.id} failed: {error.message if error else 'unknown'}")
        self.code = ErrorCode(error.code) if error else ErrorCode.INTERNAL


def committed_rows(store: JobStore, export_id: str) -> int:
    """Rows of the stream in the export's committed chunks: where a put resumes."""
    chunks = store.chunks(export_id)
    return chunks[-1].source_end if chunks else 0


class FlightPuts:
    def __init__(
        self, settings: Settings, store: JobStore, service: ExportService, hub: EventHub
    ) -> None:
        self._settings = settings
        self._store = store
        self._service = service
        self._hub = hub

    def put(
        self,
        request: PutRequest,
        first: AnyPayload,
        rest: Iterator[AnyPayload],
        caller_alive: Callable[[], bool],
        principal: Principal,
    ) -> Iterator[dict[str, Any]]:
        """Run one DoPut for `principal` (it owns the export; a resume needs it to);
        yields the app_metadata of each PutResult."""
        schema = read_schema(first)
        source = SourceSpec(uri=stream_uri(schema), format=STREAM_FORMAT)
        # The records arrive here, so the export runs here when replicas share the job
        # store: a put resumed on another replica moves it there (refused while the
        # first still runs it). One daemon per SQLite store runs everything anyway.
        shared = self._settings.job_store_kind != "sqlite"
        here = self._settings.replica_id if shared else ""
        job = self._service.create(
            replace(request.spec, source=source),
            request.request_id,
            principal=principal,
            runs_on=here,
        )
        if job.state == JobState.SUCCEEDED:
            yield self._final(job)
            return
        if shared:
            self._store.pin(job.id, here)
        if job.state in RESUMABLE_STATES:
            job = self._service.resume(job.id, principal)
        inbox = INBOXES.inbox(job.id, self._settings.flight_inflight_batches)
        generation = inbox.attach()
        # Acks follow chunk commits and the end; progress would only wake this thread.
        with self._hub.subscribe(job.id, progress=False) as subscription:
            position = committed_rows(self._store, job.id)
            yield {"export_id": job.id, "committed_records": position}
            feeder = _Feeder(inbox, generation, schema, rest, position)
            feeder.start()
            try:
                while caller_alive():
                    feeder.raise_failure()
                    inbox.check_not_rewound(generation)
                    event = subscription.next(_POLL_SECONDS)
                    if isinstance(event, ChunkCommitted):
                        yield {"export_id": job.id, "committed_records": event.chunk.source_end}
                        continue
                    final = event.job if isinstance(event, Finished) else None
                    if event is None:
                        current = self._store.get(job.id)
                        final = current if current.state.final else None
                    if final is not None:
                        yield self._finish(final)
                        return
            finally:
                feeder.stop()

    def _finish(self, job: Job) -> dict[str, Any]:
        if job.state == JobState.SUCCEEDED:
            return self._final(job)
        if job.state == JobState.CANCELLED:
            raise Interrupted(f"export {job.id} was cancelled")
        raise JobFailed(job)

    def _final(self, job: Job) -> dict[str, Any]:
        return {
            "export_id": job.id,
            "committed_records": committed_rows(self._store, job.id),
            "state": "succeeded",
            "manifest_uri": job.manifest_uri,
        }


class _Feeder:
    """Reads the caller's messages on its own thread (the RPC thread sends the acks) and
    queues their batches, numbered from `position`, in the export's inbox."""

    def __init__(
        self,
        inbox: Inbox,
        generation: int,
        schema: pa.Schema,
        messages: Iterator[AnyPayload],
        position: int,
    ) -> None:
        self._inbox = inbox
        self._generation = generation
        self._schema = schema
        self._messages = messages
        self._position = position
        self._stopped = threading.Event()
        self._failure: SluiceError | None = None
        self._thread = threading.Thread(target=self._run, name="flight-put", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _alive(self) -> bool:
        return not self._stopped.is_set()

    def _run(self) -> None:
        try:
            for payload in self._messages:
                if self._stopped.is_set():
                    return
                self._take(payload)
            put_end(self._inbox, self._generation, self._position, self._alive)
        except SluiceError as exc:
            if not self._stopped.is_set():
                self._failure = exc
        except BaseException as exc:
            if must_propagate(exc):
                raise
            # The caller went away (the call was cancelled): a put with the same
            # requestId resumes the export; until then it waits (flight_put_idle_timeout).
            _log.info("a DoPut stream broke after row %d (%s)", self._position, type(exc).__name__)

    def _take(self, payload: AnyPayload) -> None:
        message = read_message(payload)
        if message.type == "schema":
            if read_schema(payload) != self._schema:
                raise InvalidArgument(
                    "FlightData", "the schema changed mid-stream; a DoPut carries one schema"
                )
            return
        if message.type != "record batch":
            raise InvalidArgument(
                "FlightData",
                f"{message.type} messages are not accepted: send dictionary columns decoded",
            )
        batch = read_batch(message, self._schema)
        if not batch.num_rows:
            return
        put_batch(self._inbox, self._generation, self._position, batch, self._alive)
        self._position += batch.num_rows


def check_put_has_no_source(has_source: bool) -> None:
    """The stream is the source: a command naming another one is a mistake."""
    if has_source:
        raise InvalidArgument(
            "FlightDescriptor.cmd.spec.source", "a DoPut's records are its source; leave it out"
        )
