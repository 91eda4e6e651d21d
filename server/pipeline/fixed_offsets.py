"""Timestamps whose zone is a fixed offset ("+02:00", "-03:30", as pandas writes for
datetime.timezone(timedelta(...))) read as the same instants in UTC.

Arrow stores a timestamp as an instant (UTC) and its zone as a label, so relabelling the
column UTC changes no value. Polars takes zone names only: it relabels whole hours as
Etc/GMT∓N (POSIX's inverted sign) and panics on the others ("+05:30"), at planning or
only once rows are read. Every reader therefore relabels a source's Arrow data here
before Polars sees it, whatever the offset: one rule, the one CSV text with offsets
already followed (Polars parses it to UTC), and a glob whose files were written at
+01:00 and +02:00 (either side of a change to summer time) exports one type."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TypeVar

import pyarrow as pa

#: The fixed offsets Arrow takes as a zone: "+HH:MM", "+HHMM" or "+HH" (or "-").
_FIXED_OFFSET = re.compile(r"[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?")

ArrowData = TypeVar("ArrowData", pa.RecordBatch, pa.Table)


def is_fixed_offset(zone: str | None) -> bool:
    """Whether an Arrow timestamp's zone is a fixed offset rather than a zone name."""
    return zone is not None and _FIXED_OFFSET.fullmatch(zone) is not None


def in_utc(data_type: pa.DataType) -> pa.DataType:
    """The type with every fixed-offset timestamp, at any depth, labelled UTC."""
    if pa.types.is_timestamp(data_type):
        return pa.timestamp(data_type.unit, "UTC") if is_fixed_offset(data_type.tz) else data_type
    if pa.types.is_struct(data_type):
        fields = [data_type.field(i) for i in range(data_type.num_fields)]
        return pa.struct([_field_in_utc(field) for field in fields])
    if pa.types.is_map(data_type):
        key, item = _field_in_utc(data_type.key_field), _field_in_utc(data_type.item_field)
        return pa.map_(key, item, keys_sorted=data_type.keys_sorted)
    if pa.types.is_fixed_size_list(data_type):
        return pa.list_(_field_in_utc(data_type.value_field), data_type.list_size)
    if pa.types.is_large_list(data_type):
        return pa.large_list(_field_in_utc(data_type.value_field))
    if pa.types.is_list(data_type):
        return pa.list_(_field_in_utc(data_type.value_field))
    if pa.types.is_dictionary(data_type):
        values = in_utc(data_type.value_type)
        return pa.dictionary(data_type.index_type, values, ordered=data_type.ordered)
    # Other types hold no timestamp Polars reads (list views and unions are refused by
    # the planner, extension types keep their storage as they are).
    return data_type


def _field_in_utc(field: pa.Field) -> pa.Field:
    return field.with_type(in_utc(field.type))


def utc_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every fixed-offset timestamp labelled UTC (the same object when it
    holds none)."""
    relabelled = _relabelled(schema)
    return schema if relabelled is None else relabelled


@lru_cache(maxsize=64)
def _relabelled(schema: pa.Schema) -> pa.Schema | None:
    """utc_schema, None when it changes nothing. Cached by equal schemas (so never an
    object compared by identity): every batch of a file or stream asks with the same
    schema, and a walk of 5,000 columns per batch adds up."""
    fields = [_field_in_utc(field) for field in schema]
    if all(new.type == old.type for new, old in zip(fields, schema, strict=True)):
        return None
    return pa.schema(fields, metadata=schema.metadata)


def holds_fixed_offset(schema: pa.Schema) -> bool:
    """Whether any column of `schema` holds a fixed-offset timestamp."""
    return _relabelled(schema) is not None


def with_utc_instants(data: ArrowData) -> ArrowData:
    """`data` with its fixed-offset timestamps labelled UTC: no value changes (Arrow
    keeps instants), so this costs no copy of the columns."""
    target = utc_schema(data.schema)
    if target is data.schema:
        return data
    return data.cast(target)


#: A whole-hour offset as Polars took it as a zone name before readers relabelled
#: offsets ("+02:00" or "+0200"; "+02" it refused).
_WHOLE_HOURS = re.compile(r"([+-])(\d\d):?00")


def former_zone(offset: str) -> str | None:
    """The zone Polars gave a column of this fixed offset before every reader relabelled
    offsets UTC (sluice 32 and earlier): Etc/GMT∓N for a whole hour (POSIX's inverted
    sign: "+02:00" was Etc/GMT-2); None for the offsets it read as UTC then too
    ("+00:00") or refused ("+05:30", "+02")."""
    found = _WHOLE_HOURS.fullmatch(offset)
    if found is None or int(found.group(2)) == 0:
        return None
    inverted = "-" if found.group(1) == "+" else "+"
    return f"Etc/GMT{inverted}{int(found.group(2))}"


def offset_columns(schema: pa.Schema) -> dict[str, str]:
    """The columns of `schema` that are timestamps with a fixed-offset zone, and their
    zone (only columns themselves: a timestamp inside a struct or list is not named)."""
    return {
        field.name: field.type.tz
        for field in schema
        if pa.types.is_timestamp(field.type) and is_fixed_offset(field.type.tz)
    }
