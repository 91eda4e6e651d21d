"""Gates other than the keyword ones are first scanned over a free-text leaf's short
values joined into one text (compaction's `_free_text_tests`): a gate that holds nowhere
there is scanned no further, one that holds is scanned value by value, and a gate that
may hold an anchor is never scanned joined."""

from __future__ import annotations

import random

import polars as pl
import pytest

from sluice.server.pipeline.redaction.compaction import (
    TextStep,
    _anchored,
    _free_text_tests,
    _gate_pattern,
)
from sluice.server.pipeline.redaction.entity import without_names
from sluice.server.pipeline.redaction.gate_groups import _alternatives
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import redactor_for, run

ROWS = 3_000
STRICT = RedactionSpec(level="strict")


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


def _labelled_step(pattern: str, label: str) -> TextStep:
    return TextStep(
        run=lambda frame, _: frame,
        gate=lambda value: value.str.contains(pattern) | value.str.contains(label),
        counters={},
        pattern=pattern,
        label=label,
    )


def test_a_label_that_may_hold_an_anchor_is_scanned_value_by_value() -> None:
    # The gate holds on "b" through its label: joined, "^b" would find nothing there.
    batch = pl.DataFrame({"v": [f"a{n}" for n in range(ROWS)] + ["b"]})
    assert _free_text_tests(batch, ("v",), [_labelled_step("z", "^b")]) == [True]


def test_a_label_is_part_of_the_gate_scanned_over_the_joined_values() -> None:
    batch = pl.DataFrame({"v": [f"id-{n}" for n in range(ROWS)] + ["SSN# 1"]})
    steps = [_labelled_step("@", "SSN#"), _labelled_step("@", "NINO#")]
    assert _free_text_tests(batch, ("v",), steps) == [True, False]


#: Gates as the patterns of the built-in entities are written: led by classes (scanned
#: as one group), by literals only (scanned alone), named groups, a gate given twice.
_GATES = [
    "[0-9]{4}(?:\\.[0-9]{4}){3}",
    "@|&commat;",
    "[A-Z]{2}[0-9]{2}[A-Z0-9]{4}",
    "(?P<lead>\\+)[0-9]{9}|[0-9]{3}-[0-9]{4}",
    "\\.[0-9]{4}",
    "[0-9]{4}(?:\\.[0-9]{4}){3}",
    "(?:(?P<lead>0{1,4}):){5}[0-9]|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}",
    "[A-CEGHJ-PR-TW-Z]{2} ?[0-9]{6} ?[A-D]",
    "x{3}|[xy]{5}",
]

_PLANTED = [
    "1234.5678.9012.3456",
    "a@b",
    "GB82WEST1234",
    "+123456789",
    "555-0132",
    "0.12345",
    "00:00:00:00:00:1",
    "aa:bb:cc:dd:ee:ff",
    "AB 123456 C",
    "yyxyy",
]


@pytest.mark.parametrize("planted", [[], *([p] for p in _PLANTED), _PLANTED[::3], _PLANTED])
def test_gates_scanned_in_groups_find_what_each_finds_alone(planted: list[str]) -> None:
    values = [f"id-{n}" for n in range(ROWS)]
    for n, value in enumerate(planted):
        values[n * 271] = f"see {value} here"
    batch = pl.DataFrame({"v": values})
    alone = [batch.select(pl.col("v").str.contains(g).any()).item() for g in _GATES]
    assert _free_text_tests(batch, ("v",), [_step(g) for g in _GATES]) == alone


@pytest.mark.parametrize(
    ("pattern", "alternatives"),
    [
        ("a|b", ["a", "b"]),
        ("(?:a|b)c|d", ["(?:a|b)c", "d"]),
        ("a\\|b|c", ["a\\|b", "c"]),
        ("[|]|b", ["[|]", "b"]),
        ("[]|]x|y", ["[]|]x", "y"]),
        ("[^]|]x|y", ["[^]|]x", "y"]),
        ("[a[|]]|z", ["[a[|]]", "z"]),
        ("[\\]|]|z", ["[\\]|]", "z"]),
        ("abc", ["abc"]),
    ],
)
def test_a_pattern_is_split_at_its_top_level_alternatives(
    pattern: str, alternatives: list[str]
) -> None:
    assert _alternatives(pattern) == alternatives


def test_patterns_that_cannot_join_others_are_scanned_alone() -> None:
    # Custom patterns may repeat a group's name, or turn on verbose mode, whose comment
    # would run over the rest of a joined alternation.
    batch = pl.DataFrame({"v": [f"id-{n}" for n in range(ROWS)] + ["12345x"]})
    steps = [
        _step("(?P<n>[0-9]{5})x"),
        _step("(?P<n>[0-9]{5})y"),
        _step("(?x)[0-9]{5} x  # five digits and an x"),
        _step("(?x)[0-9]{5} y  # five digits and a y"),
    ]
    assert _free_text_tests(batch, ("v",), steps) == [True, False, True, False]


def test_a_named_group_after_an_escaped_parenthesis_is_kept_as_text() -> None:
    # "\(?" is an optional "(": the pattern matches the text "123P<sl_value>x", which
    # "[0-9]{3}\(?:x" (its name removed as if it opened a group) would not.
    pattern = "[0-9]{3}\\(?P<sl_value>x"
    assert without_names(pattern) == pattern
    assert without_names("\\\\(?P<sl_value>x)") == "\\\\(?:x)"
    batch = pl.DataFrame({"v": [f"id-{n}" for n in range(ROWS)] + ["123P<sl_value>x"]})
    steps = [_step(pattern), _step("[a-z]{9}q")]
    assert _free_text_tests(batch, ("v",), steps) == [True, False]


def test_a_group_the_engine_cannot_build_joined_is_split() -> None:
    # Each alone stays under the regex engine's size limit, the two joined do not.
    first, second = "[0-9]\\w{200}", "[a-z]\\w{200}"
    batch = pl.DataFrame({"v": [f"id-{n}" for n in range(ROWS)] + ["x" * 10 + "1" + "a" * 700]})
    with pytest.raises(pl.exceptions.PolarsError):
        batch.select(pl.col("v").str.contains(f"(?:{first})|(?:{second})"))
    steps = [_step(first), _step(second), _step("[A-Z]{9}q")]
    assert _free_text_tests(batch, ("v",), steps) == [True, True, False]


@pytest.mark.parametrize("seed", range(6))
def test_grouped_answers_are_each_gates_own_over_generated_values(seed: int) -> None:
    # The strict level's gates (as the redactor builds them), over short values holding
    # random pieces of what they look for: grouped, each answers as its own scan does.
    steps = list(redactor_for(pl.DataFrame({"text": ["a"]}), STRICT)._text_pass._steps)
    rng = random.Random(seed)
    pieces = [*_PLANTED, "4111 1111 1111 1111", "078-05-1120", "12345678Z", "::1", "10.0.0.1"]
    planted = rng.sample(pieces, rng.randrange(len(pieces) + 1))
    values = [f"id-{n}" for n in range(ROWS)]
    for value in planted:
        values[rng.randrange(ROWS)] = f"x {value} y"
    batch = pl.DataFrame({"v": values})
    whole = batch.select(pl.col("v").str.join("\n"))
    found = _free_text_tests(batch, ("v",), steps)
    for step, holds in zip(steps, found, strict=True):
        if step.keyword or not step.pattern or _anchored(_gate_pattern(step)):
            continue
        alone = whole.select(step.gate(pl.col("v")).fill_null(False).any()).item()
        assert holds == alone, step.pattern
