"""Thrift's compact protocol as a generic tree, for rewriting Parquet footers.

A struct decodes into its fields in wire order, each kept with its id and wire type, so
fields this module knows nothing about (a newer Parquet writer's) survive a decode and
re-encode unchanged. Encoding is canonical (short field headers and list headers where
the protocol allows them, shortest varints), which is how Thrift's own writers encode,
so a footer they wrote re-encodes to the same bytes.

Booleans inside lists, sets and maps are kept as their raw byte, since writers disagree
on the byte for false (the spec says 0, older writers 2).

A decode can leave the structs, lists, sets and maps it is not asked to open as their
wire bytes (Encoded), which re-encode as they came: a Parquet stitcher needs the offsets
of a footer's row groups, not its schema, statistics or Arrow schema, and building those
trees only to write them back cost most of its CPU.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

# Wire types. In a field header a boolean's value is its type (TRUE or FALSE); as a list
# element type either number means "bool".
TRUE: Final = 1
FALSE: Final = 2
I8: Final = 3
I16: Final = 4
I32: Final = 5
I64: Final = 6
DOUBLE: Final = 7
BINARY: Final = 8
LIST: Final = 9
SET: Final = 10
MAP: Final = 11
STRUCT: Final = 12
UUID: Final = 13

#: Deeper nesting than any Parquet footer has: a corrupt input fails fast instead of
#: exhausting the stack.
_MAX_DEPTH: Final = 64


@dataclass(frozen=True, slots=True)
class Encoded:
    """A struct, list, set or map left undecoded: its bytes on the wire, without the
    field header (which the encoder writes from the field's id and type)."""

    data: bytes


#: The fields a partial decode opens: field id -> the fields to open in that field's
#: struct (or in each struct of that list, set or map). Any other struct, list, set or
#: map field stays Encoded; numbers, booleans and binaries are always decoded.
Opened: TypeAlias = Mapping[int, "Opened"]


@dataclass(slots=True)
class ThriftList:
    element_type: int
    items: list[Value]
    #: A set is encoded as a list, under its own wire type.
    is_set: bool = False


@dataclass(slots=True)
class ThriftMap:
    key_type: int
    value_type: int
    items: list[tuple[Value, Value]]


@dataclass(slots=True)
class Field:
    id: int
    #: Wire type; TRUE for any boolean field (the value says which).
    type: int
    value: Value


@dataclass(slots=True)
class ThriftStruct:
    fields: list[Field] = field(default_factory=list)

    def get(self, field_id: int) -> Value | None:
        for item in self.fields:
            if item.id == field_id:
                return item.value
        return None

    def has(self, field_id: int) -> bool:
        return any(item.id == field_id for item in self.fields)

    def set(self, field_id: int, wire_type: int, value: Value) -> None:
        """Replace the field's value, or add the field in id order if it is absent."""
        for item in self.fields:
            if item.id == field_id:
                item.type, item.value = wire_type, value
                return
        position = sum(1 for item in self.fields if item.id < field_id)
        self.fields.insert(position, Field(field_id, wire_type, value))

    def integer(self, field_id: int) -> int | None:
        value = self.get(field_id)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"Thrift field {field_id} is not an integer")
        return value

    def child(self, field_id: int) -> ThriftStruct | None:
        value = self.get(field_id)
        if value is None:
            return None
        if not isinstance(value, ThriftStruct):
            raise ValueError(f"Thrift field {field_id} is not a struct")
        return value

    def structs(self, field_id: int) -> list[ThriftStruct]:
        """The elements of a list-of-structs field (empty when the field is absent)."""
        value = self.get(field_id)
        if value is None:
            return []
        if not isinstance(value, ThriftList) or value.element_type != STRUCT:
            raise ValueError(f"Thrift field {field_id} is not a list of structs")
        return [item for item in value.items if isinstance(item, ThriftStruct)]


Value = bool | int | float | bytes | Encoded | ThriftList | ThriftMap | ThriftStruct

_CONTAINERS: Final = frozenset((LIST, SET, MAP, STRUCT))


def decode_struct(
    data: bytes | memoryview, opened: Opened | None = None
) -> tuple[ThriftStruct, int]:
    """The struct at the start of `data`, and how many bytes it took. With `opened`, only
    the struct, list, set and map fields it names are decoded (recursively, as it says),
    the others kept Encoded; without, everything is."""
    reader = _Reader(bytes(data))
    result = reader.struct(0, opened)
    return result, reader.position


def encode_struct(value: ThriftStruct) -> bytes:
    out = bytearray()
    _write_struct(out, value)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise ValueError("truncated Thrift data")
        value = self.data[self.position]
        self.position += 1
        return value

    def take(self, size: int) -> bytes:
        end = self.position + size
        if size < 0 or end > len(self.data):
            raise ValueError("truncated Thrift data")
        chunk = bytes(self.data[self.position : end])
        self.position = end
        return chunk

    def varint(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("Thrift varint too long")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def struct(self, depth: int, opened: Opened | None = None) -> ThriftStruct:
        fields: list[Field] = []
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return ThriftStruct(fields)
            wire_type, delta = header & 0x0F, header >> 4
            field_id = last + delta if delta else self.zigzag()
            if wire_type in (TRUE, FALSE):
                fields.append(Field(field_id, TRUE, wire_type == TRUE))
            elif opened is None or wire_type not in _CONTAINERS:
                fields.append(Field(field_id, wire_type, self.value(wire_type, depth)))
            elif field_id in opened:
                inner = opened[field_id]
                fields.append(Field(field_id, wire_type, self.value(wire_type, depth, inner)))
            else:
                start = self.position
                self.skip(wire_type, depth)
                fields.append(
                    Field(field_id, wire_type, Encoded(bytes(self.data[start : self.position])))
                )
            last = field_id

    def skip(self, wire_type: int, depth: int) -> None:
        """Move past a value without building it."""
        try:
            self.position = _skip(self.data, self.position, wire_type, depth)
        except IndexError:
            raise ValueError("truncated Thrift data") from None

    def value(self, wire_type: int, depth: int, opened: Opened | None = None) -> Value:
        # Checked here, where structs, lists, sets and maps all recurse.
        if depth > _MAX_DEPTH:
            raise ValueError("Thrift data nested too deeply")
        if wire_type in (TRUE, FALSE):
            return self.byte()
        if wire_type == I8:
            value = self.byte()
            return value - 256 if value > 127 else value
        if wire_type in (I16, I32, I64):
            return self.zigzag()
        if wire_type == DOUBLE:
            return float(struct.unpack("<d", self.take(8))[0])
        if wire_type == BINARY:
            return self.take(self.varint())
        if wire_type == UUID:
            return self.take(16)
        if wire_type in (LIST, SET):
            header = self.byte()
            size, element_type = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            items = [self.value(element_type, depth + 1, opened) for _ in range(size)]
            return ThriftList(element_type, items, is_set=wire_type == SET)
        if wire_type == MAP:
            size = self.varint()
            if size == 0:
                return ThriftMap(0, 0, [])
            types = self.byte()
            key_type, value_type = types >> 4, types & 0x0F
            pairs = [
                (
                    self.value(key_type, depth + 1, opened),
                    self.value(value_type, depth + 1, opened),
                )
                for _ in range(size)
            ]
            return ThriftMap(key_type, value_type, pairs)
        if wire_type == STRUCT:
            return self.struct(depth + 1, opened)
        raise ValueError(f"unknown Thrift wire type {wire_type}")


def _skip(data: bytes, position: int, wire_type: int, depth: int) -> int:
    """Where the value at `position` ends. Reading past the end raises IndexError. Kept
    apart from _Reader's methods, with the position in a local: skipping a footer's
    statistics and schema byte by byte is the hot loop of a partial decode."""
    if depth > _MAX_DEPTH:
        raise ValueError("Thrift data nested too deeply")
    if wire_type in (I16, I32, I64):
        while data[position] & 0x80:
            position += 1
        return position + 1
    if wire_type == BINARY:
        size, position = _varint_at(data, position)
        return _within(data, position + size)
    if wire_type == STRUCT:
        while True:
            header = data[position]
            position += 1
            if header == 0:
                return position
            if not header & 0xF0:  # the field id follows, as a zigzag varint
                position = _skip(data, position, I16, depth + 1)
            element_type = header & 0x0F
            if element_type not in (TRUE, FALSE):
                position = _skip(data, position, element_type, depth + 1)
    if wire_type in (LIST, SET):
        header = data[position]
        position += 1
        size, element_type = header >> 4, header & 0x0F
        if size == 15:
            size, position = _varint_at(data, position)
        if element_type in (TRUE, FALSE, I8):
            return _within(data, position + size)
        for _ in range(size):
            position = _skip(data, position, element_type, depth + 1)
        return position
    if wire_type in (TRUE, FALSE, I8):
        return _within(data, position + 1)
    if wire_type == DOUBLE:
        return _within(data, position + 8)
    if wire_type == UUID:
        return _within(data, position + 16)
    if wire_type == MAP:
        size, position = _varint_at(data, position)
        if size:
            types = data[position]
            position += 1
            for _ in range(size):
                position = _skip(data, position, types >> 4, depth + 1)
                position = _skip(data, position, types & 0x0F, depth + 1)
        return position
    raise ValueError(f"unknown Thrift wire type {wire_type}")


def _varint_at(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 70:
            raise ValueError("Thrift varint too long")


def _within(data: bytes, end: int) -> int:
    if end > len(data):
        raise IndexError("past the end")
    return end


def _write_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("negative varint")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_zigzag(out: bytearray, value: int) -> None:
    _write_varint(out, (value << 1) ^ (value >> 63))


def _write_struct(out: bytearray, value: ThriftStruct) -> None:
    last = 0
    for item in value.fields:
        wire_type = item.type
        if wire_type in (TRUE, FALSE):
            wire_type = TRUE if item.value else FALSE
        delta = item.id - last
        if 0 < delta <= 15:
            out.append(delta << 4 | wire_type)
        else:
            out.append(wire_type)
            _write_zigzag(out, item.id)
        if isinstance(item.value, Encoded):
            out += item.value.data
        elif item.type not in (TRUE, FALSE):
            _write_value(out, item.type, item.value)
        last = item.id
    out.append(0)


def _write_value(out: bytearray, wire_type: int, value: Value) -> None:
    if wire_type in (TRUE, FALSE, I8):
        out.append(_integer(value) & 0xFF)
    elif wire_type in (I16, I32, I64):
        _write_zigzag(out, _integer(value))
    elif wire_type == DOUBLE:
        if not isinstance(value, float):
            raise TypeError("a Thrift double needs a float")
        out += struct.pack("<d", value)
    elif wire_type in (BINARY, UUID):
        if not isinstance(value, bytes):
            raise TypeError("Thrift binary needs bytes")
        if wire_type == BINARY:
            _write_varint(out, len(value))
        out += value
    elif wire_type in (LIST, SET):
        if not isinstance(value, ThriftList):
            raise TypeError("a Thrift list needs a ThriftList")
        size = len(value.items)
        if size < 15:
            out.append(size << 4 | value.element_type)
        else:
            out.append(0xF0 | value.element_type)
            _write_varint(out, size)
        for element in value.items:
            _write_value(out, value.element_type, element)
    elif wire_type == MAP:
        if not isinstance(value, ThriftMap):
            raise TypeError("a Thrift map needs a ThriftMap")
        _write_varint(out, len(value.items))
        if value.items:
            out.append(value.key_type << 4 | value.value_type)
        for key, element in value.items:
            _write_value(out, value.key_type, key)
            _write_value(out, value.value_type, element)
    elif wire_type == STRUCT:
        if not isinstance(value, ThriftStruct):
            raise TypeError("a Thrift struct needs a ThriftStruct")
        _write_struct(out, value)
    else:
        raise ValueError(f"unknown Thrift wire type {wire_type}")


def _integer(value: Value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("a Thrift integer needs an int")
    return value
