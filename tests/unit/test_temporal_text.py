"""The exact text dates and times get in jsonl, json and csv chunks."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from sluice.format.temporal_text import temporal_as_text
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
