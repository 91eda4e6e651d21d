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

The records end where the caller says so, never where its connection happened to end
(the end commits the export, so a broken stream taken for the end would be a prefix
exported as the whole, and the caller's retry would find it succeeded):

- Marked: a message whose app_metadata is `{"end_of_records": true}` (on the last
  batch, or alone) ends the records; the stream then ends (half-close). A message after
  it is INVALID_ARGUMENT. A put that announced the marker (`{"end_of_records": false}`
  on an earlier message, the first one included) ends only there: a stream that stops
  without it is broken however it stopped, even by a half-close, which is what
  pyarrow's writer sends when it is closed or collected after the caller's own
  exception (a clean half-close is INVALID_ARGUMENT to the caller, who is still there).
  sluice.flight.end_of_records; Sluice's client announces and marks every put.
- Unmarked (plain Flight clients): the half-close ends the records if the call is still
  live UNMARKED_END_GRACE_SECONDS later. grpcio ends the request iterator of a call
  whose client vanished (killed, connection dropped) sometimes as if it had half-closed
  and marks the call cancelled only just after (its receive-message and receive-close
  events race: grpc/grpc#33038; measured under 3 ms apart); a half-closed call stays
  active until the daemon answers. A client whose own code fails mid-put cannot be told
  from one that finished this way: such clients should mark the end.

A stream that broke leaves the export waiting for a put with the same requestId
(flight_put_idle_timeout), which resumes it from `committed_records`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

import pyarrow as pa

from sluice.server.errors import (
    ErrorCode,
    FailedPrecondition,
    Interrupted,
    InvalidArgument,
    RequestIdInUse,
    SluiceError,
    must_propagate,
)
from sluice.server.flight.ipc_codec import AnyPayload, BatchReader, read_message, read_schema
from sluice.server.flight.parked_puts import park_or_end
from sluice.server.jobs.model import RESUMABLE_STATES, Job, JobState
from sluice.server.jobs.store import JobStore
from sluice.server.pipeline.stream_source import (
    INBOXES,
    STREAM_FORMAT,
    ExportNotReading,
    Inbox,
    put_batch,
    put_end,
    stream_uri,
)
from sluice.server.planning.authorization import may_see
from sluice.server.planning.spec import ExportSpec, SourceSpec
from sluice.server.principals import Principal
from sluice.server.service.events import ChunkCommitted, EventHub, Finished
from sluice.server.service.export_service import ExportService
from sluice.server.settings import Settings

_log = logging.getLogger("sluice.flight")
_POLL_SECONDS = 0.5
#: How long a put whose stream ended without the end_of_records marker must stay live
#: before its end is taken for the end of the records (see the module docstring): the
#: cancellation of a vanished client follows its iterator's end within milliseconds.
UNMARKED_END_GRACE_SECONDS: Final = 1.0
_GRACE_POLL_SECONDS = 0.01


@dataclass(frozen=True)
class PutMessage:
    """One FlightData of a put: its IPC message (None: a message with app_metadata
    alone) and what its app_metadata says of the end of the records (see
    sluice.flight.end_of_records: True, False or None)."""

    payload: AnyPayload | None
    end_of_records: bool | None = None


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
        first: PutMessage,
        rest: Iterator[PutMessage],
        caller_alive: Callable[[], bool],
        principal: Principal,
    ) -> Iterator[dict[str, Any]]:
        """Run one DoPut for `principal` (it owns the export; a resume needs it to);
        yields the app_metadata of each PutResult. `first` holds the schema;
        `caller_alive` says whether the call is still live (not cancelled)."""
        if first.payload is None:
            raise InvalidArgument("FlightData", "a DoPut starts with its descriptor and schema")
        schema = read_schema(first.payload)
        source = SourceSpec(uri=stream_uri(schema), format=STREAM_FORMAT)
        # The records arrive here, so the export runs here when replicas share the job
        # store: a put resumed on another replica moves it there (refused while the
        # first still runs it). One daemon per SQLite store runs everything anyway.
        shared = self._settings.job_store_kind != "sqlite"
        here = self._settings.replica_id if shared else ""
        try:
            job = self._service.create(
                replace(request.spec, source=source),
                request.request_id,
                principal=principal,
                runs_on=here,
                pushed=True,
            )
        except RequestIdInUse as exc:
            raise self._other_schema(request, source, principal) or exc from None
        if job.state == JobState.DELETED:
            raise _deleted(job, request.request_id)
        if shared and job.state != JobState.SUCCEEDED:
            self._store.pin(job.id, here)
        joined = self._join(job, request.request_id, caller_alive, principal)
        if joined is None:
            return  # the caller went away while the export's last run ended
        if isinstance(joined, Job):
            yield self._finish(joined)
            return
        job, inbox, generation = joined
        # Acks follow chunk commits and the end; progress would only wake this thread.
        with self._hub.subscribe(job.id, progress=False) as subscription:
            position = committed_rows(self._store, job.id)
            yield {"export_id": job.id, "committed_records": position}
            export_id = job.id

            def export_live() -> bool:
                return not self._store.get(export_id).state.final

            def broke() -> None:
                most = self._settings.flight_parked_puts_per_principal
                park_or_end(inbox, export_id, generation, principal.name, most)

            feeder = _Feeder(
                _FeederInput(schema, first.end_of_records, rest, caller_alive, export_live),
                inbox,
                generation,
                position,
                broke,
            )
            feeder.start()
            try:
                while caller_alive():
                    feeder.raise_failure()
                    inbox.check_not_rewound(generation)
                    event = subscription.next(_POLL_SECONDS)
                    if isinstance(event, ChunkCommitted):
                        yield {"export_id": job.id, "committed_records": event.chunk.source_end}
                        continue
                    if isinstance(event, Finished) and event.job.revision < job.revision:
                        continue  # the end of a run before the one this put joined
                    final = event.job if isinstance(event, Finished) else None
                    if event is None:
                        current = self._store.get(job.id)
                        final = current if current.state.final else None
                    if final is not None:
                        yield self._finish(final)
                        return
            finally:
                feeder.stop()

    def _join(
        self,
        job: Job,
        request_id: str,
        caller_alive: Callable[[], bool],
        principal: Principal,
    ) -> tuple[Job, Inbox, int] | Job | None:
        """Attach this put to the export's inbox, resuming the export first when it
        ended failed or cancelled. Returns the job as read once attached (a run's end
        with an older revision is an earlier run's), the inbox and this put's
        generation; the job alone when it succeeded, or when the run this put resumed
        ended before the put attached (its end is the put's to report, and no feeder
        fills an inbox nobody reads); None when the caller went away.

        A put meets the run it joins only while that run reads: a run that ended on
        another put's refused input (or on flight_put_idle_timeout) closed its inbox in
        the step that decided it, so the put waits for the store to record that end and
        then resumes the export (the store's compare-and-set: of two resumes one wins),
        rather than joining a run that is ending and failing with the other put's error."""
        depth = self._settings.flight_inflight_batches
        while True:
            if job.state == JobState.SUCCEEDED:
                return job
            if job.state == JobState.DELETED:
                raise _deleted(job, request_id)
            resumed = job.state in RESUMABLE_STATES
            if resumed:
                try:
                    job = self._service.resume(job.id, principal, pushed=True)
                except FailedPrecondition:
                    job = self._store.get(job.id)  # another resume (or a delete) came first
                    if job.state in RESUMABLE_STATES:
                        raise
                    continue
            inbox = INBOXES.inbox(job.id, depth)
            generation = inbox.attach()
            job = self._store.get(job.id)
            # A run this put resumed that ended already is this put's to report (looping
            # would resume an export that fails at once again and again).
            if generation and resumed and job.state.final:
                INBOXES.discard(job.id, job.revision)  # the inbox made since its end
                return job
            if generation and not job.state.final:
                return job, inbox, generation
            if not generation and not self._run_ended(job.id, inbox, caller_alive):
                return None
            job = self._store.get(job.id)

    def _run_ended(self, export_id: str, closed: Inbox, caller_alive: Callable[[], bool]) -> bool:
        """Wait until the run that closed `closed` ended (the store has its final state,
        or a resume replaced the inbox). False when the caller went away first."""
        with self._hub.subscribe(export_id, progress=False) as subscription:
            while INBOXES.current(export_id) is closed:
                if self._store.get(export_id).state.final:
                    return True
                if not caller_alive():
                    return False
                subscription.next(_POLL_SECONDS)
        return True

    def _finish(self, job: Job) -> dict[str, Any]:
        if job.state == JobState.SUCCEEDED:
            return self._final(job)
        if job.state == JobState.CANCELLED:
            raise Interrupted(f"export {job.id} was cancelled")
        raise JobFailed(job)

    def _other_schema(
        self, request: PutRequest, source: SourceSpec, principal: Principal
    ) -> InvalidArgument | None:
        """When a resumed put's request differs from its export's only by the stream's
        schema: an error that says so (else "already used for a different export
        request" leaves the client guessing). None otherwise, or for an export the
        caller may not see (which says nothing of it)."""
        existing = self._store.find_by_request_id(request.request_id, principal.name)
        if existing is None or not may_see(principal, existing):
            return None
        stored = existing.spec
        if stored.source.format != STREAM_FORMAT or stored.source.uri == source.uri:
            return None
        if (
            replace(stored, source=source).fingerprint()
            != replace(request.spec, source=source).fingerprint()
        ):
            return None
        return InvalidArgument(
            "FlightData",
            f"the stream's schema differs from the one export {existing.id} of requestId "
            f"'{request.request_id}' was started with; resume it with that schema, or put "
            "with a new requestId",
        )

    def _final(self, job: Job) -> dict[str, Any]:
        return {
            "export_id": job.id,
            "committed_records": committed_rows(self._store, job.id),
            "state": "succeeded",
            "manifest_uri": job.manifest_uri,
        }


@dataclass(frozen=True)
class _FeederInput:
    """What a put's feeder reads: the stream's schema, what its first message said of
    the end of the records, the messages after it, whether the call is live and whether
    the export is (not ended)."""

    schema: pa.Schema
    first_says: bool | None
    messages: Iterator[PutMessage]
    caller_alive: Callable[[], bool]
    export_live: Callable[[], bool]


class _Feeder:
    """Reads the caller's messages on its own thread (the RPC thread sends the acks) and
    queues their batches, numbered from `position`, in the export's inbox, then the end
    of the records once the caller said so (see the module docstring)."""

    def __init__(
        self,
        source: _FeederInput,
        inbox: Inbox,
        generation: int,
        position: int,
        broke: Callable[[], None],
    ) -> None:
        self._source = source
        self._inbox = inbox
        self._generation = generation
        self._position = position
        #: Told when the stream broke before the end of its records (the export then
        #: waits for a resume: server.flight.parked_puts).
        self._broke = broke
        #: The caller announced that it marks the end; it marked it.
        self._announced = False
        self._marked = False
        #: Record batch messages taken in this call (a refused one is named by its index).
        self._batches = 0
        self._reader = BatchReader(source.schema)
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
            self._note(self._source.first_says)
            for message in self._source.messages:
                if self._stopped.is_set():
                    break
                self._take_or_refuse(message)
            if self._stopped.is_set():
                # The put ended the call (grpcio then ends its requests cleanly).
                self._call_ended()
                return
            ended = self._stream_ended()
        except ExportNotReading:
            self._call_ended()  # while a batch waited for room in the inbox
            return
        except SluiceError as exc:
            self._fail(exc)
            return
        except BaseException as exc:
            if must_propagate(exc):
                raise
            # The call was cancelled (the caller went away): a put with the same
            # requestId resumes the export; until then it waits (flight_put_idle_timeout).
            # A caller that had marked the end said all it had to; only its half-close
            # is missing.
            _log.info("a DoPut stream broke after row %d (%s)", self._position, type(exc).__name__)
            ended = self._marked
            if not ended:
                self._broke()
        if ended:
            # Once the caller marked its end, the end is the export's, whatever became of
            # the call: it waits for room in the inbox as long as the export lives, not
            # only while the RPC does (a call that broke just after the marker stops this
            # feeder; its end, dropped, left the export waiting for a resume).
            alive = self._source.export_live if self._marked else self._alive
            try:
                put_end(self._inbox, self._generation, self._position, alive)
            except ExportNotReading:
                self._call_ended()  # an unmarked end dropped with its call
            except SluiceError as exc:
                self._fail(exc)

    def _call_ended(self) -> None:
        """The put ended the call before the caller marked the end of its records: the
        caller went away (or the export ended, which leaves nothing waiting), so the
        stream broke here, wherever this feeder was: between two batches, or with one
        waiting for room in a full inbox (no refusal: the caller sent nothing wrong)."""
        if not self._marked:
            self._broke()

    def _fail(self, exc: SluiceError) -> None:
        if not self._stopped.is_set():
            self._failure = exc

    def _stream_ended(self) -> bool:
        """The caller half-closed (or seemed to): whether its records ended here."""
        if self._marked:
            return True
        if self._announced:
            self._broke()
            raise InvalidArgument(
                "FlightData.app_metadata",
                f"the stream ended after row {self._position} without the end_of_records "
                "marker this put announced: the rows sent are not the whole export; put "
                "again with the same requestId to send the rest",
            )
        if self._caller_stays_through_the_grace():
            return True
        self._broke()
        _log.info(
            "a DoPut stream without the end_of_records marker ended after row %d and its "
            "call was cancelled just after: the caller went away, its records did not end",
            self._position,
        )
        return False

    def _caller_stays_through_the_grace(self) -> bool:
        # The grace is no idle stream: the pipeline's reader waits through it however
        # short flight_put_idle_timeout is (it would cancel every plain put at its end).
        with self._inbox.end_pending():
            deadline = time.monotonic() + UNMARKED_END_GRACE_SECONDS
            while self._source.caller_alive():
                if time.monotonic() >= deadline:
                    return True
                time.sleep(_GRACE_POLL_SECONDS)
            return False

    def _note(self, says: bool | None) -> None:
        if says is not None:
            self._announced = True
            self._marked = says

    def _take_or_refuse(self, message: PutMessage) -> None:
        try:
            self._take(message)
        except ExportNotReading:
            raise  # no refusal: the put ended the call while the batch waited for room
        except SluiceError as exc:
            # The caller sent what cannot be taken: its export fails with the same error
            # (a put with the same requestId resumes it), never waits for a resume.
            self._inbox.refuse(self._generation, exc)
            raise

    def _take(self, message: PutMessage) -> None:
        if self._marked:
            raise InvalidArgument(
                "FlightData", "no message may follow the one with end_of_records true"
            )
        if message.payload is not None:
            self._take_payload(message.payload)
        # Only once its batch is queued: a stream that breaks before then (the batch
        # could not be read, say) ended without it, and is no end.
        self._note(message.end_of_records)

    def _take_payload(self, payload: AnyPayload) -> None:
        schema = self._source.schema
        message = read_message(payload)
        if message.type == "schema":
            if read_schema(payload) != schema:
                raise InvalidArgument(
                    "FlightData", "the schema changed mid-stream; a DoPut carries one schema"
                )
            return
        if message.type != "record batch":
            raise InvalidArgument(
                "FlightData",
                f"{message.type} messages are not accepted: send dictionary columns decoded",
            )
        index = self._batches
        self._batches += 1
        batch = self._reader.read(message, f"batch {index} of this DoPut")
        if not batch.num_rows:
            return
        put_batch(self._inbox, self._generation, self._position, batch, self._alive)
        self._position += batch.num_rows


def _deleted(job: Job, request_id: str) -> FailedPrecondition:
    """A put of a deleted export: its chunks are gone and it never resumes (without this
    the put was pinned, fed an inbox nobody drains, acked and then failed with the
    export's old error, a transient one a client retries in vain)."""
    return FailedPrecondition(
        f"export {job.id} of requestId '{request_id}' was deleted and "
        "cannot be resumed; put again with a new requestId"
    )


def check_put_has_no_source(has_source: bool, on_bad_rows: str = "") -> None:
    """The stream is the source: a command naming another one is a mistake. So is one
    asking how to treat bad rows: on_bad_rows is about reading a source (a file's row
    that cannot be parsed, a database's value the export cannot hold), while a put's
    rows arrive as Arrow batches of the put's own schema, each checked whole (a batch
    of another schema is refused) and acknowledged by count. A row skipped in a put
    would be acknowledged as committed yet stored nowhere: the caller keeps it instead."""
    if on_bad_rows:
        raise InvalidArgument(
            "FlightDescriptor.cmd.spec.source.on_bad_rows",
            "a DoPut's records are Arrow batches taken whole, with no rows to skip; leave it out",
        )
    if has_source:
        raise InvalidArgument(
            "FlightDescriptor.cmd.spec.source", "a DoPut's records are its source; leave it out"
        )
