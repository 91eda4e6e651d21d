"""Gates other than the keyword ones are first scanned over a free-text leaf's short
values joined into one text (compaction's `_free_text_tests`): a gate that holds nowhere
there is scanned no further, one that holds is scanned value by value, and a gate that
may hold an anchor is never scanned joined."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction.compaction import TextStep, _free_text_tests
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

ROWS = 3_000


def _urls() -> list[str]:
    return [f"https://shop.example.com/p/{n}" for n in range(ROWS)]


@pytest.mark.parametrize(
    ("value", "redacted"),
    [
        ("https://shop.example.com/c?to=ann@example.com", "to=[EMAIL]"),
        ("https://shop.example.com/c?tel=+1 415-555-0132", "?tel=[PHONE]"),
    ],
)
def test_an_entity_among_short_values_is_found(value: str, redacted: str) -> None:
    urls = _urls()
    urls[1234] = value
    frame = pl.DataFrame({"referrer": urls, "cc": [[u, f"{u}/x"] for u in urls]})
    out, counts = run(frame, RedactionSpec(level="moderate"))
    assert redacted in out["referrer"][1234]
    assert redacted in out["cc"][1234][0]
    assert out["referrer"].to_list()[:1234] == urls[:1234]
    assert out["referrer"].to_list()[1235:] == urls[1235:]
    assert sum(counts.values()) == 2, counts


def _step(pattern: str) -> TextStep:
    return TextStep(
        run=lambda frame, _: frame,
        gate=lambda value: value.str.contains(pattern),
        counters={},
        pattern=pattern,
    )


def test_gates_holding_nowhere_in_the_joined_values_are_not_scanned() -> None:
    batch = pl.DataFrame({"v": [f"id-{n}" for n in range(ROWS)]})
    steps = [_step("@"), _step("id-17"), _step("[0-9]{7}")]
    assert _free_text_tests(batch, ("v",), steps) == [False, True, False]


def test_a_gate_that_may_hold_an_anchor_is_scanned_value_by_value() -> None:
    # Joined, "^b" would find nothing: the value "b" no longer starts the text.
    batch = pl.DataFrame({"v": [f"a{n}" for n in range(ROWS)] + ["b"]})
    assert _free_text_tests(batch, ("v",), [_step("^b"), _step("^z")]) == [True, True]
