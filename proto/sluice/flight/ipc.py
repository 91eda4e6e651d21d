"""FlightData payloads <-> Arrow IPC messages with pyarrow.ipc alone, shared by the
daemon and the client (neither imports pyarrow.flight: its own gRPC core next to
grpcio's in one process crashes, apache/arrow#13300).

A FlightData message carries one Arrow IPC message split in two: `data_header` (the
flatbuffer Message) and `data_body` (its buffers). pyarrow reads and writes the
encapsulated form (continuation marker, metadata length, metadata padded to 8 bytes,
body), so the two are joined or split around that frame. Needs pyarrow (the daemon's
`server` extra, the client's `read` extra).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

import pyarrow as pa
import pyarrow.ipc as pa_ipc

from sluice.flight.batch_layout import (
    BatchLayout,
    LayoutUnreadable,
    layout_of_message,
    layout_of_schema,
)

_CONTINUATION = b"\xff\xff\xff\xff"
#: Longest data_header read: an IPC frame states the header's length, padded to 8 bytes,
#: as a signed 32-bit number (2 GiB - 8 is the last multiple of 8 it holds).
MAX_HEADER_BYTES = 2**31 - 8


class FlightPayloadError(ValueError):
    """A FlightData that holds no readable Arrow IPC message (or not the one expected)."""


@dataclass(frozen=True)
class Payload:
    """One IPC message as FlightData carries it."""

    header: bytes
    body: bytes


@dataclass(frozen=True)
class PayloadView:
    """One IPC message as views of a received FlightData's bytes (see WireFlightData)."""

    header: bytes | memoryview
    body: bytes | memoryview


def read_message(payload: Payload | PayloadView) -> pa_ipc.Message:
    """The IPC message of a FlightData, its body read in place (no copy).

    A received body sits wherever the protobuf put it, so its buffers may be unaligned:
    Arrow's IPC reader accepts that (IpcReadOptions.ensure_alignment defaults to Any),
    and pl.from_arrow copies an unaligned buffer into aligned memory (measured: polars
    2.1 keeps an aligned int64 buffer, copies an unaligned one)."""
    _check_header_length(len(payload.header))
    padding = -len(payload.header) % 8
    frame = b"".join(
        (_CONTINUATION, struct.pack("<i", len(payload.header) + padding), payload.header)
    )
    parts = _Parts(frame + b"\0" * padding, payload.body)
    try:
        return pa_ipc.read_message(pa.PythonFile(parts, mode="r"))
    except (pa.ArrowException, ValueError, OSError):
        raise FlightPayloadError("data_header is not an Arrow IPC message") from None


class _Parts:
    """A file of an IPC frame (continuation, length, header) followed by the body, kept
    apart: pyarrow reads the frame, then asks for the body in one read, which gets a view
    of it (pa.PythonFile wraps what read() returns without copying). Joining the two
    copied every received batch once more (a fifth of a DoPut's receive CPU)."""

    closed = False

    def __init__(self, frame: bytes, body: bytes | memoryview) -> None:
        self._parts = [memoryview(frame), memoryview(body)]
        self._at = 0

    def read(self, size: int = -1) -> bytes | memoryview:
        while self._parts and len(self._parts[0]) <= self._at:
            self._at -= len(self._parts.pop(0))
        if not self._parts:
            return b""
        first = self._parts[0]
        if size < 0:
            size = sum(len(part) for part in self._parts) - self._at
        if self._at + size <= len(first):
            self._at += size
            return first[self._at - size : self._at]
        joined = b"".join([first[self._at :], *self._parts[1:]])[:size]  # spans both
        self._at += len(joined)
        return joined


def _check_header_length(length: int) -> None:
    if length > MAX_HEADER_BYTES:
        raise FlightPayloadError(
            f"data_header is {length:,} bytes; an Arrow IPC message header holds at most "
            f"{MAX_HEADER_BYTES:,} (2 GiB - 8)"
        )


def read_schema(payload: Payload | PayloadView) -> pa.Schema:
    message = read_message(payload)
    if message.type != "schema":
        raise FlightPayloadError(f"expected a schema message, not a {message.type} message")
    try:
        return pa_ipc.read_schema(message)
    except (pa.ArrowException, ValueError):
        raise FlightPayloadError("the schema message cannot be read") from None


def read_batch(message: pa_ipc.Message, schema: pa.Schema) -> pa.RecordBatch:
    """One batch of `schema` (see BatchReader; a stream reads its batches with one)."""
    return BatchReader(schema).read(message)


class BatchReader:
    """Reads a stream's batches, fully validated: reading checks only buffer sizes, so
    offsets pointing past a string column's data would reach the encoders unchecked.
    The schema's layout is found once per stream: looked up per batch, hashing a
    100-column schema cost ~200 us a batch."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._layout: BatchLayout | None = None

    def read(self, message: pa_ipc.Message) -> pa.RecordBatch:
        if self._layout is None:
            self._layout = layout_of_schema(self.schema)
        _check_layout(message, self.schema, self._layout)
        try:
            batch = pa_ipc.read_record_batch(message, self.schema)
            batch.validate(full=True)
        except (pa.ArrowException, ValueError, OSError):
            # pyarrow raises some read errors as a plain OSError (a header claiming
            # more rows than its buffers hold): uncaught, the put's feeder took it for
            # a broken stream and the call hung until the client's deadline.
            raise FlightPayloadError("a record batch does not match the stream's schema") from None
        return batch


def _check_layout(message: pa_ipc.Message, schema: pa.Schema, want: BatchLayout) -> None:
    """A batch declaring more field nodes or buffers than `schema` makes (`want`) is
    refused: pyarrow would read the schema's columns and drop the rest without a word."""
    if message.type != "record batch":
        return
    try:
        got = layout_of_message(message)
    except LayoutUnreadable as exc:
        raise FlightPayloadError(f"a record batch's header cannot be read: {exc}") from None
    wanted_buffers = want.buffers + got.variadic_buffers
    if got.field_nodes != want.field_nodes:
        difference = _counted(got.field_nodes, want.field_nodes, "field node")
    elif got.buffers != wanted_buffers:
        difference = _counted(got.buffers, wanted_buffers, "buffer")
    else:
        return
    raise FlightPayloadError(
        f"a record batch holds {difference} than the stream's schema "
        f"({_columns(schema)}) makes: every batch must have the schema the stream began with"
    )


def _counted(got: int, want: int, what: str) -> str:
    more = got - want
    return f"{_many(got, what)}, {_many(abs(more), what)} {'more' if more > 0 else 'fewer'}"


def _many(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _columns(schema: pa.Schema) -> str:
    names = schema.names
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"{_many(len(names), 'column')}: {shown}"


def _split(encapsulated: pa.Buffer) -> Payload:
    data = memoryview(encapsulated)
    if bytes(data[:4]) == _CONTINUATION:
        data = data[4:]
    (length,) = struct.unpack("<i", data[:4])
    return Payload(bytes(data[4 : 4 + length]), bytes(data[4 + length :]))


def schema_payload(schema: pa.Schema) -> Payload:
    return _split(schema.serialize())


def batch_payload(batch: pa.RecordBatch) -> Payload:
    return _split(batch.serialize())


# FlightData's protobuf tags (Flight.proto): data_header = 2, app_metadata = 3 (read by
# DoPut only), data_body = 1000, all length-delimited (wire type 2).
_HEADER_FIELD = 2
_APP_METADATA_FIELD = 3
_HEADER_TAG = bytes([_HEADER_FIELD << 3 | 2])
_BODY_TAG = bytes([0xC2, 0x3E])  # varint of 1000 << 3 | 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def flight_data_wire(encapsulated: pa.Buffer) -> bytes:
    """The serialized FlightData protobuf of one encapsulated IPC message (what
    `schema.serialize()` and `batch.serialize()` return): the bytes
    `FlightData(data_header=..., data_body=...).SerializeToString()` gives, built with
    one copy of the body instead of three (split, message, serialization)."""
    data = memoryview(encapsulated)
    if bytes(data[:4]) == _CONTINUATION:
        data = data[4:]
    (length,) = struct.unpack("<i", data[:4])
    header, body = data[4 : 4 + length], data[4 + length :]
    parts: list[bytes | memoryview] = [_HEADER_TAG, _varint(len(header)), header]
    if len(body):
        parts += [_BODY_TAG, _varint(len(body)), body]
    return b"".join(parts)


def schema_wire(schema: pa.Schema) -> bytes:
    return flight_data_wire(schema.serialize())


def batch_wire(batch: pa.RecordBatch) -> bytes:
    return flight_data_wire(batch.serialize())


class BatchWireWriter:
    """What batch_wire gives for each record batch of one stream, with each batch's data
    copied once instead of twice.

    batch_wire copies a body twice: `batch.serialize()` gathers the buffers into a new
    Arrow buffer, then the FlightData join copies that; the new buffer, a few MiB per
    message, was also page-faulted in afresh each time (the allocator had handed the
    last one back while the thread waited on gRPC). pyarrow's IPC stream writer, writing
    to a Python file, hands over the batch's own buffers instead (zero-copy; only the
    header and what a slice must rebase, such as offsets, are new), so the join is the
    one copy. The bytes are identical. The schema message the stream writer sends before
    the first batch is dropped (the caller sends its own). A batch the writer cannot
    take as it is (another schema, dictionary columns, whose dictionaries would be
    messages of their own) goes through batch_wire, as before."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._direct = not any(_holds_dictionary(field.type) for field in schema)
        self._sink = _WrittenPieces()
        self._writer = pa_ipc.new_stream(pa.PythonFile(self._sink, mode="w"), schema)
        #: pyarrow writes the schema message along with the first batch.
        self._schema_pending = True

    def wire(self, batch: pa.RecordBatch) -> bytes:
        if not self._direct or not batch.schema.equals(self._schema):
            return batch_wire(batch)
        self._writer.write_batch(batch)
        pieces = self._sink.take()
        if self._schema_pending:
            _, pieces = _frame(pieces)  # a schema message has no body
            self._schema_pending = False
        header, body = _frame(pieces)
        size = sum(memoryview(piece).nbytes for piece in body)
        parts: list[_Piece] = [_HEADER_TAG, _varint(len(header)), header]
        if size:
            parts += [_BODY_TAG, _varint(size), *body]
        return b"".join(parts)


def _holds_dictionary(kind: pa.DataType) -> bool:
    return pa.types.is_dictionary(kind) or any(
        _holds_dictionary(kind.field(i).type) for i in range(kind.num_fields)
    )


#: What pyarrow writes to a Python file: small pieces as bytes, body buffers as pa.Buffer.
_Piece: TypeAlias = bytes | memoryview | pa.Buffer


class _WrittenPieces:
    """A write-only file keeping what is written as it is: pyarrow passes a body
    buffer as a pa.Buffer over the array's own memory, small pieces as bytes."""

    closed = False

    def __init__(self) -> None:
        self._pieces: list[_Piece] = []

    def write(self, piece: _Piece) -> int:
        self._pieces.append(piece)
        return memoryview(piece).nbytes

    def flush(self) -> None:
        pass

    def take(self) -> list[_Piece]:
        pieces, self._pieces = self._pieces, []
        return pieces


def _frame(pieces: list[_Piece]) -> tuple[bytes, list[_Piece]]:
    """The header of the IPC message `pieces` start with (continuation marker, int32
    length, header padded to 8 bytes) and the pieces after it."""
    prefix, rest = _split_pieces(pieces, 8)
    if prefix[:4] != _CONTINUATION:
        raise FlightPayloadError("pyarrow wrote an IPC message without its continuation marker")
    (length,) = struct.unpack_from("<i", prefix, 4)
    return _split_pieces(rest, length)


def _split_pieces(pieces: list[_Piece], size: int) -> tuple[bytes, list[_Piece]]:
    """The first `size` bytes of `pieces` joined (a header: small), and the rest as
    they are."""
    head: list[memoryview] = []
    for index, piece in enumerate(pieces):
        if size <= 0:
            return b"".join(head), pieces[index:]
        view = memoryview(piece)
        if view.nbytes > size:
            head.append(view[:size])
            return b"".join(head), [view[size:], *pieces[index + 1 :]]
        head.append(view)
        size -= view.nbytes
    if size > 0:
        raise FlightPayloadError("pyarrow wrote an IPC message shorter than its header")
    return b"".join(head), []


@dataclass(frozen=True)
class WireFlightData:
    """A FlightData read from its protobuf bytes without copying its body (protobuf's
    parser copied every body twice: into the message, then out as bytes): the fields
    DoPut reads, as views of the received bytes. `malformed` says why the bytes are not
    a FlightData ("" when they are)."""

    descriptor: bytes = b""
    header: bytes | memoryview = b""
    body: bytes | memoryview = b""
    app_metadata: bytes | memoryview = b""
    has_descriptor: bool = False
    malformed: str = ""

    @property
    def payload(self) -> PayloadView:
        return PayloadView(self.header, self.body)


def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise FlightPayloadError("a truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def parse_flight_data(raw: bytes) -> WireFlightData:
    """FlightData fields of a serialized message; never raises (a gRPC deserializer that
    raises makes the call INTERNAL): a malformed message says so in `malformed`."""
    data = memoryview(raw)
    fields: dict[int, memoryview] = {}
    at = 0
    try:
        while at < len(data):
            key, at = _read_varint(data, at)
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise FlightPayloadError("field number 0 is not protobuf's")
            if wire_type == 2:
                length, at = _read_varint(data, at)
                if number == _HEADER_FIELD:
                    _check_header_length(length)  # before a frame's int32 length overflows
                if at + length > len(data):
                    raise FlightPayloadError("a field runs past the message's end")
                fields[number] = data[at : at + length]
                at += length
            elif wire_type == 0:
                _, at = _read_varint(data, at)
            elif wire_type in (1, 5):
                at += 8 if wire_type == 1 else 4
                if at > len(data):
                    raise FlightPayloadError("a field runs past the message's end")
            else:
                raise FlightPayloadError(f"wire type {wire_type} is not protobuf's")
    except FlightPayloadError as exc:
        return WireFlightData(malformed=f"not a FlightData message ({exc})")
    descriptor = fields.get(1)
    return WireFlightData(
        descriptor=bytes(descriptor) if descriptor is not None else b"",
        header=fields.get(2, b""),
        body=fields.get(1000, b""),
        app_metadata=fields.get(_APP_METADATA_FIELD, b""),
        has_descriptor=descriptor is not None,
    )
