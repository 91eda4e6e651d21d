"""Cursor watermarks: which cursor columns are accepted, and which rows pass."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from sluice.format.manifest import Watermark
from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.cursor_values import batch_maximum, later
from sluice.server.planning.watermarks import check_cursor, past_watermark

FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "updated_at": [datetime(2026, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3, 4)],
        "naive": [datetime(2026, 1, d, 12) for d in (1, 2, 3, 4)],
        "day": [date(2026, 1, d) for d in (1, 2, 3, 4)],
        "name": ["a", "b", "c", "d"],
        "flag": [True, False, True, False],
        "tags": [["x"], [], ["y"], []],
    }
)


def _ids(watermark: Watermark | None, column: str, lookback: timedelta | None = None) -> list[int]:
    expr = past_watermark(watermark, FRAME.schema[column], lookback)
    frame = FRAME if expr is None else FRAME.filter(expr)
    return frame["id"].to_list()


@pytest.mark.parametrize("column", ["id", "updated_at", "naive", "day", "name"])
def test_orderable_columns_are_cursors(column: str) -> None:
    assert check_cursor(FRAME.schema, column) == FRAME.schema[column]


@pytest.mark.parametrize(
    ("column", "message"),
    [("flag", "Boolean"), ("tags", "List"), ("nope", "unknown"), ("", "need a cursor")],
)
def test_unorderable_or_missing_cursors_are_refused(column: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_cursor(FRAME.schema, column)


def test_rows_strictly_after_the_watermark_pass() -> None:
    assert _ids(None, "id") == [1, 2, 3, 4]
    assert _ids(Watermark("id", 2, "Int64"), "id") == [3, 4]
    mark = Watermark("updated_at", datetime(2026, 1, 2, 12, tzinfo=UTC).isoformat(), "")
    assert _ids(mark, "updated_at") == [3, 4]
    assert _ids(Watermark("naive", "2026-01-02T12:00:00+00:00", ""), "naive") == [3, 4]
    assert _ids(Watermark("day", "2026-01-03", "Date"), "day") == [4]
    assert _ids(Watermark("name", "b", "String"), "name") == [3, 4]


def test_lookback_resends_late_rows_from_the_window() -> None:
    mark = Watermark("updated_at", datetime(2026, 1, 3, 12, tzinfo=UTC).isoformat(), "")
    assert _ids(mark, "updated_at", timedelta(days=1)) == [2, 3, 4]
    with pytest.raises(InvalidArgument):
        _ids(Watermark("id", 2, "Int64"), "id", timedelta(days=1))


def test_batch_maximum_and_later_build_the_next_watermark() -> None:
    dtype = FRAME.schema["updated_at"]
    first = batch_maximum(FRAME.head(2), "updated_at")
    second = batch_maximum(FRAME.tail(2), "updated_at")
    assert later(first, second, dtype) == datetime(2026, 1, 4, 12, tzinfo=UTC).isoformat()
    assert later(None, first, dtype) == first and later(first, None, dtype) == first
    assert batch_maximum(FRAME.head(0), "id") is None
    mark = Watermark("updated_at", second, str(dtype))
    assert Watermark.from_json(mark.to_json()) == mark
    assert Watermark.from_json(None) is None


def test_each_journalled_chunk_carries_its_largest_cursor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading

    from sluice.client.demo_data import generate
    from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
    from sluice.server.planning.plan import build_plan
    from sluice.server.planning.spec import (
        ChunkingSpec,
        DestinationSpec,
        ExportSpec,
        IncrementalSpec,
        SourceSpec,
    )
    from sluice.server.settings import load_settings
    from sluice.sinks import MemorySink
    from tests.unit.exporting import Journal

    source = generate(tmp_path / "src" / "events.parquet", 2_500, seed=3)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "s",
            "allowed_source_roots": [tmp_path / "src"],
            "allowed_roots": [tmp_path / "out"],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(tmp_path / "out"), "events"),
        chunking=ChunkingSpec(max_rows=1_000),
        # A full export with a cursor records the watermark a later incremental starts from.
        incremental=IncrementalSpec(mode="full", cursor="updated_at"),
    )
    plan = build_plan(spec, settings, "inc", owner="")
    assert plan.cursor == "updated_at"
    journal = Journal()
    run_pipeline(
        plan.pipeline,
        MemorySink("cursor"),
        ResumePoint(),
        journal,
        threading.Event(),
        PipelineOptions(256, 2, 0, b"k" * 32),
    )

    frame = pl.read_parquet(source)
    expected = [
        frame.slice(start, 1_000)["updated_at"].max().isoformat()  # type: ignore[union-attr]
        for start in (0, 1_000, 2_000)
    ]
    assert [c.cursor_max for c in journal.chunks] == expected
