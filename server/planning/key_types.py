"""The types of a keyed export's key columns.

A key is digested as text of its source value and sealed as JSON of its exported value,
and a later key-only increment decodes its parent's sealed keys into its own key types
for the tombstones. Both depend on the type: 1 (int) and 1.0 (float), or a timestamp
in microseconds and in nanoseconds, digest apart, so under a changed type every row
looked inserted and every parent key deleted, each tombstone naming a key the same
export had just sent (a consumer applying it ended with no rows). So the key index
records the key columns' types, and a key-only increment under other types is refused:
a new chain starts with a full export. Types a tombstone file cannot carry back (a
duration, a fixed-size array, a Python object, anywhere in the key's value, or binary
inside a list or struct: they do not decode from, or encode to, the sealed JSON) are
refused as keys; lists and structs of other types come back as they were.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from sluice.format.manifest import SchemaField
from sluice.format.nested_types import instance
from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.pipeline.encoders import arrow_schema

if TYPE_CHECKING:
    from sluice.server.pipeline.stages import Redactor
    from sluice.server.planning.incremental_plan import IncrementPlan

_log = logging.getLogger(__name__)

#: Types no key column may have, at any depth: their values do not come back from the
#: sealed JSON a tombstone is written from.
_REFUSED = (pl.Duration, pl.Array, pl.Object)
#: Arrow spellings of one type that Polars versions and exports choose between (views
#: or 64-bit offsets): the same key values either way.
_INTEGER = re.compile(r"u?int(8|16|32|64)")
_DECIMAL = re.compile(r"decimal(?:32|64|128|256)?\(\d+, (\d+)\)")
_NAMES = re.compile(r"\b(large_string|string_view|large_utf8|utf8|large_binary|binary_view)\b")
_SAME = {
    "large_string": "string",
    "string_view": "string",
    "large_utf8": "string",
    "utf8": "string",
    "large_binary": "binary",
    "binary_view": "binary",
    "large_list": "list",
    "list_view": "list",
    "large_list_view": "list",
}
_LISTS = re.compile(r"\b(large_list_view|large_list|list_view)<")


def key_type_text(dtype: pl.DataType) -> str:
    """A key column's type as the key index records it: its Arrow type as text
    ("int64", "timestamp[us]", "decimal128(10, 2)"), strings and binary under one name
    whatever their layout, a categorical as its values' type."""
    if dtype.base_type() is pl.Object:  # Python objects: Arrow has no type for them
        return "object"
    return _normal(str(arrow_schema(pl.Schema({"k": dtype})).field("k").type))


def _normal(text: str) -> str:
    """One spelling of a type's Arrow text, at any depth (a struct's string field is
    `string`, never `large_string`)."""
    if text.startswith("dictionary<values="):
        text = text.removeprefix("dictionary<values=").split(",", 1)[0]
    text = _NAMES.sub(lambda m: _SAME[m.group(1)], text)
    return _LISTS.sub("list<", text)


def _undecodable(dtype: pl.DataType, *, nested: bool = False) -> bool:
    """Whether a key's values of this type fail to come back from its sealed JSON."""
    if dtype.base_type() in _REFUSED or (nested and dtype == pl.Binary):
        return True
    if isinstance(dtype, pl.List):
        return _undecodable(instance(dtype.inner), nested=True)
    if isinstance(dtype, pl.Struct):
        return any(_undecodable(instance(f.dtype), nested=True) for f in dtype.fields)
    return False


def check_key_column_types(key: Sequence[str], schema: pl.Schema) -> None:
    """Raise InvalidArgument for a key column of a type a key cannot have."""
    for column in key:
        dtype = schema[column]
        if _undecodable(dtype):
            raise InvalidArgument(
                "spec.incremental.key",
                f"column {quoted(column)} is of type {key_type_text(dtype)}, which cannot be "
                "a key (tombstones could not name its deleted values); key by other columns",
            )


def recorded_key_types(key: Sequence[str], source_schema: pl.Schema) -> tuple[tuple[str, str], ...]:
    """What the key index records of the key columns' types (KeyIndexEntry.key_types)."""
    return tuple((column, key_type_text(source_schema[column])) for column in key)


def check_parent_key_types(
    increment: IncrementPlan, source_schema: pl.Schema, written: pl.Schema
) -> None:
    """Raise FailedPrecondition when a key-only increment's key columns are not of the
    types its parent's index was made with. A parent index recorded without types (made
    before they were) is compared by the exported types its manifest's schema lists,
    with `written` (this export's columns as written); a parent without either
    continues unchecked, as before, and the daemon log says so."""
    parent = increment.parent
    if parent is None or parent.key_index is None or not increment.by_key:
        return
    if increment.mode != "incremental":
        return
    recorded = dict(parent.key_index.key_types)
    if recorded:
        now = dict(recorded_key_types(increment.key, source_schema))
        _compare(parent.export_id, recorded, now, increment.key)
        return
    listed = _schema_types(parent.schema)
    if not all(column in listed for column in increment.key):
        _log.warning(
            "export chain continues from %s, whose key index records no key types and "
            "whose manifest lists no schema: a change of the key columns' types cannot be "
            "told (tombstones that name a key this export sends are left out)",
            parent.export_id,
        )
        return
    now = {f.name: _normal(str(f.type)) for f in arrow_schema(written)}
    _compare(parent.export_id, listed, now, increment.key)


def _digested_alike(text: str) -> str:
    """Types whose values have the same text, so the same key digests, share a name:
    integers of any width, decimals of one scale whatever their precision (a column
    widened by ALTER TABLE, a writer choosing int32) keep a chain."""
    if _INTEGER.fullmatch(text):
        return "integer"
    decimal = _DECIMAL.fullmatch(text)
    return f"decimal scale {decimal.group(1)}" if decimal else text


def _schema_types(schema: Sequence[SchemaField]) -> dict[str, str]:
    return {field.name: _normal(field.type) for field in schema}


def _compare(
    parent: str, before: Mapping[str, str], now: Mapping[str, str], key: Sequence[str]
) -> None:
    for column in key:
        if _digested_alike(before.get(column, "")) != _digested_alike(now.get(column, "")):
            raise FailedPrecondition(
                f"key column {quoted(column)} is of type {now.get(column)}, but was "
                f"{before.get(column)} in the parent export {parent}: keys of another "
                "type digest apart (every row would look inserted and every parent key "
                "deleted); start a new chain with --mode full"
            )


def deletions_need_guard(
    increment: IncrementPlan, source_schema: pl.Schema, schema: pl.Schema, redactor: Redactor
) -> bool:
    """Whether a key-only increment's deletions must be compared with the keys it sends
    (keyindex/tombstone_guard.py) before they become tombstones. Not when no deleted key
    can equal a sent one: the parent recorded exactly these key types, and redaction
    leaves the key as it is (no column rule other than keep, no content rule reading it,
    its exported type its source type; the parent had the same, chain_redaction.py).
    A deleted key's sealed JSON is then its parent's value's JSON in these very types,
    and equal JSON means equal values, whose equal text digests alike: the key would not
    be deleted. Except floating-point values, at any depth: NaN, inf and null all write
    JSON null, yet digest apart."""
    parent = increment.parent_index
    if parent is None or not increment.by_key:
        return True
    if dict(parent.key_types) != dict(recorded_key_types(increment.key, source_schema)):
        return True
    described = redactor.describe().get("columns")
    rules = described if isinstance(described, Mapping) else {}
    for column in increment.key:
        if _holds_floats(source_schema[column]) or schema[column] != source_schema[column]:
            return True
        if redactor.content_checks(column):
            return True
        for name, rule in rules.items():
            inside = name == column or name.startswith((column + ".", column + "["))
            if inside and not (isinstance(rule, Mapping) and rule.get("action") == "keep"):
                return True
    return False


def _holds_floats(dtype: pl.DataType) -> bool:
    if dtype.is_float():
        return True
    if isinstance(dtype, pl.List):
        return _holds_floats(instance(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return any(_holds_floats(instance(f.dtype)) for f in dtype.fields)
    return False
