"""Dates and times as text, written one way in every text format (jsonl, json, csv).

Left to Polars, each writer spells them its own way: JSON wrote naive datetimes with a
space and time-zone-aware ones with "+00:00" and as many fraction digits as each value
needed; CSV wrote "+0000"; CSV could not write durations at all. Text formats now get
RFC 3339 from one set of column-wise Polars expressions (no per-row Python):

- Datetime in UTC: `2024-05-01T12:00:00.123456Z`.
- Datetime in another zone: its local time and offset, `2024-05-01T14:00:00.123456+02:00`;
  in UTC (`Z`) when the offset is not whole minutes (zones whose historical offset was
  not whole minutes: local mean time, e.g. Africa/Monrovia -00:44:30 until 1972).
- Datetime without a zone (naive): the same without an offset, `2024-05-01T12:00:00.123456`.
  Sluice does not know its zone, so it does not invent one (RFC 3339 needs an offset;
  this is its ISO 8601 local-time form, which parsers read back as naive).
- Fractions always have the column's precision: 3 digits (ms), 6 (us) or 9 (ns), so
  the text of a value never depends on its neighbours and sorts like the values.
- Date: `2024-05-01`. Time: `12:30:01.000000000`. Duration: ISO 8601, `PT1H30M`.
- Inside structs, lists and maps the same.

The text depends only on the value and the column's type, so a resumed export writes
byte-identical chunks. Parquet and Arrow keep the native types.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import polars as pl

from sluice.format.nested_types import AnyType, with_leaves
from sluice.format.temporal_lookup import date_text, datetime_text

_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"})
_FRACTION_DIGITS = {"ms": 3, "us": 6, "ns": 9}


def temporal_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every date/time value (also inside structs and lists) as RFC 3339
    text; the frame itself when it holds none."""
    converted: list[pl.Expr | pl.Series] = []
    for name, dtype in frame.schema.items():
        column = frame.get_column(name)
        fast = _lookup_text(column, dtype)
        if fast is not None:
            converted.append(fast)
        elif isinstance(dtype, pl.Datetime) and _whole_minute_offsets(column, dtype):
            converted.append(column.dt.to_string(datetime_format(dtype)))
        elif (expression := _as_text(pl.col(name), dtype)) is not None:
            converted.append(expression.alias(name))
    return frame.with_columns(converted) if converted else frame


#: Zones' offsets are sampled daily over these years (local mean time lasts years).
_SAMPLED_FROM, _SAMPLED_TO = datetime(1800, 1, 1), datetime(2100, 1, 1)
_US_PER_DAY = 86_400 * 10**6
#: A value in each unit and a microsecond instant, each times these, compare exactly.
_SCALES = {"ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}


@cache
def _whole_minutes_since(zone: str) -> int:
    """An instant (microseconds since 1970, UTC) from which the offsets of `zone` are
    whole minutes: two days past the last day (sampled at midnight UTC from 1800 to 2100)
    its offset was not; 1800 when none was (earlier values are then all checked)."""
    days = pl.datetime_range(
        _SAMPLED_FROM, _SAMPLED_TO, "1d", time_unit="us", time_zone="UTC", eager=True
    ).dt.convert_time_zone(zone)
    offsets = (days.dt.base_utc_offset() + days.dt.dst_offset()).dt.total_seconds()
    last: int | None = days.to_physical().filter(offsets % 60 != 0).max()  # type: ignore[assignment]
    first: int = days.to_physical()[0]
    return first if last is None else last + 2 * _US_PER_DAY


def _whole_minute_offsets(column: pl.Series, dtype: pl.Datetime) -> bool:
    """True when every value of this top-level zoned column is at or after the instant
    its zone's offsets are whole minutes from (one min() of the column): it is then
    written by one format, without the per-value offset check of `_as_text`."""
    zone = dtype.time_zone
    if zone is None or zone in _UTC_ZONES:
        return False
    earliest = column.to_physical().min()
    if earliest is None:
        return True
    assert isinstance(earliest, int)
    value_scale, since_scale = _SCALES[dtype.time_unit or "us"]
    return earliest * value_scale >= _whole_minutes_since(zone) * since_scale


def _lookup_text(column: pl.Series, dtype: pl.DataType) -> pl.Series | None:
    """The same text as `_as_text` from lookup tables (temporal_lookup), for the common
    top-level plain datetimes and dates; None for the rest."""
    if isinstance(dtype, pl.Datetime):
        zone = dtype.time_zone
        if zone is None or zone in _UTC_ZONES:
            return datetime_text(column, "" if zone is None else "Z")
    elif isinstance(dtype, pl.Date):
        return date_text(column)
    return None


def datetime_format(dtype: pl.Datetime) -> str:
    """The chrono format a Datetime column of this type is written with."""
    digits = _FRACTION_DIGITS.get(dtype.time_unit or "us", 6)
    base = f"%Y-%m-%dT%H:%M:%S%.{digits}f"
    if dtype.time_zone is None:
        return base
    return base + ("Z" if dtype.time_zone in _UTC_ZONES else "%:z")


def _as_text(
    expression: pl.Expr, dtype: pl.DataType | pl.datatypes.DataTypeClass
) -> pl.Expr | None:
    """The expression writing this value as text, or None when it holds no date/time."""
    if isinstance(dtype, pl.datatypes.DataTypeClass):
        dtype = dtype()  # a bare class (pl.Date) inside a nested type: its defaults
    if isinstance(dtype, pl.Datetime):
        text = expression.dt.to_string(datetime_format(dtype))
        if dtype.time_zone is None or dtype.time_zone in _UTC_ZONES:
            return text
        # RFC 3339 offsets are whole minutes, and chrono cuts the seconds of one that is
        # not (local mean time: Paris was +00:09:21 until 1911), which moved the instant:
        # such values are written in UTC instead.
        offset = expression.dt.base_utc_offset() + expression.dt.dst_offset()
        in_utc = expression.dt.convert_time_zone("UTC").dt.to_string(
            datetime_format(pl.Datetime(dtype.time_unit, "UTC"))
        )
        return pl.when(offset.dt.total_seconds() % 60 == 0).then(text).otherwise(in_utc)
    if isinstance(dtype, pl.Date):
        return expression.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.Time):
        return expression.dt.to_string("%H:%M:%S%.9f")
    if isinstance(dtype, pl.Duration):
        return expression.dt.to_string("iso")
    if isinstance(dtype, pl.List):
        inner = _as_text(pl.element(), dtype.inner)
        return None if inner is None else expression.list.eval(inner)
    if isinstance(dtype, pl.Array):
        inner = _as_text(pl.element(), dtype.inner)
        if inner is None:
            return None
        return expression.arr.to_list().list.eval(inner).list.to_array(dtype.size)
    if isinstance(dtype, pl.Struct):
        fields = [(f.name, _as_text(pl.field(f.name), f.dtype)) for f in dtype.fields]
        changed = [value.alias(name) for name, value in fields if value is not None]
        return expression.struct.with_fields(changed) if changed else None
    if isinstance(dtype, pl.Map):
        # Polars' JSON writer spells dates and times in maps its own way ("+00:00" for
        # UTC, as many fraction digits as each value needs): their entries are rewritten.
        entry = pl.Struct({"key": dtype.key, "value": dtype.value})
        changed_entry = _as_text(pl.element(), entry)
        if changed_entry is None:
            return None
        texted = _text_type(entry)
        assert isinstance(texted, pl.Struct)
        key, value = (f.dtype for f in texted.fields)
        return expression.map.entries().list.eval(changed_entry).cast(pl.Map(key, value))
    return None


#: The types `_as_text` writes as text.
_TEMPORAL = (pl.Datetime, pl.Date, pl.Time, pl.Duration)


def _text_type(given: AnyType) -> pl.DataType:
    """The type `_as_text` turns a value of this type into."""
    return with_leaves(given, lambda leaf: pl.String() if isinstance(leaf, _TEMPORAL) else leaf)
