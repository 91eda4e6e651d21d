"""Arrow types from the text a manifest records them as (`str(pa.DataType)`, e.g.
"timestamp[us, tz=UTC]", "large_list<item: large_string>"), for an export with no
records, whose columns can only come from its manifest. Needs pyarrow.

Only what an export's schema can hold is understood; any other text is None (the caller
decides what stands in for it)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from sluice.format.manifest import SchemaField

_UNIT = r"(s|ms|us|ns)"
_TIMESTAMP = re.compile(rf"timestamp\[{_UNIT}(?:, tz=(.+))?\]")
_DECIMAL = re.compile(r"decimal(32|64|128|256)?\((\d+), (-?\d+)\)")
_FIXED_BINARY = re.compile(r"fixed_size_binary\[(\d+)\]")
_FIXED_LIST = re.compile(r"fixed_size_list<(.+)>\[(\d+)\]")
_NESTED = re.compile(r"(list|large_list|list_view|large_list_view|struct|map)<(.*)>")
_DICTIONARY = re.compile(r"dictionary<values=(.+), indices=(\w+), ordered=([01])>")
_NOT_NULL = " not null"
_DECIMALS = {"32": pa.decimal32, "64": pa.decimal64, "128": pa.decimal128, "256": pa.decimal256}


def arrow_schema_of(fields: Sequence[SchemaField]) -> pa.Schema:
    """The schema a manifest records; a type it cannot read stands as null."""
    return pa.schema(
        pa.field(f.name, arrow_type(f.type) or pa.null(), nullable=f.nullable) for f in fields
    )


def arrow_type(text: str) -> pa.DataType | None:
    """The type `str(pa.DataType)` wrote as `text`, or None when not understood."""
    try:
        return _parse(text.strip())
    except (ValueError, TypeError, KeyError, pa.ArrowException):
        return None


def _parse(text: str) -> pa.DataType:
    if match := _TIMESTAMP.fullmatch(text):
        return pa.timestamp(match.group(1), tz=match.group(2))
    if match := _DECIMAL.fullmatch(text):
        make = _DECIMALS[match.group(1) or "128"]
        return make(int(match.group(2)), int(match.group(3)))
    if match := _FIXED_BINARY.fullmatch(text):
        return pa.binary(int(match.group(1)))
    if match := _FIXED_LIST.fullmatch(text):
        return pa.list_(_field(match.group(1)), int(match.group(2)))
    if match := _DICTIONARY.fullmatch(text):
        indices, values = _parse(match.group(2)), _parse(match.group(1))
        return pa.dictionary(indices, values, ordered=match.group(3) == "1")
    if match := _NESTED.fullmatch(text):
        return _nested(match.group(1), match.group(2))
    return pa.type_for_alias(text)


def _nested(kind: str, inside: str) -> pa.DataType:
    parts = _split(inside)
    if kind == "struct":
        return pa.struct([_field(part) for part in parts])
    if kind == "map":
        key, item = (_field(part) for part in parts)
        return pa.map_(key.type, item.type)
    (item,) = parts
    makers = {
        "list": pa.list_,
        "large_list": pa.large_list,
        "list_view": pa.list_view,
        "large_list_view": pa.large_list_view,
    }
    return makers[kind](_field(item))


def _field(text: str) -> pa.Field:
    """`name: type[ not null]` (a map's key and item may come without a name)."""
    nullable = not text.endswith(_NOT_NULL)
    text = text.removesuffix(_NOT_NULL)
    name, colon, kind = text.partition(": ")
    if not colon:
        name, kind = "", text
    return pa.field(name, _parse(kind), nullable=nullable)


def _split(text: str) -> list[str]:
    """`text` cut at its commas outside brackets."""
    parts: list[str] = []
    depth = start = 0
    for at, char in enumerate(text):
        if char in "<[(":
            depth += 1
        elif char in ">])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:at].strip())
            start = at + 1
    parts.append(text[start:].strip())
    return parts
