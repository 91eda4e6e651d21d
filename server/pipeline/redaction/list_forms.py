"""Arrays and maps read as the lists they are made of, and given back their own types.

The redaction stage walks structs and lists (schema_walk). A fixed-size Array is a List
whose lists all have one length, and a Map is a List of key/value structs, so the
redactor reads those columns in their list form: every rule reaches their values as it
reaches a list's (content patterns, the level's column names, JSON keys, cards in
integers), and nothing inside them can pass untouched. After the rules, each column gets
its own type back, with the types its values then have (an Array of 2 stays an Array of
2, of text where a mask or a hash made its integers text).

A map named like a category is taken whole by its rule (the redactor: its keys are of
that kind too, `phones` {"4155552671": "mobile"}); any other map's keys and values are
read by content (and its values by the keys rules name: map_keys.py). Every entry
stays: keys a map repeats (Arrow allows it), and keys rules rewrite to the same text
(two addresses, each `[EMAIL]`). Only an entry whose key a rule made null (a pattern's
`null`) is removed: a map key cannot be null (its key's counter counts the row).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Final, cast

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.data_types import AnyType, instance
from sluice.server.pipeline.redaction.schema_walk import ELEMENT, Location

MAP_KEY: Final = "key"
MAP_VALUE: Final = "value"


def as_lists(dtype: AnyType) -> pl.DataType:
    """`dtype` with every Array as a List and every Map as the List of key/value structs
    it is made of, at any depth."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Map):
        entry = pl.Struct({MAP_KEY: as_lists(dtype.key), MAP_VALUE: as_lists(dtype.value)})
        return pl.List(entry)
    if isinstance(dtype, pl.Array | pl.List):
        return pl.List(as_lists(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: as_lists(f.dtype) for f in dtype.fields})
    return dtype


def map_locations(location: Location, dtype: AnyType) -> Iterator[Location]:
    """The locations of the Maps under (and including) `location`, as the walk of the
    list form names them."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Map):
        yield location
        yield from map_locations((*location, ELEMENT, MAP_KEY), dtype.key)
        yield from map_locations((*location, ELEMENT, MAP_VALUE), dtype.value)
    elif isinstance(dtype, pl.Array | pl.List):
        yield from map_locations((*location, ELEMENT), dtype.inner)
    elif isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from map_locations((*location, field.name), field.dtype)


def given_type(dtype: AnyType, steps: Location) -> pl.DataType:
    """The type, as the source gave it (Arrays, Maps), of the value at `steps` (a
    location in the list form) below a column of type `dtype`."""
    dtype = instance(dtype)
    for step in steps:
        if isinstance(dtype, pl.Map) and step == ELEMENT:
            dtype = pl.Struct({MAP_KEY: dtype.key, MAP_VALUE: dtype.value})
        elif isinstance(dtype, pl.Array | pl.List) and step == ELEMENT:
            dtype = instance(dtype.inner)
        elif isinstance(dtype, pl.Struct):
            dtype = instance(next(f.dtype for f in dtype.fields if f.name == step))
    return dtype


def restored_type(now: AnyType, before: AnyType) -> pl.DataType:
    """The type a column read as lists (`before` its type then, `now` its type after the
    rules) gets back: Arrays and Maps where it had them, holding the types their values
    now have. A part a rule replaced whole (a list made `[REDACTED]`) stays as the rules
    left it, and so does an entry without its key or value (never reached: no column
    rule names a map's keys or values)."""
    now, before = instance(now), instance(before)
    if isinstance(now, pl.List) and isinstance(before, pl.Map):
        entry = instance(now.inner)
        fields = {f.name: f.dtype for f in entry.fields} if isinstance(entry, pl.Struct) else {}
        if set(fields) != {MAP_KEY, MAP_VALUE}:
            return now
        key = restored_type(fields[MAP_KEY], before.key)
        return pl.Map(key, restored_type(fields[MAP_VALUE], before.value))
    if isinstance(now, pl.List) and isinstance(before, pl.Array):
        return pl.Array(restored_type(now.inner, before.inner), before.size)
    if isinstance(now, pl.List) and isinstance(before, pl.List):
        return pl.List(restored_type(now.inner, before.inner))
    if isinstance(now, pl.Struct) and isinstance(before, pl.Struct):
        old = {f.name: f.dtype for f in before.fields}
        return pl.Struct(
            {
                f.name: restored_type(f.dtype, old[f.name]) if f.name in old else f.dtype
                for f in now.fields
            }
        )
    return now


def restored(value: pl.Expr, now: AnyType, target: AnyType) -> pl.Expr:
    """`value` (of type `now`) as `target` (its restored_type), without the map entries
    whose key is null, and with every other entry: Polars' cast from a list of entries
    to a Map keeps one entry per key, but Arrow lets a map repeat a key (HTTP headers
    do), and keys the rules wrote alike (two `[EMAIL]`) are two entries still. So the
    maps are built from their entries in Arrow (which keeps them all), and the rest of
    the type (Arrays) comes by a cast, which leaves maps of their own type alone."""
    value = _without_null_keys(value, now, target)
    if not _holds_map(target):
        return value.cast(target)
    built = partial(_with_maps, target=instance(target))
    maps = value.map_batches(built, return_dtype=_lists_holding_maps(target))
    return maps.cast(target)


def _lists_holding_maps(dtype: AnyType) -> pl.DataType:
    """`dtype` with its Arrays as Lists, its Maps kept (what _with_maps builds)."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Map):
        return pl.Map(_lists_holding_maps(dtype.key), _lists_holding_maps(dtype.value))
    if isinstance(dtype, pl.Array | pl.List):
        return pl.List(_lists_holding_maps(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _lists_holding_maps(f.dtype) for f in dtype.fields})
    return dtype


def _with_maps(values: pl.Series, target: pl.DataType) -> pl.Series:
    return pl.Series(values.name, _arrow_maps(values.to_arrow(), target))


def _arrow_maps(array: pa.Array, target: AnyType) -> pa.Array:
    """`array` (the list form of `target`) with its lists of entries made Arrow maps,
    every entry kept; Arrays stay lists here."""
    target = instance(target)
    if not _holds_map(target):
        return array
    mask = array.is_null() if array.null_count else None
    if isinstance(target, pl.Struct):
        fields = [_arrow_maps(array.field(f.name), f.dtype) for f in target.fields]
        return pa.StructArray.from_arrays(fields, [f.name for f in target.fields], mask=mask)
    offsets = array.offsets
    first = offsets[0].as_py()
    entries = array.values.slice(first, offsets[-1].as_py() - first)
    offsets = pc.subtract(offsets, first)
    if isinstance(target, pl.Map):
        keys = _arrow_maps(entries.field(MAP_KEY), target.key)
        items = _arrow_maps(entries.field(MAP_VALUE), target.value)
        return pa.MapArray.from_arrays(offsets.cast(pa.int32()), keys, items, mask=mask)
    # Neither a struct nor a map, yet holding a map (_holds_map): a list or an array.
    inner = cast("pl.List | pl.Array", target).inner
    return pa.LargeListArray.from_arrays(offsets, _arrow_maps(entries, inner), mask=mask)


def _holds_map(dtype: AnyType) -> bool:
    dtype = instance(dtype)
    if isinstance(dtype, pl.Map):
        return True
    if isinstance(dtype, pl.Array | pl.List):
        return _holds_map(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_holds_map(f.dtype) for f in dtype.fields)
    return False


def _without_null_keys(value: pl.Expr, now: AnyType, target: AnyType) -> pl.Expr:
    now, target = instance(now), instance(target)
    if not _holds_map(target):
        return value
    # restored_type gives a Map back only for a list of key/value structs.
    entry = instance(now.inner) if isinstance(now, pl.List) else None
    if isinstance(target, pl.Map) and isinstance(entry, pl.Struct):
        value = value.list.filter(pl.element().struct.field(MAP_KEY).is_not_null())
        inner = pl.Struct({MAP_KEY: target.key, MAP_VALUE: target.value})
        return _within_lists(value, entry, inner)
    if isinstance(target, pl.Array | pl.List) and isinstance(now, pl.List):
        return _within_lists(value, instance(now.inner), instance(target.inner))
    if isinstance(target, pl.Struct) and isinstance(now, pl.Struct):
        goal = {f.name: f.dtype for f in target.fields}
        fields = [
            _without_null_keys(value.struct.field(f.name), f.dtype, goal[f.name]).alias(f.name)
            for f in now.fields
        ]
        return pl.when(value.is_null()).then(None).otherwise(pl.struct(fields))
    return value


def _within_lists(value: pl.Expr, now: pl.DataType, target: pl.DataType) -> pl.Expr:
    if not _holds_map(target):
        return value
    return value.list.eval(_without_null_keys(pl.element(), now, target))
