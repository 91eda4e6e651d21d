"""Cards session 30's reviewers found left in clear on main (9f86d12) where the CARD rule
runs, each beside the look-alikes that must stay as they are.

- A card right after one a mask wrote all in stars (a mask keeping as many characters as
  the card has, or more: mask:19 and above for every card, mask:16 for 16 digits): the
  walk over the cards after a written one (card_chains.py) was led by masks showing
  digits only.
- A card after a date written with slashes (`06/2024 4111 …`): the slash's joiner made
  the year a group of four before the card, which reads as a longer number.
- A card after an ISO or slashed date with an amount after it (`… 12.50`).
- A card in fours parted by dots after a word and a dash, with digit groups after it
  (`ref-4111.1111.1111.1111 12 34`): no lead.
- A card between short digit groups (`12 4111 1111 1111 1111 1`).
- A card in a JSON string whose groups are parted by an escaped space beyond ASCII
  (`4111\\u00a01111\\u00a01111\\u00a01111`, as `json.dumps` writes a no-break space).
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import masked, rule, run

_VISA = "4111 1111 1111 1111"
_MASTERCARD = "5500 0000 0000 0004"
_AMEX = "3782 822463 10005"


def _strict(texts: list[str], action: str = "mask:4") -> list[str]:
    spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
    out, _ = run(pl.DataFrame({"text": texts}), spec)
    return [str(value) for value in out["text"].to_list()]


def _expected(text: str, cards: list[str], keep: int = 4) -> str:
    for card in cards:
        text = text.replace(card, masked(card, keep), 1)
    return text


#: Runs of cards whose first a mask of `keep` writes all in stars, and the cards after it.
_AFTER_ALL_STARS = [
    (f"{_VISA} {_MASTERCARD} 123", [_VISA, _MASTERCARD]),
    (f"{_VISA} 12 {_MASTERCARD} 1", [_VISA, _MASTERCARD]),
    (f"{_VISA} -{_MASTERCARD}", [_VISA, _MASTERCARD]),
    ("4111111111111111 $5500000000000004", ["4111111111111111", "5500000000000004"]),
    (f"{_AMEX} 5500-0000-0000-0004 12", [_AMEX, "5500-0000-0000-0004"]),
    (f"{_VISA} {_AMEX} 5500-0000-0000-0004 12", [_VISA, _AMEX, "5500-0000-0000-0004"]),
]


@pytest.mark.parametrize("keep", [16, 17, 19, 20, 25, 40])
@pytest.mark.parametrize(("text", "cards"), _AFTER_ALL_STARS)
def test_a_card_after_one_masked_all_in_stars_is_masked(
    text: str, cards: list[str], keep: int
) -> None:
    assert _strict([text], f"mask:{keep}") == [_expected(text, cards, keep)]


@pytest.mark.parametrize("keep", [16, 19, 25])
@pytest.mark.parametrize(
    "text",
    [
        # A look-alike after the stars: no Luhn, an id's groups, a price.
        "******************* 4111 1111 1111 1112",
        "******************* 1234 5678 9012 3456",
        "******************* 12.50",
        "**************** 2024-01-02",
    ],
)
def test_look_alikes_after_stars_stay(text: str, keep: int) -> None:
    assert _strict([text], f"mask:{keep}") == [text]


_DATED = [
    ("06/2024 4111 1111 1111 1111", [_VISA]),
    ("exp 06/2024 5500-0000-0000-0004, ok", ["5500-0000-0000-0004"]),
    ("01/06/2024 4111 1111 1111 1111", [_VISA]),
    ("on 01/06/2024 3782 822463 10005 paid", [_AMEX]),
    ("06/2024 4111 1111 1111 1111 12", [_VISA]),
    # An amount after the card.
    ("06/2024 4111 1111 1111 1111 12.50", [_VISA]),
    ("06/2024 4111111111111111 12.50", ["4111111111111111"]),
    ("2024-01-02 4111 1111 1111 1111 12.50", [_VISA]),
    ("paid 2024-01-02 4111111111111111 12.50 EUR", ["4111111111111111"]),
    ("on 2024-01-02 5500 0000 0000 0004 9.99", [_MASTERCARD]),
]


@pytest.mark.parametrize(("text", "cards"), _DATED)
def test_a_card_after_a_date_is_masked(text: str, cards: list[str]) -> None:
    assert _strict([text]) == [_expected(text, cards)]


_WORD_DASH_DOTTED = [
    ("ref-4111.1111.1111.1111 12 34", ["4111.1111.1111.1111"]),
    ("é-5500.0000.0000.0004 1", ["5500.0000.0000.0004"]),
    ("card-4111.1111.1111.1111 2024-01-02", ["4111.1111.1111.1111"]),
]


@pytest.mark.parametrize(("text", "cards"), _WORD_DASH_DOTTED)
def test_a_dotted_card_after_a_word_and_a_dash_with_groups_after_it_is_masked(
    text: str, cards: list[str]
) -> None:
    assert _strict([text]) == [_expected(text, cards)]


_BETWEEN_GROUPS = [
    ("12 4111 1111 1111 1111 1", [_VISA]),
    ("7 4111111111111111 2", ["4111111111111111"]),
    ("qty 2 5500-0000-0000-0004 12 x", ["5500-0000-0000-0004"]),
    ("1 2 3782 822463 10005 4 5", [_AMEX]),
]


@pytest.mark.parametrize(("text", "cards"), _BETWEEN_GROUPS)
def test_a_card_between_short_digit_groups_is_masked(text: str, cards: list[str]) -> None:
    assert _strict([text]) == [_expected(text, cards)]


_ESCAPED = [
    "4111\\u00a01111\\u00a01111\\u00a01111",
    "4111\\u00A01111\\u00A01111\\u00A01111",
    "4111\\u20091111\\u20091111\\u20091111",
    "5500\\u202f0000\\u202f0000\\u202f0004",
    "3782\\u00a0822463\\u00a010005",
    "4111\\u20131111\\u20131111\\u20131111",
]


@pytest.mark.parametrize("card", _ESCAPED)
@pytest.mark.parametrize("template", ['{{"c": "{}"}}', '{{"m": "card {} ok", "n": 1}}'])
def test_a_card_parted_by_escaped_spaces_in_a_json_string_is_masked(
    card: str, template: str
) -> None:
    text = template.format(card)
    (written,) = _strict([text])
    assert written == template.format(masked(card, 4))
    json.loads(written)


@pytest.mark.parametrize("card", _ESCAPED[:2])
def test_every_action_hides_a_card_parted_by_escaped_spaces(card: str) -> None:
    text = f'{{"c": "{card}"}}'
    assert _strict([text], "redact") == ['{"c": "[CARD]"}']


#: Look-alikes of each layout above: no Luhn, dates and amounts alone, versions, ISBNs,
#: phone numbers, ids; they stay as they are.
LOOK_ALIKES = [
    "06/2024 4111 1111 1111 1112",
    "06/2024 1234 5678 9012 3456",
    "05/06/2024 1234567890123",
    "06/2024 12.50",
    "2024-01-02 4111 1111 1111 1112 12.50",
    "12/2024 1234 5678 12.50",
    "1234 06/2024 4111 1111 1111 1111",
    "1234 2024-01-02 4111 1111 1111 1111 12.50",
    "ref-4111.1111.1111.1112 12 34",
    "ORD-1234.5678.9012.3456 12",
    "v-1.2.3 4",
    "12 4111 1111 1111 1112 1",
    "1 4111 1111 1111 1111 111",
    "12 4111 1111 1111 1111 0000",
    "total 12 4111111111111111.50",
    "ISBN 978-0-306-40615-7",
    "ISBN 978 0 306 40615 7",
    "version 4.1.1.1111 build 1111",
    '{"v": "1234\\u00a05678\\u00a09012\\u00a03456"}',
    '{"isbn": "978\\u00a00\\u00a0306\\u00a040615\\u00a07"}',
    '{"t": "4111\\u00a01111\\u00a01111\\u00a01112"}',
    '{"d": "2024\\u00a001\\u00a002"}',
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_stay(text: str) -> None:
    out, counts = run(pl.DataFrame({"text": [text]}), RedactionSpec(level="strict"))
    assert "CARD/text" not in counts
    assert "*" not in str(out["text"][0])
