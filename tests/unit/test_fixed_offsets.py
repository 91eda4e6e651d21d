"""Fixed-offset zones are told from zone names, and relabelled UTC at any depth without
changing an instant (Polars' own mapping inverts the sign: +02:00 is Etc/GMT-2)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pytest

from sluice.server.pipeline.fixed_offsets import (
    holds_fixed_offset,
    is_fixed_offset,
    utc_schema,
    with_utc_instants,
)


@pytest.mark.parametrize("zone", ["+05:30", "-03:30", "+0545", "+02", "-12:00", "+00:00"])
def test_offsets_are_fixed(zone: str) -> None:
    assert is_fixed_offset(zone)


@pytest.mark.parametrize(
    "zone", [None, "UTC", "Etc/GMT-2", "Asia/Kolkata", "+5:30", "+24:00", "+05:60", "UTC+02:00"]
)
def test_names_and_malformed_offsets_are_not(zone: str | None) -> None:
    assert not is_fixed_offset(zone)


def test_every_fixed_offset_is_relabelled_utc_with_the_same_instants() -> None:
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    local = dt.datetime(2024, 5, 1, 12, 0, tzinfo=zone)  # 06:30 UTC
    table = pa.table(
        {
            "at": pa.array([local], pa.timestamp("us", "+05:30")),
            "named": pa.array([local], pa.timestamp("us", "Asia/Kolkata")),
            "inside": pa.array([{"at": local}], pa.struct([("at", pa.timestamp("ms", "-03:30"))])),
            "many": pa.array([[local]], pa.large_list(pa.timestamp("s", "+02:00"))),
        }
    )
    frame = pl.from_arrow(with_utc_instants(table))
    assert isinstance(frame, pl.DataFrame)
    utc = dt.datetime(2024, 5, 1, 6, 30, tzinfo=dt.UTC)
    assert frame.row(0) == (utc, utc, {"at": utc}, [utc])
    assert frame.schema["at"] == pl.Datetime("us", "UTC")
    assert frame.schema["named"] == pl.Datetime("us", "Asia/Kolkata")
    assert frame.schema["inside"] == pl.Struct({"at": pl.Datetime("ms", "UTC")})


def test_a_schema_without_fixed_offsets_is_kept_as_it_is() -> None:
    schema = pa.schema([("at", pa.timestamp("us", "Europe/Berlin")), ("n", pa.int64())])
    assert utc_schema(schema) is schema


def test_an_equal_schema_read_again_is_kept_as_it_is_too() -> None:
    """Each file of a glob has its own schema object, equal to the others'."""
    first, again = (pa.schema([("n", pa.int64()), ("s", pa.string())]) for _ in range(2))
    assert utc_schema(first) is first
    assert utc_schema(again) is again and not holds_fixed_offset(again)
