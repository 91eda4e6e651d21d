"""RFC 3339 text for plain (naive or UTC) datetime and date columns, assembled from small
lookup tables instead of a strftime per value.

chrono's `to_string` interprets its format for every value (~0.13 CPU s per 1M
datetimes; the events dataset has two such columns, ~8% of a jsonl+zstd export). A plain
datetime's text only depends on its day, its second of the day and its fraction, so the
text is gathered from tables — every day of the column's span (formatted by chrono, so
years keep chrono's spelling, signs included), the 86,400 "HH:MM:SS" of a day and the
1,000 three-digit groups — and joined with one `concat_str`. The result is the same
bytes as `temporal_text.datetime_format`; tests/unit/test_temporal_text.py checks it
against chrono on naive/UTC ms/us/ns values, pre-1970, far-future and null ones.

Columns this path does not cover (other zones, days spread over a span much wider than
the column) return None, and the caller keeps chrono's general path.
"""

from __future__ import annotations

from functools import cache

import polars as pl

_TICKS_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_SECONDS_PER_DAY = 86_400
#: Days formatted per call at most, beside the column's own length: a column of a few
#: values spread over centuries is left to chrono rather than formatting every day between.
_MAX_EXTRA_DAYS = 4_096


@cache
def _clock_texts() -> pl.Series:
    """ "HH:MM:SS." of every second of a day, by second of the day (the fraction follows).

    Formatted by chrono in one call: built by a Python f-string per second it cost ~0.08
    CPU s (0.17 s under load) on the first text export of each daemon process, on the
    encoder thread while the reader waited — 10-15% of a 200,000-row jsonl export."""
    nanoseconds = pl.int_range(0, _SECONDS_PER_DAY, dtype=pl.Int64, eager=True) * 1_000_000_000
    return nanoseconds.cast(pl.Time).dt.to_string("%H:%M:%S.")


@cache
def _digit_groups(suffix: str) -> pl.Series:
    """ "000" to "999" + suffix, by value: three fraction digits each. `concat_str` costs
    per piece, so the separators ride on the tables rather than being pieces of their own."""
    return pl.Series([f"{n:03d}{suffix}" for n in range(1_000)], dtype=pl.String)


def _day_texts(days: pl.Series, suffix: str) -> pl.Series | None:
    """ "YYYY-MM-DD" + suffix for each day number (days since 1970-01-01), or None when the
    column's days span too many to format them all."""
    first, last = days.min(), days.max()
    if first is None or last is None:
        return None
    assert isinstance(first, int) and isinstance(last, int)
    if last - first > len(days) + _MAX_EXTRA_DAYS:
        return None
    span = pl.int_range(first, last + 1, dtype=pl.Int32, eager=True).cast(pl.Date)
    table = span.dt.to_string("%Y-%m-%d") + suffix if suffix else span.dt.to_string("%Y-%m-%d")
    return table.gather(days - first)


def date_text(column: pl.Series) -> pl.Series | None:
    """`column` (Date) as "YYYY-MM-DD" text, or None to leave it to chrono."""
    text = _day_texts(column.to_physical().cast(pl.Int64), "")
    return None if text is None else text.alias(column.name)


def datetime_text(column: pl.Series, zone_suffix: str) -> pl.Series | None:
    """`column` (a naive or UTC Datetime) as RFC 3339 text ending in `zone_suffix` ("" or
    "Z"), the fraction in the column's precision; or None to leave it to chrono."""
    dtype = column.dtype
    assert isinstance(dtype, pl.Datetime)
    per_second = _TICKS_PER_SECOND[dtype.time_unit or "us"]
    ticks = column.to_physical()
    days = ticks // (per_second * _SECONDS_PER_DAY)  # floor: pre-1970 days stay whole
    day_part = _day_texts(days, "T")
    if day_part is None:
        return None
    within = ticks - days * (per_second * _SECONDS_PER_DAY)
    seconds = within // per_second
    fraction = within - seconds * per_second
    # Three digits per group, most significant first (ms: 1 group, us: 2, ns: 3); the
    # last group carries the zone suffix.
    scales = [per_second // 1_000 // 1_000**n for n in range(len(str(per_second)) // 3)]
    fraction_parts = [
        _digit_groups(zone_suffix if scale == 1 else "").gather(fraction // scale % 1_000)
        for scale in scales
    ]
    pieces = [day_part, _clock_texts().gather(seconds), *fraction_parts]
    return pl.select(pl.concat_str([pl.lit(p) for p in pieces])).to_series().alias(column.name)
