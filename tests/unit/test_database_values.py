"""database_values finds the first value the export cannot hold in crafted Arrow
arrays (null slots, slices, nesting) and names its row in the batch."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from sluice.server.pipeline.database_values import UnreadableValue, check_duckdb

#: DuckDB's infinity timestamp, which the export refuses.
INFINITY = 2**63 - 1
STAMP = pa.timestamp("us")


def _refused_row(column: Any) -> int | None:
    """The row (0-based) check_duckdb names for a batch of the one column, or None."""
    try:
        check_duckdb(pa.record_batch([column], ["c"]))
    except UnreadableValue as exc:
        assert exc.column == "c"
        return exc.row
    return None


def _list(offsets: list[int], values: list[int], nulls: list[bool]) -> Any:
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(values, STAMP), mask=pa.array(nulls)
    )


@pytest.mark.parametrize(
    ("column", "row"),
    [
        # A null slot over a non-empty range of values: flatten() leaves its values
        # out, list_parent_indices counted them (the row named was 1).
        (_list([0, 2, 4, 5], [1, 2, 3, 4, INFINITY], [False, True, False]), 2),
        (_list([0, 2, 4, 5, 6], [1, 2, 3, 4, 5, INFINITY], [False, True, False, False]), 3),
        # A value under the null slot is no value: nothing to refuse.
        (_list([0, 2, 4, 5], [1, 2, INFINITY, 4, 5], [False, True, False]), None),
        (_list([0, 1, 2, 2, 3, 5], [1, 2, 3, INFINITY, 5], [False] * 5), 4),
        (_list([0, 1, 2, 2, 3, 5], [1, 2, 3, INFINITY, 5], [False] * 5).slice(2), 2),
        (_list([0, 2, 4, 5, 6], [1, 2, 3, 4, 5, INFINITY], [False, True, False, False])[1:], 2),
        (
            pa.LargeListArray.from_arrays(
                pa.array([0, 2, 4, 5], pa.int64()),
                pa.array([1, 2, 3, 4, INFINITY], STAMP),
                mask=pa.array([False, True, False]),
            ),
            2,
        ),
        (
            pa.FixedSizeListArray.from_arrays(
                pa.array([1, 2, 3, 4, 5, INFINITY], STAMP), 2, mask=pa.array([False, True, False])
            ),
            2,
        ),
        (
            pa.FixedSizeListArray.from_arrays(
                pa.array([1, 2, INFINITY, 4, 5, 6], STAMP), 2, mask=pa.array([False, True, False])
            ),
            None,
        ),
        (
            pa.MapArray.from_arrays(
                pa.array([0, 1, 2, 3]), pa.array([1, 2, 3]), pa.array([1, 2, INFINITY], STAMP)
            ).slice(1),
            1,
        ),
        (
            pa.MapArray.from_arrays(
                pa.array([0, 0, 1, 3, 4]),
                pa.array([1, 2, 3, 4]),
                pa.array([1, INFINITY, 3, INFINITY], STAMP),
                mask=pa.array([False, False, True, False]),
            ).slice(1),
            2,
        ),
        (
            pa.StructArray.from_arrays(
                [pa.array([1, INFINITY, 3], STAMP), pa.array([1, 2, 3])], ["a", "b"]
            ).slice(1),
            0,
        ),
        # Lists of lists, a null slot at each depth.
        (
            pa.ListArray.from_arrays(
                pa.array([0, 1, 2, 3], pa.int32()),
                _list([0, 1, 2, 3], [1, 2, INFINITY], [False, False, False]),
                mask=pa.array([False, False, True]),
            ),
            None,
        ),
        (
            pa.ListArray.from_arrays(
                pa.array([0, 2, 3, 4], pa.int32()),
                _list([0, 1, 3, 4, 5], [1, 2, 3, 4, INFINITY], [False, True, False, False]),
                mask=pa.array([False, True, False]),
            ),
            2,
        ),
    ],
)
def test_the_row_named_is_the_row_holding_the_value(column: Any, row: int | None) -> None:
    assert _refused_row(column) == row
