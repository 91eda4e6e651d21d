"""Arrow Flight from the client: push records as an export (DoPut, resuming on its own)
and read an export's records back (DoGet), over the client's own gRPC channel and the
generated Flight stubs; payloads through pyarrow.ipc (the `read` extra), never
pyarrow.flight (a second gRPC core in the process crashes, apache/arrow#13300).

A put keeps the batches the daemon has not acknowledged yet (at most about one chunk
plus what is in flight); when the stream breaks it puts again with the same request id,
learns from the first answer how many rows are committed, and sends from there.

Every put announces on its first message that it marks the end of its records, and
marks it on an empty batch after the last one (sluice.flight.end_of_records): the daemon
then commits the export only when this client said its records ended, never because the
stream stopped (a call cancelled as the process dies may look half-closed to the daemon).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc
import pyarrow as pa
from google.protobuf import json_format

from sluice.client._errors import BatchSchemaError
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from sluice.flight.end_of_records import ANNOUNCEMENT, MARKER
from sluice.flight.ipc import (
    BatchReader,
    Payload,
    batch_payload,
    read_message,
    read_schema,
    schema_payload,
)
from sluice.v1 import export_pb2, export_pb2_grpc

#: Status codes after which a put is tried again (the stream broke, not the request).
_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}
)


class PutBroken(Exception):
    """A put failed more times in a row than allowed; `__cause__` is the last failure."""


class _InputFailed(Exception):
    """The caller's records could not be read (the reason is `_Replay.failure`)."""


def put_command(spec: export_pb2.ExportSpec, request_id: str) -> bytes:
    """The DoPut descriptor's command: the proto3 JSON of a CreateExportRequest."""
    request = export_pb2.CreateExportRequest(spec=spec, request_id=request_id)
    on_bad_rows = request.spec.source.on_bad_rows
    request.spec.ClearField("source")
    if on_bad_rows:
        # Sent for the daemon to refuse, naming it: a put has no rows to skip (dropped
        # here, the put ran as if it had never been asked for).
        request.spec.source.on_bad_rows = on_bad_rows
    return json_format.MessageToJson(request, indent=None).encode()


class _Replay:
    """Batches sent but not yet acknowledged, by first row, and the rest of the source.

    Several attempts may iterate at once (a broken attempt's request thread can still be
    inside the source when the next one starts): the source is taken from under one
    lock, and every batch taken is kept until acknowledged, so no attempt skips rows.

    A source that raises is failed for good: `failure` keeps its exception and every
    attempt then raises _InputFailed, never reaching the end of the source, whose
    end-of-stream would have the daemon commit the rows before it as the whole export.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> None:
        self._source = batches
        self._schema = schema
        self._taken = 0  # batches taken from the source
        self._kept: deque[tuple[int, pa.RecordBatch]] = deque()
        self._next_row = 0  # first row not yet taken from the source
        self._kept_lock = threading.Lock()
        self._source_lock = threading.Lock()
        self.failure: BaseException | None = None

    def acknowledge(self, committed: int) -> None:
        with self._kept_lock:
            while self._kept and self._kept[0][0] + self._kept[0][1].num_rows <= committed:
                self._kept.popleft()

    def from_row(self, committed: int) -> Iterator[pa.RecordBatch]:
        """Every row from `committed` on: the kept ones, then the rest of the source."""
        self.acknowledge(committed)
        cursor = committed
        while True:
            with self._source_lock:
                batch = self._kept_at(cursor)
                if batch is None:
                    batch = self._take(cursor)
                    if batch is None:
                        return
            yield batch
            cursor += batch.num_rows

    def _kept_at(self, cursor: int) -> pa.RecordBatch | None:
        with self._kept_lock:
            for start, batch in self._kept:
                if start <= cursor < start + batch.num_rows:
                    return batch.slice(cursor - start)
        return None

    def _take(self, cursor: int) -> pa.RecordBatch | None:
        if cursor != self._next_row:
            raise PutBroken(
                f"the server has {cursor} rows committed, which this client cannot continue "
                "from (a different stream under the same request id?)"
            )
        if self.failure is not None:
            raise _InputFailed
        try:
            batch = next(self._source, None)
        except Exception as exc:  # noqa: BLE001 - the caller's own error, raised by put()
            self.failure = exc
            raise _InputFailed from None
        if batch is None:
            return None
        if not _same_columns(batch.schema, self._schema):
            # The daemon would refuse it (an extra column) or misread it; said before
            # any of it is sent, as the caller's own mistake.
            self.failure = BatchSchemaError(
                f"record batch {self._taken} does not have the put's schema: "
                f"{schema_difference(self._schema, batch.schema)}"
            )
            raise _InputFailed
        self._taken += 1
        with self._kept_lock:
            self._kept.append((self._next_row, batch))
            self._next_row += batch.num_rows
        return batch


def put(
    channel: grpc.Channel,
    spec: export_pb2.ExportSpec,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    request_id: str,
    *,
    attempts: int = 5,
    on_ack: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Push `batches` as an export; returns the final PutResult's app_metadata."""
    stub = Flight_pb2_grpc.FlightServiceStub(channel)
    descriptor = fl.FlightDescriptor(
        type=fl.FlightDescriptor.CMD, cmd=put_command(spec, request_id)
    )
    replay = _Replay(iter(batches), schema)
    failures = 0
    answered = False

    def acknowledged(ack: dict[str, Any]) -> None:
        nonlocal answered
        answered = True
        if on_ack is not None:
            on_ack(ack)

    def cancel_export(export_id: str) -> bool:
        try:
            export_stub.CancelExport(export_pb2.CancelExportRequest(id=export_id), timeout=30)
        except grpc.RpcError:
            return False
        return True

    export_stub = export_pb2_grpc.ExportServiceStub(channel)
    while True:
        try:
            return _put_once(stub, descriptor, schema, replay, acknowledged, cancel_export)
        except (grpc.RpcError, PutBroken) as exc:
            if replay.failure is not None:
                # The caller's input broke: said as it is, never retried.
                raise replay.failure from None
            if isinstance(exc, PutBroken):
                raise
            # A daemon never reached is a wrong address or a daemon that is not running:
            # said at once (the caller names the address), not after retries.
            never_reached = not answered and exc.code() == grpc.StatusCode.UNAVAILABLE
            if exc.code() not in _RETRYABLE or never_reached:
                raise
            failures += 1
            if failures >= attempts:
                raise PutBroken(f"the put broke {failures} times") from exc
            time.sleep(min(0.2 * 2**failures, 5.0))


def _same_columns(schema: pa.Schema, other: pa.Schema) -> bool:
    """The same column names and types, in order. Nullability and field metadata are
    not the records' (a batch's IPC message carries neither; the daemon reads every
    batch with the stream's schema), and a batch that differed only there was refused."""
    return bool(schema.names == other.names and schema.types == other.types)


def schema_difference(schema: pa.Schema, other: pa.Schema) -> str:
    """What `other` has that `schema` has not, naming the columns."""
    extra = [name for name in other.names if name not in schema.names]
    if extra:
        return f"column {_names(extra)} is not in the schema ({', '.join(schema.names)})"
    missing = [name for name in schema.names if name not in other.names]
    if missing:
        return f"column {_names(missing)} of the schema is missing"
    if other.names != schema.names:
        theirs, ours = ", ".join(other.names), ", ".join(schema.names)
        return f"its columns ({theirs}) are not the schema's ({ours})"
    for field, theirs in zip(schema, other, strict=True):
        if theirs.type != field.type:
            return f"column '{field.name}' is {theirs.type}, not {field.type}"
        if theirs.nullable != field.nullable:
            return f"column '{field.name}' is {'' if theirs.nullable else 'not '}nullable"
    return "its field metadata differs"


def _names(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _put_once(
    stub: Flight_pb2_grpc.FlightServiceStub,
    descriptor: fl.FlightDescriptor,
    schema: pa.Schema,
    replay: _Replay,
    on_ack: Callable[[dict[str, Any]], None] | None,
    cancel_export: Callable[[str], bool],
) -> dict[str, Any]:
    committed: list[int] = []
    export_ids: list[str] = []
    answered = threading.Event()
    finished = threading.Event()
    released = threading.Event()

    def requests() -> Iterator[fl.FlightData]:
        header = schema_payload(schema)
        yield fl.FlightData(
            flight_descriptor=descriptor,
            data_header=header.header,
            data_body=header.body,
            app_metadata=ANNOUNCEMENT,
        )
        answered.wait()
        if finished.is_set() or not committed:
            return
        # Each batch goes at once (a slow or live source's newest rows are not held
        # back until the next batch exists), and the marker follows on an empty batch:
        # a daemon older than the marker ignores a batch's app_metadata, but would
        # refuse a message without data.
        try:
            for batch in replay.from_row(committed[0]):
                yield _flight_data(batch)
        except _InputFailed:
            _abandon(export_ids[0], cancel_export, responses, released)
            return
        yield _flight_data(pa.RecordBatch.from_pylist([], schema=schema), MARKER)

    responses = stub.DoPut(requests())
    try:
        for result in responses:
            ack = json.loads(result.app_metadata)
            if on_ack is not None:
                on_ack(ack)
            if not answered.is_set():
                committed.append(int(ack["committed_records"]))
                export_ids.append(str(ack["export_id"]))
                if ack.get("state"):
                    finished.set()
                answered.set()
            replay.acknowledge(int(ack["committed_records"]))
            if ack.get("state"):
                finished.set()
                return dict(ack)
    finally:
        answered.set()  # never leave the request thread waiting
        released.set()
    raise PutBroken("the server ended the put without its final result")


def _flight_data(batch: pa.RecordBatch, app_metadata: bytes = b"") -> fl.FlightData:
    payload = batch_payload(batch)
    return fl.FlightData(
        data_header=payload.header, data_body=payload.body, app_metadata=app_metadata
    )


def _abandon(
    export_id: str,
    cancel_export: Callable[[str], bool],
    call: Any,
    released: threading.Event,
) -> None:
    """End a put whose input failed, without marking the end of its records: the export
    is cancelled first (the caller will not resume it, and a daemon older than the
    end_of_records marker takes the end of the request stream, or a call the client
    cancels, for the end of the records, committing the rows before the failure as the
    whole export), and the stream left open until the daemon ends the call. (Raising
    here instead would have grpc cancel the call and log "Exception iterating requests!"
    with a traceback on stderr.)"""
    if cancel_export(export_id) and released.wait(60):
        return
    call.cancel()  # the daemon could not be told: the lesser harm is to hang up
    released.wait()


def read(
    channel: grpc.Channel, export_id: str, chunk: int | None = None
) -> Iterator[pa.RecordBatch]:
    """The records of a succeeded export (or of one chunk), in chunk order."""
    stub = Flight_pb2_grpc.FlightServiceStub(channel)
    body: dict[str, Any] = {"export_id": export_id}
    if chunk is not None:
        body["chunk"] = chunk
    schema: pa.Schema | None = None
    reader: BatchReader | None = None
    batches = 0
    for data in stub.DoGet(fl.Ticket(ticket=json.dumps(body).encode())):
        payload = Payload(data.data_header, data.data_body)
        if reader is None:
            schema = read_schema(payload)
            reader = BatchReader(schema)
            continue
        batches += 1
        yield reader.read(read_message(payload))
    if schema is not None and not batches:
        # An export with no records still has its columns (the writers of the caller
        # take them from the first batch).
        yield pa.RecordBatch.from_pylist([], schema=schema)
