"""A mask never shows a whole secret (session 29): `mask:N` kept a value of N characters
or fewer whole, at every level (a custom rule `mask:8` on a password of 6 wrote it as
it was). Such a value is now masked whole."""

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
    assert out["pw"].to_list() == ["******", "*", "", "****efghijkl", None]


@pytest.mark.parametrize("level", LEVELS)
def test_a_card_keeps_its_last_four(level: str) -> None:
    spec = RedactionSpec(level=level, rules=[rule("pattern=CARD:mask:4")])
    out, _ = run(pl.DataFrame({"text": ["card 4111 1111 1111 1111"]}), spec)
    assert out["text"].to_list() == ["card ***************1111"]
