"""Where a DoPut's records end (server.flight.puts): where the caller said so, never where
its call happened to stop. A put runs on the real event hub, export service and SQLite
job store; its request stream ends as grpcio's server ends one (cleanly, or raising
RpcError) and the call turns inactive when grpcio says so. Whether the records ended is
read off the export's inbox by the pipeline's own reader (read_stream): it returns at
the end of the records, and raises StreamAbandoned when no end came."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
import pyarrow as pa
import pytest

from sluice.flight.end_of_records import ANNOUNCEMENT, MARKER, says_end_of_records
from sluice.server.errors import InvalidArgument, SluiceError
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import Payload, batch_payload, schema_payload
from sluice.server.flight.puts import (
    UNMARKED_END_GRACE_SECONDS,
    FlightPuts,
    PutMessage,
    PutRequest,
)
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stream_source import StreamAbandoned, StreamRead, read_stream
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink

SCHEMA = pa.schema([("id", pa.int64())])
#: How long the reader waits for the end before it counts as never coming.
IDLE_SECONDS = UNMARKED_END_GRACE_SECONDS + 2.0
#: How long after a vanished client's request stream ends grpcio marks its call cancelled
#: (measured under 3 ms: the receive-message and receive-close events race,
#: grpc/grpc#33038); a little more here.
CANCELLED_AFTER_SECONDS = 0.02


def rows(start: int, count: int, app_metadata: bytes = b"") -> PutMessage:
    batch = pa.record_batch([pa.array(range(start, start + count), pa.int64())], schema=SCHEMA)
    return PutMessage(batch_payload(batch), says_end_of_records(app_metadata))


def metadata(app_metadata: bytes) -> PutMessage:
    return PutMessage(None, says_end_of_records(app_metadata))


@dataclass
class Call:
    """A DoPut call as grpcio's server shows it to the servicer: its request messages,
    which end cleanly (a half-close, or so grpcio says) or raise RpcError (cancelled),
    and whether it is active. `cancelled_after`: the call turns inactive that long after
    its messages ended (None: it stays active, a half-close)."""

    messages: list[PutMessage]
    cancelled_after: float | None = None
    broken: bool = False
    _ended_at: float | None = None
    _hung_up: threading.Event = field(default_factory=threading.Event)

    def requests(self) -> Iterator[PutMessage]:
        yield from self.messages
        self._ended_at = time.monotonic()
        if self.broken:
            raise grpc.RpcError()

    def is_active(self) -> bool:
        if self._hung_up.is_set():
            return False
        if self.broken and self._ended_at is not None:
            return False  # grpcio: a cancelled call is inactive once its requests broke
        if self.cancelled_after is None or self._ended_at is None:
            return True
        return time.monotonic() < self._ended_at + self.cancelled_after

    def hang_up(self) -> None:
        self._hung_up.set()


@dataclass
class Outcome:
    #: Row ids the pipeline read, and whether the records ended (else it was abandoned).
    ids: list[int]
    ended: bool
    #: What the put raised (the call's status), if anything.
    error: SluiceError | None
    #: Seconds from the put's first answer to the end of the records (or the reader
    #: giving up).
    seconds: float
    #: What the pipeline's read raised when the put was refused (the export's failure).
    refusal: SluiceError | None = None


#: The put's destination (nothing is written there: no worker runs the export).
EXPORTS = "/srv/exports"


@pytest.fixture
def puts(tmp_path: Path) -> FlightPuts:
    settings = load_settings(
        None, {"state_dir": tmp_path / "state", "allowed_roots": [EXPORTS]}, environ={}
    )
    store, hub = SQLiteJobStore(":memory:"), EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    service = ExportService(settings, store, ExportRunner(context), hub)  # no worker runs it
    return FlightPuts(settings, store, service, hub)


def run_put(
    puts: FlightPuts,
    call: Call,
    first_app_metadata: bytes = b"",
    idle_seconds: float = IDLE_SECONDS,
    read_delay: float = 0.0,
) -> Outcome:
    """Run the put on its own thread (the RPC thread) and read its records as the
    pipeline does."""
    spec = ExportSpec(source=SourceSpec(""), destination=DestinationSpec(EXPORTS, "events"))
    first = PutMessage(schema_payload(SCHEMA), says_end_of_records(first_app_metadata))
    put = puts.put(PutRequest(spec, "put-1"), first, call.requests(), call.is_active, ANONYMOUS)
    export_id = next(put)["export_id"]
    errors: list[SluiceError] = []

    def answer() -> None:
        try:
            for _ in put:
                pass
        except SluiceError as exc:
            errors.append(exc)

    rpc = threading.Thread(target=answer)
    rpc.start()
    began = time.monotonic()
    ids: list[int] = []
    refusal: SluiceError | None = None
    stream = StreamRead(export_id, SCHEMA, inflight_batches=4, idle_seconds=idle_seconds)
    try:
        for _, batch in read_stream(stream, 0):
            ids.extend(batch.column(0).to_pylist())
            time.sleep(read_delay)
        ended = True
    except StreamAbandoned:
        ended = False
    except InvalidArgument as exc:
        ended, refusal = False, exc
    seconds = time.monotonic() - began
    if refusal is not None:
        rpc.join(10)  # the put answers its refusal while the call is live
    call.hang_up()  # no worker finishes the export: the put ends with its call
    rpc.join(10)
    assert not rpc.is_alive()
    return Outcome(ids, ended, errors[0] if errors else None, seconds, refusal)


def test_a_half_close_ends_the_records_of_an_unmarked_put_after_the_grace(
    puts: FlightPuts,
) -> None:
    outcome = run_put(puts, Call([rows(0, 3), rows(3, 2)]))
    assert outcome.ended and outcome.ids == [0, 1, 2, 3, 4]
    assert outcome.seconds >= UNMARKED_END_GRACE_SECONDS
    assert outcome.error is None


def test_the_grace_of_an_unmarked_end_is_no_idle_stream(puts: FlightPuts) -> None:
    """flight_put_idle_timeout may be shorter than the grace (settings allow 0.5 s): the
    reader waits through the grace, else every plain put was cancelled at its end."""
    idle = UNMARKED_END_GRACE_SECONDS / 2
    outcome = run_put(puts, Call([rows(0, 3), rows(3, 2)]), idle_seconds=idle)
    assert outcome.ended and outcome.ids == [0, 1, 2, 3, 4]
    assert outcome.error is None


def test_an_unmarked_stream_whose_call_is_cancelled_just_after_it_ends_is_no_end(
    puts: FlightPuts,
) -> None:
    """grpcio ended the request stream of a client that was killed as if it had
    half-closed, then marked the call cancelled: the rows so far are not the export."""
    outcome = run_put(puts, Call([rows(0, 3), rows(3, 2)], CANCELLED_AFTER_SECONDS))
    assert not outcome.ended and outcome.ids == [0, 1, 2, 3, 4]


def test_an_unmarked_stream_that_breaks_is_no_end(puts: FlightPuts) -> None:
    outcome = run_put(puts, Call([rows(0, 3)], broken=True))
    assert not outcome.ended and outcome.ids == [0, 1, 2]


@pytest.mark.parametrize(
    "marked_last",
    [
        pytest.param(lambda: [rows(0, 3), rows(3, 2, MARKER)], id="on-the-last-batch"),
        pytest.param(lambda: [rows(0, 3), rows(3, 2), metadata(MARKER)], id="alone"),
    ],
)
def test_the_marker_ends_the_records_at_once(puts: FlightPuts, marked_last: Any) -> None:
    outcome = run_put(puts, Call(marked_last()), ANNOUNCEMENT)
    assert outcome.ended and outcome.ids == [0, 1, 2, 3, 4]
    assert outcome.seconds < UNMARKED_END_GRACE_SECONDS
    assert outcome.error is None


def test_a_marked_put_whose_call_is_cancelled_before_it_half_closes_ends_its_records(
    puts: FlightPuts,
) -> None:
    """The caller said its records ended; only its half-close is missing."""
    outcome = run_put(puts, Call([rows(0, 3), rows(3, 2, MARKER)], broken=True))
    assert outcome.ended and outcome.ids == [0, 1, 2, 3, 4]


def test_a_marker_whose_batch_was_not_queued_is_no_end(puts: FlightPuts) -> None:
    """The message carrying the marker broke the stream before its batch was queued (an
    unexpected error reading it): the records ended with that batch, so not here."""
    unreadable = PutMessage(Payload(cast(bytes, None), b""), says_end_of_records(MARKER))
    outcome = run_put(puts, Call([rows(0, 3), unreadable]), ANNOUNCEMENT)
    assert not outcome.ended and outcome.ids == [0, 1, 2]


def test_a_marked_put_whose_call_breaks_while_the_inbox_is_full_ends_its_records(
    puts: FlightPuts,
) -> None:
    """The end waits for room in the inbox (the pipeline reads slowly) after the call
    broke and the put returned: it is the export's, not the call's."""
    batches = [rows(i * 10, 10) for i in range(5)] + [rows(50, 10, MARKER)]
    outcome = run_put(puts, Call(batches, broken=True), ANNOUNCEMENT, read_delay=0.7)
    assert outcome.ended and outcome.ids == list(range(60))


@pytest.mark.parametrize("cancelled_after", [None, CANCELLED_AFTER_SECONDS])
def test_an_announced_put_that_stops_without_its_marker_is_no_end(
    puts: FlightPuts, cancelled_after: float | None
) -> None:
    """Even a clean half-close (pyarrow's writer sends one when an exception leaves
    `with writer:`) is a broken stream once the put said it would mark its end."""
    outcome = run_put(puts, Call([rows(0, 3), rows(3, 2)], cancelled_after), ANNOUNCEMENT)
    assert not outcome.ended and outcome.ids == [0, 1, 2, 3, 4]
    if cancelled_after is None:  # the caller is still there to be told
        assert isinstance(outcome.error, InvalidArgument)
        assert "without the end_of_records marker" in str(outcome.error)


def test_the_marker_may_come_without_an_announcement(puts: FlightPuts) -> None:
    outcome = run_put(puts, Call([rows(0, 2), metadata(ANNOUNCEMENT), rows(2, 1, MARKER)]))
    assert outcome.ended and outcome.ids == [0, 1, 2]


def test_a_message_after_the_marker_is_invalid_and_no_end(puts: FlightPuts) -> None:
    outcome = run_put(puts, Call([rows(0, 3, MARKER), rows(3, 2)]), ANNOUNCEMENT)
    assert not outcome.ended and outcome.ids == [0, 1, 2]
    assert isinstance(outcome.error, InvalidArgument)
    assert "no message may follow" in str(outcome.error)
    # The export fails with the refusal once it read the rows before (it waited for a
    # resume for flight_put_idle_timeout, holding a run slot).
    assert outcome.refusal is outcome.error


@pytest.mark.parametrize(
    ("app_metadata", "says"),
    [
        (b"", None),
        (b"not json", None),
        (b'{"other": 1}', None),
        (b"[1]", None),
        (b'{"end_of_records": true}', True),
        (b' {"end_of_records": false, "mine": "x"}', False),
    ],
)
def test_what_app_metadata_says_of_the_end(app_metadata: bytes, says: bool | None) -> None:
    assert says_end_of_records(app_metadata) is says


def test_an_end_of_records_that_is_no_boolean_is_refused() -> None:
    with pytest.raises(ValueError, match="must be true or false"):
        says_end_of_records(b'{"end_of_records": "yes"}')


@pytest.mark.parametrize(
    "app_metadata",
    [
        b"{'end_of_records': true}",
        b'{"end_of_records": true',
        b'["end_of_records"]',
        b"end_of_records",
    ],
)
def test_a_marker_that_is_no_json_object_is_refused(app_metadata: bytes) -> None:
    """Taken for a plain put's own metadata, a marker written wrong would end the put at
    its half-close, what the marker is there to avoid."""
    with pytest.raises(ValueError, match="names end_of_records but is no JSON object"):
        says_end_of_records(app_metadata)
