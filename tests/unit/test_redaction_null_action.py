"""A pattern rule with the `null` action nulls the text values holding a match, and only
those: never a value of another column, a struct's other fields or a list's other
elements that the rewrite also runs on."""

from __future__ import annotations

import polars as pl

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "a": ["ticket zz-1234 open", "clean", None],
            "b": ["clean too", "see zz-9999", "zz-0000"],
            "s": [
                {"x": "zz-4321 here", "y": "nothing"},
                {"x": "nothing", "y": "nothing"},
                {"x": None, "y": "zz-1111"},
            ],
            "l": [["zz-5555", "keep me", None], ["keep", "me"], []],
        }
    )


def test_only_values_holding_a_match_become_null() -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=zz-[0-9]{4}:null"),))
    out, counts = run(_frame(), spec)
    assert out["a"].to_list() == [None, "clean", None]
    assert out["b"].to_list() == ["clean too", None, None]
    assert out["s"].to_list() == [
        {"x": None, "y": "nothing"},
        {"x": "nothing", "y": "nothing"},
        {"x": None, "y": None},
    ]
    assert out["l"].to_list() == [[None, "keep me", None], ["keep", "me"], []]
    # Records in which the rule changed each leaf.
    assert counts == {
        "REGEX_0/a": 1,
        "REGEX_0/b": 2,
        "REGEX_0/s.x": 1,
        "REGEX_0/s.y": 1,
        "REGEX_0/l": 1,
    }


def test_an_entity_rule_nulls_only_matches_not_what_its_gate_picked() -> None:
    # EMAIL's gate is an "@": a value holding one but no address is no match.
    frame = pl.DataFrame({"t": ["mail ana@example.com", "meet @ noon", "plain"]})
    spec = RedactionSpec(level="custom", rules=(rule("pattern=EMAIL:null"),))
    out, counts = run(frame, spec)
    assert out["t"].to_list() == [None, "meet @ noon", "plain"]
    assert counts == {"EMAIL/t": 1}
