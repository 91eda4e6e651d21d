"""How many field nodes and buffers a RecordBatch IPC message declares, read from its
flatbuffer header by hand (pyarrow exposes neither).

pyarrow's read_record_batch takes the nodes and buffers the schema asks for and ignores
any after them: a batch serialized with an extra column reads as the schema's columns
alone, the extra one dropped without a word. Comparing the counts with those of the
stream's schema catches that (and a batch with fewer columns, said plainly).

Layout (Arrow's Message.fbs / Schema.fbs): Message { version: short, header_type: ubyte,
header: table, bodyLength: long, ... }; RecordBatch { length: long, nodes: [FieldNode],
buffers: [Buffer], compression: table, variadicBufferCounts: [long] }; FieldNode and
Buffer are 16-byte structs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.ipc as pa_ipc

_MESSAGE_HEADER = 2
_BATCH_NODES = 1
_BATCH_BUFFERS = 2
_BATCH_VARIADIC_COUNTS = 4


class LayoutUnreadable(ValueError):
    """The header's flatbuffer points outside itself."""


@dataclass(frozen=True)
class BatchLayout:
    field_nodes: int
    buffers: int
    #: Buffers of view columns beyond the fixed ones (their number depends on the data).
    variadic_buffers: int


def layout_of_message(message: pa_ipc.Message) -> BatchLayout:
    """The counts a record batch message declares."""
    data = message.metadata.to_pybytes()
    batch = _table_field(data, _u32(data, 0), _MESSAGE_HEADER)
    if batch is None:
        raise LayoutUnreadable("the message has no header")
    counts = _long_vector(data, batch, _BATCH_VARIADIC_COUNTS)
    return BatchLayout(
        _vector_length(data, batch, _BATCH_NODES),
        _vector_length(data, batch, _BATCH_BUFFERS),
        sum(counts),
    )


@lru_cache(maxsize=64)
def layout_of_schema(schema: pa.Schema) -> BatchLayout:
    """The counts a batch of `schema` declares (pyarrow's own empty batch of it)."""
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    return layout_of_message(pa_ipc.read_message(empty.serialize()))


def _u32(data: bytes, at: int) -> int:
    if at < 0 or at + 4 > len(data):
        raise LayoutUnreadable(f"offset {at} lies outside the {len(data)}-byte header")
    value: int = struct.unpack_from("<I", data, at)[0]
    return value


def _field_at(data: bytes, table: int, field: int) -> int | None:
    """Where a table's field lies, or None when the table leaves it out."""
    (relative,) = struct.unpack_from("<i", data, _checked(data, table, 4))
    vtable = table - relative
    (size,) = struct.unpack_from("<H", data, _checked(data, vtable, 2))
    slot = 4 + 2 * field
    if slot + 2 > size:
        return None
    (offset,) = struct.unpack_from("<H", data, _checked(data, vtable + slot, 2))
    return table + offset if offset else None


def _table_field(data: bytes, table: int, field: int) -> int | None:
    at = _field_at(data, table, field)
    return None if at is None else at + _u32(data, at)


def _vector_length(data: bytes, table: int, field: int) -> int:
    vector = _table_field(data, table, field)
    return 0 if vector is None else _u32(data, vector)


def _long_vector(data: bytes, table: int, field: int) -> list[int]:
    vector = _table_field(data, table, field)
    if vector is None:
        return []
    length = _u32(data, vector)
    start = _checked(data, vector + 4, 8 * length)
    return list(struct.unpack_from(f"<{length}q", data, start))


def _checked(data: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(data):
        raise LayoutUnreadable(f"offset {at} lies outside the {len(data)}-byte header")
    return at
