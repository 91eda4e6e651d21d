"""Record batches pushed by a caller (Arrow Flight DoPut) as a pipeline source.

A stream export's source URI is `flight:` followed by its Arrow schema (IPC-serialised,
base64url), so a restarted daemon plans it again from the stored spec alone, and a
resumed put with another schema is a different request. Its rows are numbered in the
order the caller sent them; the position of a resumed export is the number of rows
committed in chunks, which the put announces to the caller, who sends from there.

The put (an RPC thread) and the pipeline (a runner thread) meet in an `Inbox` per export,
a bounded queue of at most `flight_inflight_batches` batches: a full inbox blocks the
put, which stops reading from the network, so HTTP/2 flow control holds the client.
Every batch carries its first row position, so rows the pipeline already took (a put
resumed while the pipeline still ran) are dropped here: each row is exported once.

A retried attempt (a transient failure: storage, say) reads again from the rows
committed in chunks, but the rows after them were already taken out of the inbox by the
failed attempt. It then *rewinds* the inbox: the batches that put queued are dropped, and
the put ends `UNAVAILABLE` (`PutRewound`), so its caller resumes with a new put,
which is told the committed rows and sends from there. Until it does, the attempt waits
as for any batch (`flight_put_idle_timeout`). A stream's end beyond the rows the attempt
has read is a gap too, never the end of the export.
"""

from __future__ import annotations

import base64
import binascii
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from sluice.server.errors import (
    Abandoned,
    FailedPrecondition,
    Interrupted,
    InvalidArgument,
    SluiceError,
    Unavailable,
)
from sluice.server.pipeline.empty_tables import empty_table
from sluice.server.pipeline.fixed_offsets import utc_schema
from sluice.server.pipeline.polars_panics import POLARS_FAILURES

#: Source URI scheme of an export whose records a caller pushes (DoPut).
STREAM_SCHEME = "flight:"
#: The source format such an export records in its manifest.
STREAM_FORMAT = "flight"
_POLL_SECONDS = 0.2


class StreamAbandoned(Abandoned):
    """No put delivered a batch for `flight_put_idle_timeout` seconds: the export ends as
    cancelled (committed chunks stay; a put with the same request id resumes it)."""


class PutSuperseded(FailedPrecondition):
    """A newer put of the same export took over; this one must stop sending."""


class ExportNotReading(FailedPrecondition):
    """The export stopped (failed, cancelled, succeeded) while the put was sending."""


class PutRewound(Unavailable):
    """A retried attempt needs rows this put already sent to the failed one: the put ends
    so its caller resumes (a DoPut with the same requestId) from the committed rows."""

    def __init__(self) -> None:
        super().__init__(
            "the export's attempt was retried from its committed rows after a transient "
            "failure; resume the put with the same requestId to send the rows after them"
        )


def stream_uri(schema: pa.Schema) -> str:
    """The source URI of a stream export with records of `schema`."""
    encoded = base64.urlsafe_b64encode(schema.serialize().to_pybytes()).decode("ascii")
    return STREAM_SCHEME + encoded


def is_stream_uri(uri: str) -> bool:
    return uri.startswith(STREAM_SCHEME)


def schema_of(uri: str) -> pa.Schema:
    """The Arrow schema a stream URI carries; InvalidArgument when it carries none."""
    try:
        data = base64.urlsafe_b64decode(uri[len(STREAM_SCHEME) :].encode("ascii"))
        schema = pa.ipc.read_schema(pa.py_buffer(data))
    except (binascii.Error, ValueError, pa.ArrowException):
        raise InvalidArgument(
            "spec.source.uri",
            "a flight: source is created by Arrow Flight DoPut and carries its schema",
        ) from None
    if not len(schema):
        raise InvalidArgument("spec.source.uri", "the stream's schema has no columns")
    return schema


@dataclass(frozen=True)
class StreamRead:
    """What the pipeline needs to read a stream export."""

    #: The export id: where its puts and its pipeline meet.
    key: str
    schema: pa.Schema
    inflight_batches: int
    idle_seconds: float


@dataclass(frozen=True)
class _Batch:
    position: int
    batch: pa.RecordBatch
    #: The put that sent it (Inbox.attach).
    generation: int


@dataclass(frozen=True)
class _End:
    """The caller said its records ended: the export has `position` rows."""

    position: int
    generation: int


class Inbox:
    """One stream export's meeting point (see the module docstring)."""

    def __init__(self, depth: int, revision: int = 0) -> None:
        self._items: queue.Queue[_Batch | _End] = queue.Queue(maxsize=depth)
        self._lock = threading.Lock()
        #: The job's revision when a resume made this inbox (0: made by the run or a put
        #: of a run in progress): the end of an earlier run never discards it.
        self.revision = revision
        #: The run reading it ended it (another put's input was refused, or no put came
        #: for flight_put_idle_timeout): no put attaches any more (see attach).
        self._closed = False
        #: The principal whose put broke here and left the export waiting for a resume,
        #: until another put attaches (see InboxRegistry.park).
        self._parked_by: str | None = None
        self._generation = 0
        #: Puts of this generation or older were rewound (see PutRewound).
        self._rewound_up_to = 0
        #: How far reads of this export got (rows taken out of the inbox), and the put
        #: that sent the last item taken: a retried attempt that starts before it must
        #: have that put resend, even when nothing more arrives from it.
        self._taken_through = 0
        self._taken_generation = 0
        self._reading = False
        self._stop: threading.Event | None = None
        #: Puts whose stream ended and who are deciding whether their records ended
        #: (server.flight.puts: the grace of an unmarked end): the reader keeps waiting.
        self._ends_pending = 0
        #: The put whose input was refused and why (see refuse).
        self._refusal: tuple[int, SluiceError] | None = None

    def bind_stop(self, stop: threading.Event) -> None:
        """The running export's stop: a cancel or shutdown ends a wait for the next batch
        at once (an idle stream would otherwise hold it for flight_put_idle_timeout)."""
        self._stop = stop

    def attach(self) -> int:
        """Register a new put; any older one is superseded. Returns its generation, 0
        when the run reading this inbox already ended it (the put then waits for that
        run's end and resumes the export: server.flight.puts)."""
        with self._lock:
            if self._closed:
                return 0
            self._generation += 1
            self._parked_by = None
            return self._generation

    def retire(self) -> None:
        """A resume replaced this inbox: puts still feeding it are superseded."""
        with self._lock:
            self._generation += 1
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def park(self, generation: int, owner: str, room: bool) -> bool:
        """The put of `generation`, `owner`'s, broke: the export now waits for a resume on
        its behalf, when there is `room` (False: it may not). True when nothing waits for
        this put (a newer one took over, or the run ended)."""
        with self._lock:
            if generation != self._generation or self._closed:
                return True
            if room:
                self._parked_by = owner
            return room

    @property
    def parked_by(self) -> str | None:
        return self._parked_by

    def offer(self, generation: int, item: _Batch | _End, alive: Any = None) -> None:
        """Queue `item`, waiting while the inbox is full. Raises PutSuperseded when a
        newer put took over, and stops waiting once `alive()` turns false."""
        while True:
            if generation != self._generation:
                if generation <= self._rewound_up_to:
                    raise PutRewound()
                raise PutSuperseded("a newer put of this export took over")
            if alive is not None and not alive():
                raise ExportNotReading("the export is no longer reading this stream")
            try:
                self._items.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def refuse(self, generation: int, error: SluiceError) -> None:
        """The put of `generation` sent what cannot be read (its caller was told so):
        the export fails with `error` once it took the batches sent before, unless a
        newer put took over. Left waiting for a resume, it held a run slot (max_concurrent_exports)
        for flight_put_idle_timeout, and a few refused puts stalled every later one."""
        with self._lock:
            if generation == self._generation:
                self._refusal = (generation, error)

    @contextmanager
    def end_pending(self) -> Iterator[None]:
        """While a put decides whether its stream's end is the end of the records, the
        wait for the next item is no idle stream (flight_put_idle_timeout counts again
        from when it decided): its end is on its way, or its caller is gone."""
        with self._lock:
            self._ends_pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._ends_pending -= 1

    def note_taken(self, through: int, generation: int) -> None:
        """A read took the rows up to `through`, sent by the put of `generation`."""
        with self._lock:
            if through >= self._taken_through:
                self._taken_through, self._taken_generation = through, generation

    def rewind_if_behind(self, from_row: int) -> int:
        """For a read starting at `from_row`: when an earlier read already took rows past
        it (a failed attempt), rewind the puts that sent them. Returns the first
        generation whose items count (see rewind), 0 when none was rewound."""
        with self._lock:
            behind = from_row < self._taken_through
            generation = self._taken_generation
        return self.rewind(generation) if behind else 0

    def check_not_rewound(self, generation: int) -> None:
        """Raises PutRewound once the put of `generation` was rewound (a put that already
        ended its stream learns it here, while it waits for the export to finish)."""
        if generation <= self._rewound_up_to:
            raise PutRewound()

    def rewind(self, generation: int) -> int:
        """End the puts up to `generation` (their next offer, or check_not_rewound,
        raises PutRewound); a newer put already sending goes on. Returns the first
        generation whose items count again: the reader drops older ones."""
        with self._lock:
            self._rewound_up_to = max(self._rewound_up_to, generation)
            if self._generation <= generation:
                self._generation = generation + 1
        return generation + 1

    def take(self, idle_seconds: float) -> _Batch | _End:
        deadline = time.monotonic() + idle_seconds
        #: The newest put when the wait began: one attaching since is no idle stream.
        newest = self._generation
        while True:
            stop = self._stop
            if stop is not None and stop.is_set():
                raise Interrupted("export interrupted while waiting for the stream")
            refused = self._close_if_refused()
            if refused is not None:
                raise refused  # after the batches sent before it
            now = time.monotonic()
            if self._ends_pending:
                deadline = max(deadline, now + idle_seconds)
            left = deadline - now
            if left <= 0 and self._close_unless_attached_since(newest):
                raise StreamAbandoned(
                    f"no record batch arrived for {idle_seconds:g}s (flight_put_idle_timeout):"
                    " the put was abandoned; a DoPut with the same requestId resumes the export"
                )
            if left <= 0:  # a put attached just now: it gets its own idle timeout
                newest, deadline = self._generation, now + idle_seconds
                continue
            try:
                return self._items.get(timeout=min(left, _POLL_SECONDS))
            except queue.Empty:
                continue

    def _close_if_refused(self) -> SluiceError | None:
        """The refusal that ends the run now (the refused put is still the newest and
        the batches it sent before were taken), closing the inbox in the same step: a
        put attaching at that moment is not taken over by a run that is ending."""
        with self._lock:
            refusal = self._refusal
            if refusal is None or refusal[0] != self._generation or not self._items.empty():
                return None
            self._closed = True
            return refusal[1]

    def _close_unless_attached_since(self, newest: int) -> bool:
        """Close the inbox of a run abandoned by its puts, unless a put attached since
        its wait began (`newest`)."""
        with self._lock:
            if self._generation != newest:
                return False
            self._closed = True
            return True

    @property
    def reading(self) -> bool:
        return self._reading

    def set_reading(self, reading: bool) -> None:
        self._reading = reading


class InboxRegistry:
    """The inboxes of the stream exports of this process, by export id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, Inbox] = {}

    def inbox(self, key: str, depth: int) -> Inbox:
        with self._lock:
            found = self._inboxes.get(key)
            if found is None:
                found = self._inboxes[key] = Inbox(depth)
            return found

    def current(self, key: str) -> Inbox | None:
        with self._lock:
            return self._inboxes.get(key)

    def renew(self, key: str, depth: int, revision: int) -> Inbox:
        """A resume queued the export again at job `revision` (the store's compare-and-set
        from a failed or cancelled state): its next run reads a new inbox, whatever the
        last run left in the old one (a refusal, a closed inbox, batches)."""
        with self._lock:
            old = self._inboxes.get(key)
            fresh = self._inboxes[key] = Inbox(depth, revision)
        if old is not None:
            old.retire()
        return fresh

    def discard(self, key: str, revision: int | None = None) -> None:
        """Drop the inbox of an export that ended at job `revision` (None: whatever
        inbox it has). An inbox a resume made after that end is the next run's: kept."""
        with self._lock:
            found = self._inboxes.get(key)
            if found is not None and (revision is None or found.revision <= revision):
                del self._inboxes[key]

    def park(self, key: str, inbox: Inbox, generation: int, owner: str, most: int) -> bool:
        """The put of `generation` into `inbox`, `owner`'s, broke and its export waits
        for a resume, holding a run slot: count it as parked by `owner` unless `owner`
        already has `most` such exports here (0: no limit; False: the caller ends the
        export instead, resumable). True when nothing waits for it (a newer put took
        over, the export ended)."""
        with self._lock:
            if self._inboxes.get(key) is not inbox:
                return True
            parked = sum(
                1
                for other in self._inboxes.values()
                if other is not inbox and not other.closed and other.parked_by == owner
            )
            return inbox.park(generation, owner, room=not most or parked < most)


#: One per process: puts arrive on RPC threads, pipelines run on runner threads.
INBOXES = InboxRegistry()


def put_batch(
    inbox: Inbox, generation: int, position: int, batch: pa.RecordBatch, alive: Any = None
) -> None:
    """Queue the put's `batch`, whose first row is at `position` (see Inbox.offer)."""
    inbox.offer(generation, _Batch(position, batch, generation), alive)


def put_end(inbox: Inbox, generation: int, position: int, alive: Any = None) -> None:
    """The put's caller said its records end after `position` rows: what commits the
    export, so never sent for a stream that merely stopped (server.flight.puts)."""
    inbox.offer(generation, _End(position, generation), alive)


def polars_schema(schema: pa.Schema) -> pl.Schema:
    """The Polars schema of the stream's records (what the plan validates against).
    InvalidArgument naming the first column Polars cannot hold: the put's schema is the
    caller's, and the planner's message for unreadable sources names a file. A
    fixed-offset zone is read as UTC (fixed_offsets)."""
    schema = utc_schema(schema)
    for field in schema:
        if holds_decimal256(field.type):
            # Polars takes the type but panics on its values (no Int256): the export
            # failed at its first batch with an internal error.
            _refuse_column(field, "which the daemon cannot export; cast it to decimal128")
    try:
        frame = pl.from_arrow(empty_table(schema))
    except POLARS_FAILURES:  # Polars and pyarrow raise many types for a type they lack
        for field in schema:
            try:
                pl.from_arrow(empty_table(pa.schema([field])))
            except POLARS_FAILURES:  # as above
                _refuse_column(field, _UNSUPPORTED)
        raise
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


_UNSUPPORTED = (
    "which the daemon cannot export (union, run-end encoded and list_view columns are not "
    "supported); cast it or leave it out"
)


def holds_decimal256(data_type: pa.DataType) -> bool:
    """Whether the type holds an Arrow decimal256 at any depth (extension storage and
    dictionary values included): Polars takes it, then panics on its values."""
    if pa.types.is_decimal256(data_type):
        return True
    if isinstance(data_type, pa.ExtensionType):
        return holds_decimal256(data_type.storage_type)
    if pa.types.is_dictionary(data_type):
        return holds_decimal256(data_type.value_type)
    return any(holds_decimal256(data_type.field(i).type) for i in range(data_type.num_fields))


def _refuse_column(field: pa.Field, why: str) -> None:
    shown = str(field.type)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise InvalidArgument("FlightData", f"column {field.name!r} has type {shown}, {why}")


def read_stream(stream: StreamRead, from_row: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row position, batch) of the rows from `from_row` on, until a put ends the
    stream. Rows before `from_row` or already read are dropped. Raises StreamAbandoned
    after `idle_seconds` without a batch."""
    inbox = INBOXES.inbox(stream.key, stream.inflight_batches)
    inbox.set_reading(True)
    expected = from_row
    # Items of older generations were sent before a rewind: a failed attempt may have
    # taken rows past `from_row`, the stream's end too, so the put must resend them.
    counted_from = inbox.rewind_if_behind(from_row)
    try:
        while True:
            item = inbox.take(stream.idle_seconds)
            if item.generation < counted_from:
                continue
            if item.position > expected:
                # Rows expected..position went to an earlier attempt of this export:
                # the caller resends them (see PutRewound).
                counted_from = inbox.rewind(item.generation)
                continue
            if isinstance(item, _End):
                if item.position == expected:
                    inbox.note_taken(expected, item.generation)
                    return
                continue  # an older put's end; a newer put is sending
            batch, position = item.batch, item.position
            if position + batch.num_rows <= expected:
                continue
            if position < expected:
                batch = batch.slice(expected - position)
            inbox.note_taken(expected + batch.num_rows, item.generation)
            yield expected, batch
            expected += batch.num_rows
    finally:
        inbox.set_reading(False)
