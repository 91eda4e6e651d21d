"""Values of tests/unit/test_type_format_matrix.py read back from text (JSON, CSV and
Markdown cells, XML elements, YAML scalars) to the canonical form of
tests/unit/type_matrix.py, by the text forms the README documents: a datetime's fraction
must have its unit's digits and its offset must be its zone's at that instant."""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from tests.unit.type_matrix import instance, width

_NS = {"ms": 1_000_000, "us": 1_000, "ns": 1}
_DIGITS = {"ms": 3, "us": 6, "ns": 9}
_EPOCH_DAY = date(1970, 1, 1).toordinal()


_DATETIME = re.compile(
    r"(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?"
)
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?")
_DURATION = re.compile(
    r"(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?"
)


def _days(year: int, month: int, day: int) -> int:
    return date(year, month, day).toordinal() - _EPOCH_DAY


def _fraction_ns(digits: str | None) -> int:
    if not digits:
        return 0
    assert len(digits) <= 9, digits
    return int(digits.ljust(9, "0"))


def _bad(text: Any) -> Any:
    raise AssertionError(f"unexpected text {text!r}")


def datetime_value(text: str, dtype: pl.Datetime) -> int:
    """A datetime's text (RFC 3339 as the README documents it) as an integer in the
    column's unit: the fraction has exactly the unit's digits, and the offset is the one
    the column's zone has at that instant (none for naive, Z for UTC)."""
    match = _DATETIME.fullmatch(text) or _bad(text)
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    unit = dtype.time_unit or "us"
    assert len(match[7] or "") == _DIGITS[unit], (text, unit)
    seconds = _days(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
    offset = match[8]
    zone = dtype.time_zone
    if zone is None:
        assert offset is None, text
    elif zone == "UTC":
        assert offset == "Z", text
    elif offset == "Z":
        # An offset with seconds (local mean time) is written in UTC (README).
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        assert at.astimezone(ZoneInfo(zone)).utcoffset().seconds % 60, text  # type: ignore[union-attr]
    else:
        assert offset is not None, text
        sign = -1 if offset[0] == "-" else 1
        shift = sign * (int(offset[1:3]) * 3_600 + int(offset[4:6]) * 60)
        seconds -= shift
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        assert at.astimezone(ZoneInfo(zone)).utcoffset() == timedelta(seconds=shift), text
    return (seconds * 10**9 + _fraction_ns(match[7])) // _NS[unit]


def date_value(text: str) -> int:
    match = re.fullmatch(r"(-?\d{4,})-(\d\d)-(\d\d)", text) or _bad(text)
    return _days(int(match[1]), int(match[2]), int(match[3]))


def time_value(text: str) -> int:
    match = _TIME.fullmatch(text) or _bad(text)
    assert len(match[4] or "") == 9, text
    return (int(match[1]) * 3_600 + int(match[2]) * 60 + int(match[3])) * 10**9 + _fraction_ns(
        match[4]
    )


def duration_value(text: str, dtype: pl.Duration) -> int:
    match = _DURATION.fullmatch(text) or _bad(text)
    assert text not in {"P", "PT", "-P"}, text
    weeks, days, hours, minutes, seconds = (int(match[i] or 0) for i in range(2, 7))
    total = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
    ns = total * 10**9 + _fraction_ns(match[7])
    ns = -ns if match[1] else ns
    unit = dtype.time_unit or "us"
    assert ns % _NS[unit] == 0, text
    return ns // _NS[unit]


def float_value(value: Any, dtype: pl.DataType) -> str:
    """A float read back (a JSON number as Decimal, or text: NaN, INF, inf, .nan...)."""
    if isinstance(value, bool):
        _bad(value)
    if isinstance(value, str):
        value = {".nan": "nan", ".inf": "inf", "-.inf": "-inf"}.get(value.lower(), value)
    return repr(width(float(value), dtype))


def text_value(text: str, dtype: pl.DataType) -> Any:
    """A scalar read back from its text (CSV, Markdown, XML, or a JSON string)."""
    if isinstance(dtype, pl.Datetime):
        return datetime_value(text, dtype)
    if isinstance(dtype, pl.Date):
        return date_value(text)
    if isinstance(dtype, pl.Time):
        return time_value(text)
    if isinstance(dtype, pl.Duration):
        return duration_value(text, dtype)
    if isinstance(dtype, pl.Boolean):
        return {"true": True, "false": False}.get(text) if text in {"true", "false"} else _bad(text)
    if dtype.is_integer():
        return int(text) if re.fullmatch(r"-?\d+", text) else _bad(text)
    if dtype.is_float():
        return float_value(text, dtype)
    if isinstance(dtype, pl.Decimal):
        return Decimal(text)
    if isinstance(dtype, pl.Binary):
        return base64.b64decode(text, validate=True)
    if isinstance(dtype, pl.Null):
        return _bad(text)
    return text


def json_value(value: Any, dtype: Any) -> Any:
    """A value read back from JSON (parsed with parse_float=Decimal), by the column's type:
    numbers as numbers, dates, times and decimals as their text."""
    dtype = instance(dtype)
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        assert isinstance(value, dict) and list(value) == [f.name for f in dtype.fields], value
        return {f.name: json_value(value[f.name], f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List | pl.Array):
        assert isinstance(value, list), value
        if isinstance(dtype, pl.Array):
            assert len(value) == dtype.size, value
        return [json_value(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Map):
        assert isinstance(value, dict), value
        key = instance(dtype.key)
        return {
            k if isinstance(key, pl.String) else text_value(k, key): json_value(v, dtype.value)
            for k, v in value.items()
        }
    if isinstance(dtype, pl.Boolean):
        return value if isinstance(value, bool) else _bad(value)
    if dtype.is_integer():
        return value if isinstance(value, int) and not isinstance(value, bool) else _bad(value)
    if dtype.is_float():
        return float_value(value, dtype)
    if isinstance(dtype, pl.Decimal):
        return Decimal(value) if isinstance(value, str | Decimal | int) else _bad(value)
    if isinstance(dtype, pl.Null):
        return _bad(value)
    return text_value(value, dtype) if isinstance(value, str) else _bad(value)
