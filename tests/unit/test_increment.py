"""Incremental planning: the parent comes from storage, the predicate from its watermark."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from sluice.client.demo_data import generate
from sluice.format.manifest import Watermark
from sluice.format.stored_objects import KeyIndexEntry
from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.pipeline.cursor_values import batch_maximum
from sluice.server.pipeline.postgres_source import LATE_COLUMN
from sluice.server.pipeline.query import CompiledQuery
from sluice.server.planning.incremental_plan import IncrementPlan, plan_increment
from sluice.server.planning.plan import _with_increment
from sluice.server.planning.spec import ExportSpec, IncrementalSpec
from sluice.server.planning.watermarks import past_watermark
from sluice.sinks import LocalSink
from tests.unit.exporting import export_to


@pytest.fixture
def world(tmp_path: Path) -> tuple[LocalSink, Path, pl.Schema]:
    source = generate(tmp_path / "src" / "events.parquet", 1_500, seed=8)
    return LocalSink(tmp_path / "out"), source, pl.read_parquet_schema(source)


def test_full_needs_no_parent(world) -> None:  # type: ignore[no-untyped-def]
    sink, _, schema = world
    plan = plan_increment(IncrementalSpec(), schema, sink, "events", "")
    assert (plan.mode, plan.parent, plan.predicate) == ("full", None, None)


def test_incremental_continues_from_the_latest_committed_watermark(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink, source, schema = world
    frame = pl.read_parquet(source)
    middle = frame["updated_at"].sort()[700]
    mark = {"column": "updated_at", "value": middle.isoformat(), "dtype": "Datetime"}
    export_to(sink, tmp_path, source, "20260101T000000Z-a", watermark=mark)

    plan = plan_increment(IncrementalSpec("incremental", "updated_at"), schema, sink, "events", "")
    assert plan.parent_export_id == "20260101T000000Z-a"
    assert plan.predicate is not None
    assert frame.filter(plan.predicate).height == frame.filter(pl.col("updated_at") > middle).height

    with_lookback = plan_increment(
        IncrementalSpec("incremental", "updated_at", lookback_seconds=86_400),
        schema,
        sink,
        "events",
        "",
    )
    assert with_lookback.predicate is not None
    assert frame.filter(with_lookback.predicate).height > frame.filter(plan.predicate).height


def test_first_incremental_without_a_parent_exports_everything(world) -> None:  # type: ignore[no-untyped-def]
    sink, _, schema = world
    plan = plan_increment(IncrementalSpec("incremental", "updated_at"), schema, sink, "events", "")
    assert plan.parent is None and plan.predicate is None and plan.cursor == "updated_at"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (IncrementalSpec("sometimes"), "spec.incremental.mode"),
        (IncrementalSpec("incremental"), "spec.incremental.cursor"),
        (IncrementalSpec("incremental", "device"), "spec.incremental.cursor"),
        (IncrementalSpec("incremental", "updated_at", key=("nope",)), "spec.incremental.key"),
        (IncrementalSpec("incremental", key=("id", "id")), "spec.incremental.key"),
        (
            IncrementalSpec("incremental", key=("id",), lookback_seconds=60),
            "spec.incremental.lookback",
        ),
        (
            IncrementalSpec("incremental", "updated_at", lookback_seconds=-1),
            "spec.incremental.lookback",
        ),
    ],
)
def test_bad_incremental_requests_name_their_field(world, spec, field) -> None:  # type: ignore[no-untyped-def]
    sink, _, schema = world
    with pytest.raises(InvalidArgument) as raised:
        plan_increment(spec, schema, sink, "events", "")
    assert raised.value.violations[0].field == field


def test_changing_the_cursor_of_a_chain_is_refused(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink, source, schema = world
    export_to(sink, tmp_path, source, "a", watermark={"column": "id", "value": 5, "dtype": "Int64"})
    with pytest.raises(InvalidArgument, match="tracked 'id'"):
        plan_increment(IncrementalSpec("incremental", "updated_at"), schema, sink, "events", "")


def test_spec_round_trips_through_json() -> None:
    from sluice.server.planning.spec import DestinationSpec, SourceSpec

    spec = ExportSpec(
        source=SourceSpec("s"),
        destination=DestinationSpec("d", "ds"),
        incremental=IncrementalSpec("incremental", "updated_at", 3600, ("id",)),
    )
    assert ExportSpec.from_json(spec.to_json()) == spec


def test_key_only_increments_compare_with_the_parent_key_index(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink, source, schema = world
    first = plan_increment(IncrementalSpec("incremental", key=("id",)), schema, sink, "events", "")
    assert (first.parent, first.by_key, first.predicate) == (None, True, None)

    export_to(sink, tmp_path, source, "20260101T000000Z-a")
    with pytest.raises(FailedPrecondition, match="has no key index"):
        plan_increment(IncrementalSpec("incremental", key=("id",)), schema, sink, "events", "")

    index = {"path": "index.arrows", "key": ["id"], "key_id": "k1"}
    export_to(sink, tmp_path, source, "20260102T000000Z-b", key_index=index)
    plan = plan_increment(IncrementalSpec("incremental", key=("id",)), schema, sink, "events", "")
    assert plan.parent_index == KeyIndexEntry("index.arrows", key=("id",), key_id="k1")
    assert plan.parent_folder == "events/20260102T000000Z-b"
    with pytest.raises(FailedPrecondition, match="keyed by id, not email"):
        plan_increment(IncrementalSpec("incremental", key=("email",)), schema, sink, "events", "")
    # A struct key is fine (its values come back from the sealed JSON): only the
    # parent's other key refuses it.
    with pytest.raises(FailedPrecondition, match="keyed by id, not device"):
        plan_increment(IncrementalSpec("incremental", key=("device",)), schema, sink, "events", "")
    # A key index digested another way can never match: refused, not all rows "changed".
    other = {**index, "algorithm": "blake3"}
    export_to(sink, tmp_path, source, "20260103T000000Z-c", key_index=other)
    with pytest.raises(FailedPrecondition, match="digests keys with 'blake3'"):
        plan_increment(IncrementalSpec("incremental", key=("id",)), schema, sink, "events", "")
    # With a cursor the key only deduplicates look-back rows: no tombstones.
    cursor_plan = plan_increment(
        IncrementalSpec("incremental", "updated_at", key=("id",)), schema, sink, "events", ""
    )
    assert cursor_plan.key == ("id",) and not cursor_plan.by_key


_NS_BASE = 1_764_547_200_000_000_000  # 2025-12-01T00:00:00Z in nanoseconds


def test_old_microsecond_watermarks_of_a_nanosecond_cursor_still_read() -> None:
    """Manifests written before nanosecond watermarks hold six digits (or none)."""
    dtype = pl.Datetime("ns", "Europe/Paris")
    frame = pl.DataFrame(
        {"c": pl.Series([_NS_BASE + 999, _NS_BASE + 1000, _NS_BASE + 1001]).cast(dtype)}
    )
    for text, kept in [
        ("2025-12-01T01:00:00.000001+01:00", [_NS_BASE + 1001]),
        ("2025-12-01T01:00:00+01:00", [_NS_BASE + 999, _NS_BASE + 1000, _NS_BASE + 1001]),
        ("2025-12-01T01:00:00.000000999+01:00", [_NS_BASE + 1000, _NS_BASE + 1001]),
    ]:
        predicate = past_watermark(Watermark("c", text, str(dtype)), dtype, None)
        assert predicate is not None
        assert frame.filter(predicate)["c"].cast(pl.Int64).to_list() == kept, text


def test_a_decimal_watermark_finer_than_the_column_loses_no_rows() -> None:
    """A parent read the column at a larger scale: its watermark has more digits than
    the column now holds, and rounding it to the nearest would skip the rows just above."""
    dtype = pl.Decimal(10, 2)
    values = ["-2.26", "-2.25", "2.25", "2.26", "2.26", "2.27"]
    frame = pl.DataFrame({"c": pl.Series([Decimal(v) for v in values], dtype=dtype)})
    for text, kept in [
        ("2.2589", ["2.26", "2.26", "2.27"]),
        ("2.2501", ["2.26", "2.26", "2.27"]),
        ("2.26", ["2.27"]),
        ("-2.2555", ["-2.25", "2.25", "2.26", "2.26", "2.27"]),
    ]:
        predicate = past_watermark(Watermark("c", text, str(dtype)), dtype, None)
        assert predicate is not None
        assert [str(v) for v in frame.filter(predicate)["c"]] == kept, text


@pytest.mark.parametrize("text", ["123456789.5", "-1E+40", "not a number"])
def test_a_decimal_watermark_the_column_cannot_hold_is_refused_at_planning(text: str) -> None:
    dtype = pl.Decimal(10, 2)
    with pytest.raises(FailedPrecondition) as refused:
        past_watermark(Watermark("c", text, str(dtype)), dtype, None)
    assert "full export" in str(refused.value) and text not in str(refused.value)


def test_a_finer_datetime_watermark_rounds_down_and_with_a_lookback_up() -> None:
    """A watermark between two of the column's values: without a look-back the rows past
    it start at the next value (rounded down, then `>`); with one, the bound
    watermark - lookback is rounded up (then `>=`), so no row before it is sent."""
    dtype = pl.Datetime("ms")
    frame = pl.DataFrame({"c": pl.Series([-1000, -999, 0, 1], dtype=pl.Int64).cast(dtype)})
    watermark = Watermark("c", "1970-01-01T00:00:00.000500", str(dtype))  # 0.5 ms
    exact = past_watermark(watermark, dtype, None)
    late = past_watermark(watermark, dtype, timedelta(seconds=1))  # from -999.5 ms
    assert exact is not None and late is not None
    assert frame.filter(exact)["c"].cast(pl.Int64).to_list() == [1]
    assert frame.filter(late)["c"].cast(pl.Int64).to_list() == [-999, 0, 1]


def test_a_late_row_without_a_cursor_is_sent_not_counted_as_unsent() -> None:
    """A PostgreSQL increment also sends the rows its parent's snapshot did not see
    (LATE_COLUMN), whatever their cursor: such a row is sent, so not counted as one no
    increment sends; a null-cursor row that is not late is."""
    dtype = pl.Int64()
    schema = pl.Schema({"id": dtype, "c": dtype, LATE_COLUMN: pl.Boolean()})
    past = past_watermark(Watermark("c", 3, str(dtype)), dtype, None)
    assert past is not None
    increment = IncrementPlan(mode="incremental", cursor="c", predicate=past | pl.col(LATE_COLUMN))
    query = _with_increment(CompiledQuery(columns=("id", "c"), predicate=None), increment, schema)
    frame = pl.DataFrame(
        {"id": [1, 2, 3, 4], "c": [None, None, 5, 2], LATE_COLUMN: [True, False, False, True]},
        schema=schema,
    )
    assert query.predicate is not None and query.without_cursor is not None
    assert frame.filter(query.predicate)["id"].to_list() == [1, 3, 4]
    assert frame.filter(query.without_cursor)["id"].to_list() == [2]


@pytest.mark.parametrize(
    ("values", "text"),
    [(["-0.0000000001", "-0.0000000002"], "-0.0000000001"), (["0E-10"], "0.0000000000")],
)
def test_a_decimal_watermark_is_written_positionally(values: list[str], text: str) -> None:
    """Not "-1E-10" or "0E-10" (str of a Decimal): the manifest's text is read by people
    and by other tools."""
    dtype = pl.Decimal(20, 10)
    batch = pl.DataFrame({"c": pl.Series([Decimal(v) for v in values], dtype=dtype)})
    assert batch_maximum(batch, "c") == text


_MAIN_WATERMARKS = [
    # (dtype, the watermark main wrote, the column's physical values; the last is past it)
    (pl.Int64(), 5, [4, 5, 6]),
    (pl.UInt64(), 2**64 - 2, [2**64 - 3, 2**64 - 2, 2**64 - 1]),
    (pl.Float64(), 0.30000000000000004, [0.3, 0.30000000000000004, 0.5]),
    (pl.Date(), "2024-02-29", [19781, 19782, 19783]),
    (
        pl.Datetime("ms"),
        "2025-12-01T00:00:00.123000",
        [1764547200122, 1764547200123, 1764547200124],
    ),
    (
        pl.Datetime("ms", "America/New_York"),
        "2025-11-30T19:00:00.123000-05:00",
        [1764547200122, 1764547200123, 1764547200124],
    ),
    (
        pl.Datetime("us"),
        "1914-01-31T23:59:59.999999",
        [-1764547200000002, -1764547200000001, -1764547200000000],
    ),
    (
        pl.Datetime("ns"),
        "2025-12-01T00:00:00.123456",
        [_NS_BASE + 123455999, _NS_BASE + 123456000, _NS_BASE + 123456001],
    ),
    (pl.String(), "ä", ["a", "ä", "ö"]),
]


@pytest.mark.parametrize(("dtype", "value", "physical"), _MAIN_WATERMARKS)
def test_a_parent_manifest_written_by_main_is_continued(
    dtype: pl.DataType, value: object, physical: list[object]
) -> None:
    """Watermarks as main wrote them (a number, ISO text with six digits at most):
    the next increment sends the rows past them, and for every type but a nanosecond
    datetime this version writes the same text for the same maximum."""
    column = pl.Series("c", physical)
    if dtype.is_temporal():
        column = column.cast(pl.Int64).cast(dtype)
    frame = pl.DataFrame({"c": column.cast(dtype)})
    predicate = past_watermark(Watermark("c", value, str(dtype)), dtype, None)
    assert predicate is not None
    assert frame.filter(predicate)["c"].to_list() == frame["c"].tail(1).to_list()
    if dtype != pl.Datetime("ns"):
        assert batch_maximum(frame.head(2), "c") == value
