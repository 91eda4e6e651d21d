"""The exact text dates and times get in jsonl, json and csv chunks."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest

from sluice.format.temporal_lookup import date_text, datetime_text
from sluice.format.temporal_text import _as_text, temporal_as_text
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext

MOMENT = datetime(2024, 5, 1, 12, 0, 0, 123456)


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "naive": [MOMENT, None],
            "utc": [MOMENT.replace(tzinfo=UTC), MOMENT.replace(microsecond=0, tzinfo=UTC)],
            "day": [date(2024, 5, 1), None],
            "at": [time(12, 30, 1), None],
            "took": [timedelta(hours=1, minutes=30), None],
        }
    ).with_columns(
        pl.col("utc").dt.convert_time_zone("Europe/Madrid").alias("madrid"),
        pl.col("naive").dt.cast_time_unit("ms").alias("naive_ms"),
        pl.col("utc").dt.cast_time_unit("ns").alias("utc_ns"),
        pl.struct(pl.col("utc"), pl.concat_list(pl.col("day"))).alias("nested"),
    )


EXPECTED_FIRST = {
    "naive": "2024-05-01T12:00:00.123456",
    "utc": "2024-05-01T12:00:00.123456Z",
    "day": "2024-05-01",
    "at": "12:30:01.000000000",
    "took": "PT1H30M",
    "madrid": "2024-05-01T14:00:00.123456+02:00",
    "naive_ms": "2024-05-01T12:00:00.123",
    "utc_ns": "2024-05-01T12:00:00.123456000Z",
    "nested": {"utc": "2024-05-01T12:00:00.123456Z", "day": ["2024-05-01"]},
}


def _encode(fmt: str, frame: pl.DataFrame) -> bytes:
    encoder = ENCODERS[fmt].make(ChunkContext("e", "d", 0))
    return encoder.encode(frame) + encoder.finish()


def test_every_text_format_writes_the_same_rfc3339_text() -> None:
    frame = _frame()
    jsonl = [json.loads(line) for line in _encode("jsonl", frame).splitlines()]
    document = json.loads(_encode("json", frame))["data"]
    csv = pl.read_csv(io.BytesIO(_encode("csv", frame)), infer_schema=False).to_dicts()
    assert jsonl[0] == EXPECTED_FIRST
    assert document == jsonl
    assert {k: v for k, v in csv[0].items() if k != "nested"} == {
        k: v for k, v in EXPECTED_FIRST.items() if k != "nested"
    }
    assert json.loads(csv[0]["nested"]) == EXPECTED_FIRST["nested"]
    # Nulls stay null; a zero fraction keeps the column's digits.
    assert jsonl[1]["naive"] is None and jsonl[1]["day"] is None
    assert jsonl[1]["utc"] == "2024-05-01T12:00:00.000000Z"
    assert csv[1]["utc"] == "2024-05-01T12:00:00.000000Z"


def test_frames_without_dates_are_left_alone() -> None:
    frame = pl.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    assert temporal_as_text(frame) is frame


def _chrono_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The general path (one chrono format per column), which the lookup tables match."""
    return frame.with_columns(
        expression.alias(name)
        for name, dtype in frame.schema.items()
        if (expression := _as_text(pl.col(name), dtype)) is not None
    )


def _edge_moments() -> list[datetime | None]:
    return [
        datetime(2024, 5, 1, 12, 0, 0, 123456),
        datetime(2024, 5, 1, 12, 0, 0, 120000),  # trailing zeros in the fraction
        datetime(2024, 5, 1, 0, 0, 0),  # midnight, no fraction
        datetime(2024, 12, 31, 23, 59, 59, 999999),
        datetime(1969, 12, 31, 23, 59, 59, 999999),  # one tick before the epoch
        datetime(1970, 1, 1),
        datetime(1900, 2, 28, 6, 7, 8, 9),  # pre-1970: floor, not truncation
        datetime(1, 1, 1, 0, 0, 1, 500),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        None,
    ]


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "Etc/UTC", "Europe/Madrid"])
def test_lookup_text_is_byte_identical_to_chrono(unit: str, zone: str | None) -> None:
    # Years 1 and 9999 only in ms/us: ns timestamps span 1677 to 2262.
    moments = _edge_moments() if unit != "ns" else [*_edge_moments()[:7], None]
    series = pl.Series("t", moments, dtype=pl.Datetime("us"))
    if zone is not None:
        series = series.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    series = series.dt.cast_time_unit(unit)  # type: ignore[arg-type]
    # A clustered column (the usual case) and one whose days span too wide a range for
    # tables, which takes the general path: both must give chrono's bytes.
    clustered = pl.DataFrame({"t": series.slice(0, 4)}).with_columns(
        pl.col("t").dt.date().alias("day")
    )
    spread = pl.DataFrame({"t": series}).with_columns(pl.col("t").dt.date().alias("day"))
    if zone in (None, "UTC", "Etc/UTC"):
        assert datetime_text(clustered["t"], "" if zone is None else "Z") is not None
        assert date_text(clustered["day"]) is not None
    for frame in (clustered, spread, spread.slice(3, 5), spread.clear()):
        assert temporal_as_text(frame).equals(_chrono_text(frame))


def test_lookup_text_of_many_rows_matches_chrono() -> None:
    ticks = pl.int_range(0, 50_000, eager=True) * 7_777_777_777 - 2_000_000_000_000
    frame = pl.DataFrame(
        {
            "utc": ticks.cast(pl.Datetime("us", "UTC")),
            "naive_ns": (ticks * 1000 + 123).cast(pl.Datetime("ns")),
            "naive_ms": (ticks // 1000).cast(pl.Datetime("ms")),
            "day": (ticks // 86_400_000_000).cast(pl.Int32).cast(pl.Date),
        }
    )
    assert temporal_as_text(frame).equals(_chrono_text(frame))


def test_every_second_of_a_day_matches_chrono() -> None:
    # The clock table covers each second of a day once: every entry is checked here.
    seconds = pl.int_range(0, 86_400, eager=True) * 1_000_000 + 1_714_521_600_000_123
    frame = pl.DataFrame(
        {"naive": seconds.cast(pl.Datetime("us")), "utc": seconds.cast(pl.Datetime("us", "UTC"))}
    )
    assert temporal_as_text(frame).equals(_chrono_text(frame))


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize(
    ("zone", "odd", "odd_text", "later", "later_text"),
    [
        # -00:44:30 until 1972-01-07, then -01:00... later +00:00.
        (
            "Africa/Monrovia",
            datetime(1971, 6, 1, 12),
            "1971-06-01T12:00:00{}Z",
            datetime(1972, 6, 1, 12),
            "1972-06-01T12:00:00{}+00:00",
        ),
        # +00:09:21 until 1911.
        (
            "Europe/Paris",
            datetime(1900, 1, 1),
            "1900-01-01T00:00:00{}Z",
            datetime(1950, 1, 1),
            "1950-01-01T01:00:00{}+01:00",
        ),
    ],
)
def test_offsets_with_seconds_are_written_in_utc_whichever_values_share_the_batch(
    unit: str, zone: str, odd: datetime, odd_text: str, later: datetime, later_text: str
) -> None:
    """A value whose zone's offset then had seconds (local mean time) is written in UTC
    (RFC 3339 offsets are whole minutes), in a batch of later values too; a batch of only
    later values takes one format without the per-value check, to the same text."""
    fraction = "." + "0" * {"ms": 3, "us": 6, "ns": 9}[unit]

    def text(values: list[datetime | None]) -> list[str | None]:
        utc = pl.Series(values, dtype=pl.Datetime(unit, "UTC"))
        frame = pl.DataFrame({"t": utc}).cast({"t": pl.Datetime(unit, zone)})
        return temporal_as_text(frame)["t"].to_list()

    odd_utc, later_utc = odd.replace(tzinfo=UTC), later.replace(tzinfo=UTC)
    written, later_written = odd_text.format(fraction), later_text.format(fraction)
    assert text([later_utc, None, odd_utc]) == [later_written, None, written]
    assert text([odd_utc]) == [written]
    assert text([later_utc, None]) == [later_written, None]
    assert text([None]) == [None]
