"""Text picked out of a batch and copied together (packed_text.py) keeps its values,
nulls, order, name and type: only where the text lies changes."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.packed_text import packed, packed_frame

TEXTS = (
    "call +44 20 7946 0123 now",
    None,
    "short",
    "",
    "Íñigo Fernández, 电话555-123-4567谢谢, a value longer than a view's twelve bytes",
)


def test_picked_text_keeps_its_values_in_order() -> None:
    batch = pl.Series("message", list(TEXTS) * 50)
    picked = batch.filter(pl.Series([i % 3 != 1 for i in range(len(batch))]))
    out = packed(picked)
    assert out.name == "message"
    assert out.dtype == pl.String
    assert out.to_list() == picked.to_list()
    assert out.null_count() == picked.null_count()


def test_text_in_several_chunks_comes_back_whole() -> None:
    parts = pl.concat([pl.Series("m", TEXTS[:2]), pl.Series("m", TEXTS[2:])], rechunk=False)
    assert parts.n_chunks() == 2
    assert packed(parts).to_list() == list(TEXTS)


def test_lists_of_text_keep_their_nulls_and_empty_lists() -> None:
    lists = pl.Series("cc", [["ann@example.com", None], None, [], [TEXTS[4]]] * 10)
    picked = lists.filter(pl.Series([i % 2 == 0 for i in range(len(lists))]))
    out = packed(picked)
    assert out.dtype == pl.List(pl.String)
    assert out.to_list() == picked.to_list()


def test_other_values_are_returned_as_they_are() -> None:
    numbers = pl.Series("n", [1, None, 3])
    request = pl.Series("request", [{"path": "/a", "referrer": None}])
    assert packed(numbers) is numbers
    assert packed(request) is request


def test_a_frame_keeps_its_columns() -> None:
    frame = pl.DataFrame({"v": list(TEXTS), "n": range(len(TEXTS))})
    out = packed_frame(frame.filter(pl.col("n") != 2))
    assert out.columns == ["v", "n"]
    assert out.to_dict(as_series=False) == frame.filter(pl.col("n") != 2).to_dict(as_series=False)
