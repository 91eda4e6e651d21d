"""The element-wise comparison of lists of text answers as Polars' row-by-row one."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.changed_lists import lists_differ

Lists = list[list[str | None] | None]


def _both(before: Lists, after: Lists) -> None:
    frame = pl.DataFrame(
        {"a": before, "b": after}, schema={"a": pl.List(pl.String), "b": pl.List(pl.String)}
    )
    got = frame.select(lists_differ(pl.col("a"), pl.col("b"))).to_series().to_list()
    want = frame.select(pl.col("a").ne_missing(pl.col("b"))).to_series().to_list()
    assert got == want


def test_a_row_changed_where_one_of_its_elements_did() -> None:
    before: Lists = [["ann@x.com", "bo@y.org"], ["c"], None, [], ["d", None], [None], ["e", "f"]]
    after: Lists = [["ann@x.com", "[EMAIL]"], ["c"], None, [], ["d", None], ["x"], ["e", "f"]]
    _both(before, after)
    frame = pl.DataFrame({"a": before, "b": after})
    flags = frame.select(lists_differ(pl.col("a"), pl.col("b"))).to_series().to_list()
    assert flags == [True, False, False, False, False, True, False]


def test_lists_of_other_shapes_are_compared_row_by_row() -> None:
    _both([["a"], None, [], ["b", "c"]], [["a"], [], None, ["b"]])
    _both([["a", "b"], ["c"]], [["a"], ["b", "c"]])
