"""The PHONE gate (phone_gate.py) holds wherever the phone rule changes a value, and
turns down the dates, ids and tracking numbers the value pattern alone picked."""

from __future__ import annotations

import itertools
import random

import polars as pl
import pytest

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.policy import entity_rule
from sluice.server.pipeline.redaction.text import rewrite_text
from tests.unit.redaction_corpus import generate

PHONE = ENTITY_BY_NAME["PHONE"]
RULE = entity_rule(PHONE, "redact")

# What comes before and after a number, separators inside it, and whole layouts.
_LEADS = ("", " ", "#", "-", "*", "**", "(", "+", ",", ";", "|", "\x02", "a", "/", ".", ":")
_TRAILS = ("", " ", ".", ",", ")", "a", " b", "-", " 1", ":", " - 2")
_SEPARATORS = ("", "", " ", "-", ".", "  ", " - ", "/", "\u00a0")
_LAYOUTS = (
    "(555) 123-4567",
    "+1 555-123-4567",
    "+44 20 7946 0958",
    "07700 900123",
    "+34 612 345 678",
    "+49 151 12345678",
    "+55 11 91234-5678",
    "090-1234-5678",
    "+33 6 12 34 56 78",
    "01 23 45 67 89",
    "555.123.4567",
    "555 123 4567 555 987 6543",
    "555-123-4567 2024-05-06",
    "+1 555.123 4567",
    "2024-05-06 12",
    "2024-05-06 123",
    "123-45-6789",
    "4111 1111 1111 1111",
    "978-3-16-148410-0",
    "+1 (555) 1234567x12",
)


def _number(rnd: random.Random) -> str:
    if rnd.random() < 0.2:
        return rnd.choice(_LAYOUTS)
    groups = [f"{rnd.randrange(10**size):0{size}d}" for size in rnd.choices(range(1, 7), k=4)]
    number = groups[0] + "".join(rnd.choice(_SEPARATORS) + g for g in groups[1 : rnd.randint(1, 4)])
    return rnd.choice(("", "", "+", "(12) ")) + number


def _texts(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    parts = (rnd.randint(1, 3) for _ in range(count))
    return [
        "".join(rnd.choice(_LEADS) + _number(rnd) + rnd.choice(_TRAILS) for _ in range(n))
        for n in parts
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_gate_holds_wherever_the_rule_changes_a_value(seed: int) -> None:
    texts = _texts(4000, seed) + [s.text for s in generate(per_kind=20, seed=seed)]
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    out = frame.select(
        changed=rewrite_text(pl.col("t"), RULE) != pl.col("t"),
        gated=pl.col("t").str.contains(RULE.gate),
    )
    changed = out["changed"]
    assert changed.sum() > 500  # the texts hold phone numbers the rule rewrites
    missed = frame.filter(changed & ~out["gated"])["t"].to_list()
    assert missed == []


@pytest.mark.parametrize(
    "text",
    [
        "Promised delivery date was 2024-05-06.",
        "Tracking number 1234567890123456789012 did not update.",
        "ID document 12345678Z checked by the agent.",
        "See ticket #12345678 for the history.",
        "Paid with 4111111111111111 and asked for a receipt.",
    ],
)
def test_look_alikes_are_not_picked(text: str) -> None:
    assert not pl.Series([text]).str.contains(RULE.gate).item()


def test_the_gate_picks_control_characters() -> None:
    # The fenced rewrite replaces every candidate where they are (fenced_rewrite.py).
    for char in "\x00\x01\x02":
        assert pl.Series([f"a{char}b 1234567"]).str.contains(RULE.gate).item()


@pytest.mark.parametrize("digits", [7, 8, 9, 10])
def test_runs_of_digits_picked_by_their_layout(digits: int) -> None:
    runs, expected = [], []
    for gaps in itertools.product(("", " ", "-"), repeat=digits - 1):
        runs.append("1" + "".join(gap + "1" for gap in gaps))
        date = gaps == ("", "", "", "-", "", "-", "")
        expected.append(digits >= 8 and any(gaps) and not date)
    assert pl.Series(runs).str.contains(RULE.gate).to_list() == expected


def test_a_value_holding_a_control_character_is_nulled_only_where_the_pattern_matches() -> None:
    # As when the gate was the value pattern: "a\x01b" was not picked, and stays.
    rule = entity_rule(PHONE, "null")
    texts = ["a\x01b", "a\x01b 1234567", "a\x02b 2024-05-06", "call 555-123-4567"]
    frame = pl.DataFrame({"t": texts})
    gated = pl.col("t").str.contains(rule.gate)
    out = frame.select(pl.when(gated).then(rewrite_text(pl.col("t"), rule)).otherwise("t"))
    assert frame.select(gated).to_series().all()
    assert out.to_series().to_list() == ["a\x01b", None, None, None]
