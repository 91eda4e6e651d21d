"""A mask never shows a whole secret (session 29): `mask:N` kept a value of N characters
or fewer whole, at every level (a custom rule `mask:8` on a password of 6 wrote it as
it was). Such a value is now masked whole. Nor more than it hides (session 30): `mask:N`
on N+1 characters showed N of them; it shows the last min(N, L // 2) of L characters."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

LEVELS = ["basic", "moderate", "strict"]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter", "password=******"),
        ("password=hunter12", "password=********"),
        ("token=x", "token=*"),
        ("password=abcdefghijklmnop", "password=********ijklmnop"),
    ],
)
def test_a_mask_in_text_never_shows_a_whole_secret(level: str, text: str, expected: str) -> None:
    spec = RedactionSpec(level=level, rules=[rule("pattern=SECRET_VALUE:mask:8")])
    out, _ = run(pl.DataFrame({"text": [text]}), spec)
    assert out["text"].to_list() == [expected]


@pytest.mark.parametrize("level", LEVELS)
def test_a_column_mask_never_shows_a_whole_value(level: str) -> None:
    values = ["hunter", "a", "", "abcdefghijkl", None]
    spec = RedactionSpec(level=level, rules=[rule("column=pw:mask:8")])
    out, _ = run(pl.DataFrame({"pw": values}), spec)
    # 12 characters under mask:8 showed 8 and hid 4; now 6 of each.
    assert out["pw"].to_list() == ["******", "*", "", "******ghijkl", None]


@pytest.mark.parametrize("level", LEVELS)
def test_a_card_keeps_its_last_four(level: str) -> None:
    spec = RedactionSpec(level=level, rules=[rule("pattern=CARD:mask:4")])
    out, _ = run(pl.DataFrame({"text": ["card 4111 1111 1111 1111"]}), spec)
    assert out["text"].to_list() == ["card ***************1111"]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("keep", "value", "expected"),
    [
        (4, "abcde", "***de"),
        (4, "hunter2", "****er2"),
        (4, "abcdefgh", "****efgh"),
        (4, "abcdefghi", "*****fghi"),
        (8, "hunter123", "*****r123"),
        (1, "ab", "*b"),
        (2, "abc", "**c"),
    ],
)
def test_a_mask_never_shows_more_than_it_hides(
    level: str, keep: int, value: str, expected: str
) -> None:
    # `mask:4` on `abcde` wrote `*bcde`: 4 of the secret's 5 characters in clear.
    column = RedactionSpec(level=level, rules=[rule(f"column=pw:mask:{keep}")])
    out, _ = run(pl.DataFrame({"pw": [value]}), column)
    assert out["pw"].to_list() == [expected]
    text = RedactionSpec(level=level, rules=[rule(f"pattern=SECRET_VALUE:mask:{keep}")])
    out, _ = run(pl.DataFrame({"text": [f"password={value} ok"]}), text)
    assert out["text"].to_list() == [f"password={expected} ok"]
    shown = len(expected) - expected.count("*")
    assert shown <= len(value) - shown
