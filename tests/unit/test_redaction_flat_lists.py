"""Validated rules check and rebuild their candidates as flat values taken out of
per-value lists (flat_lists.py): null and empty lists, sliced batches and text inside
list and struct leaves must come back exactly as `list.eval` gave them."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.flat_lists import ELEMENT, RESULT, any_element, map_elements
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

LISTS = pl.Series("v", [["a", "bb"], None, [], ["ccc"], [None, "d"]])


def _upper(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.col(ELEMENT).str.to_uppercase().alias(RESULT))


def _long(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns((pl.col(ELEMENT).str.len_chars() >= 2).alias(RESULT))


def test_map_elements_keeps_offsets_and_validity_as_list_eval_does() -> None:
    for lists in (LISTS, LISTS.slice(1, 3), LISTS.slice(3)):
        expected = lists.to_frame().select(pl.col("v").list.eval(pl.element().str.to_uppercase()))
        assert map_elements(lists, _upper).to_list() == expected.to_series().to_list()


def test_any_element_is_false_for_empty_lists_and_null_for_null_lists() -> None:
    assert any_element(LISTS, _long).to_list() == [True, None, False, True, False]
    assert any_element(LISTS.slice(3), _long).to_list() == [True, False]


def test_phones_and_cards_inside_lists_and_structs_are_found_per_element() -> None:
    rows = 300
    phone, card = "call +44 20 7946 0123 now", "paid 4111 1111 1111 1111, ok"
    frame = pl.DataFrame(
        {
            "notes": [
                None if i % 7 == 0 else [] if i % 7 == 1 else [phone, "order ORD-2025-001234", card]
                for i in range(rows)
            ],
            "request": [
                None if i % 5 == 0 else {"headers": [phone] if i % 2 else [], "path": "/a"}
                for i in range(rows)
            ],
        }
    )
    out, counts = run(frame, RedactionSpec(level="strict"))
    redacted = ["call [PHONE] now", "order ORD-2025-001234", "paid ***************1111, ok"]
    assert out["notes"].to_list() == [
        None if i % 7 == 0 else [] if i % 7 == 1 else redacted for i in range(rows)
    ]
    assert out["request"].to_list() == [
        None if i % 5 == 0 else {"headers": ["call [PHONE] now"] if i % 2 else [], "path": "/a"}
        for i in range(rows)
    ]
    with_notes = sum(1 for i in range(rows) if i % 7 > 1)
    with_headers = sum(1 for i in range(rows) if i % 5 and i % 2)
    assert counts == {
        "PHONE/notes": with_notes,
        "CARD/notes": with_notes,
        "PHONE/request.headers": with_headers,
    }
