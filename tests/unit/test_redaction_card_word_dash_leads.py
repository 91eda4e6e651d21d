"""Leaks found by session 28's reviews on main (107be2b): cards left in clear where the
CARD rule runs.

- A card after a word and a dash (text_markers.WORD_DASH) with more digits after it: the
  lead was given only where the card's shape ends the number (card_dash_leads.py).
- An ASCII letter and a dash before an id's group of four and a card
  (`ORD-1234 4111 1111 1111 1111`): the lead went before the id's group, where
  `é-1234 …` got none.
- Two spaces, or a sign and a space, before the sign that parts a written card from the
  next (card_chains._BETWEEN); a space no card is written with between two cards
  (text_markers: a joiner before it).
- A card written as 13 digits and groups after them (13 to 19 digits in all) after a
  word and a dash, and a second card after it (`a-4111111111111 111 5500 0000 0000
  0004`): the first card had no lead; main's [PHONE] covered part of it by chance.
- A card after an ISO date with a group after it (card_groups._CARD_AFTER_DATE), the
  14 or 15 digits of Diners or Amex in fours after a date or short groups
  (card_groups._GROUPED_CARD), a card after a two-space layout led by "$".
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

_VISA = "4111111111111111"
_MASTERCARD = "5500000000000004"
_AMEX = "378282246310005"
_DINERS = "30569309025904"
_LONG_VISA = "4000000000000000006"


def _masked(card: str) -> str:
    """What mask:4 writes for `card` (its separators are hidden too)."""
    return "*" * (len(card) - 4) + card[-4:]


def _in_fours(card: str, space: str = " ") -> str:
    return space.join(card[at : at + 4] for at in range(0, len(card), 4))


def _written(texts: list[str], level: str, tmp_path: Path) -> list[str]:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    spec = RedactionSpec(level=level, rules=(rule("pattern=CARD:mask:4"),))
    out, _ = run(pl.DataFrame({"text": texts}), spec, settings)
    return list(out["text"].to_list())


def _expected(text: str, cards: list[str]) -> str:
    for card in cards:
        text = text.replace(card, _masked(card), 1)
    return text


_VISA_FOURS = _in_fours(_VISA)
_MASTERCARD_FOURS = _in_fours(_MASTERCARD)

#: (text, the cards in it in order): each card is masked, the rest kept.
_LEAKS = [
    # 1. A card after a word and a dash, more digits after it.
    (f"ü-{_VISA} 12", [_VISA]),
    (f"(card)-{_VISA_FOURS} 1234", [_VISA_FOURS]),
    (f'"cc"-{_VISA_FOURS} {_MASTERCARD_FOURS}', [_VISA_FOURS, _MASTERCARD_FOURS]),
    (f"é-{_VISA} 12 {_MASTERCARD}", [_VISA, _MASTERCARD]),
    (f"x--{_in_fours(_VISA, '-')} 7", [_in_fours(_VISA, "-")]),
    (f"x-{_in_fours(_DINERS)}", [_in_fours(_DINERS)]),
    (f"é-{_in_fours(_DINERS)} - 12", [_in_fours(_DINERS)]),
    (f"é-4222222222222-{_MASTERCARD_FOURS}", [_MASTERCARD_FOURS]),
    # 2. An ASCII letter and a dash before an id's group of four.
    (f"ORD-1234 {_VISA_FOURS}", [_VISA_FOURS]),
    (f"https://shop.example/o/ORD-1234 {_VISA_FOURS}", [_VISA_FOURS]),
    (f"a-1234567890123456 12 {_VISA}", [_VISA]),
    # 3. Between two cards: two spaces, or a sign and a space, before a sign; a space
    # no card is written with.
    *(
        (f"{first}{between}{second}{after}", [first, second])
        for first, second in ((_VISA, _MASTERCARD), (_VISA_FOURS, _MASTERCARD_FOURS))
        for between in ("\u2003\u2003-", "  $", "- -", "+ $", "\n -", "-\u00a0-")
        for after in ("", " 12")
    ),
    *(
        (f"{first}{space}{second}", [first, second])
        for first, second in (
            (_VISA_FOURS, _MASTERCARD_FOURS),
            (_VISA_FOURS, _MASTERCARD),
            (_in_fours(_VISA, "-"), _AMEX),
        )
        for space in ("\u2003", "\u2002", "\u205f", "\u2028")
    ),
    (f"{_VISA_FOURS}\u200312", [_VISA_FOURS]),
    # 4. After an ISO date with a group after it; Diners' and Amex's digits in fours;
    # after a two-space layout led by "$".
    (f"2024-01-02 {_VISA_FOURS} 1", [_VISA_FOURS]),
    (f"2024-01-02 {_VISA} 1", [_VISA]),
    (f"paid 2024-01-02 {_in_fours(_VISA, '-')} 123", [_in_fours(_VISA, "-")]),
    (f"2024-01-02 {_in_fours(_DINERS)}", [_in_fours(_DINERS)]),
    (f"paid 2024-01-02 {_in_fours(_AMEX)} ok", [_in_fours(_AMEX)]),
    (f"12 {_in_fours(_DINERS)}", [_in_fours(_DINERS)]),
    (f"$4111  1111  1111  1111 {_MASTERCARD_FOURS}", [_MASTERCARD_FOURS]),
    (f"x $4111  1111  1111  1111 {_MASTERCARD_FOURS} 12", [_MASTERCARD_FOURS]),
]


@pytest.mark.parametrize("level", ["moderate", "strict"])
@pytest.mark.parametrize(("text", "cards"), _LEAKS)
def test_the_card_is_masked(text: str, cards: list[str], level: str, tmp_path: Path) -> None:
    assert _written([text], level, tmp_path) == [_expected(text, cards)]


def test_a_card_after_a_date_is_read_with_its_last_group(tmp_path: Path) -> None:
    # A guard (main masks it too): the reading of a card and a group after a date is
    # tried only where the whole, a 19-digit card, fails.
    texts = [f"2024-01-02 {_in_fours(_LONG_VISA)}", f"2024-01-02 {_in_fours(_LONG_VISA)} ok"]
    assert _written(texts, "strict", tmp_path) == [
        _expected(text, [_in_fours(_LONG_VISA)]) for text in texts
    ]


def test_the_card_after_an_email_address_and_a_dash_is_masked(tmp_path: Path) -> None:
    # The EMAIL rule writes its tag first; "]" and the dash lead the card.
    text = f"a@b.com-{_VISA} 2024-01-02"
    assert _written([text], "strict", tmp_path) == [f"[EMAIL]-{_masked(_VISA)} 2024-01-02"]


def test_look_alikes_so_led_stay(tmp_path: Path) -> None:
    # The same layouts with numbers that fail Luhn or no issuer's range, ids before a
    # card main leaves as they are, and a "$" before a card, which leads none.
    bad = "4111111111111112"
    texts = [
        f"ü-{bad} 12",
        f"(card)-{_in_fours(bad)} 1234",
        f"x-{_in_fours('30569309025905')}",
        "ORD-12-4111111111111111",
        "x-2024-01-02-5500000000000004",
        f"ORD-1234 {_in_fours(bad)}",
        f"{_in_fours(bad)}\u2003\u2003-{_in_fours('5500000000000005')}",
        f"{_in_fours(bad)}\u2003{_in_fours('5500000000000005')}",
        f"2024-01-02 {_in_fours(bad)} 1",
        "1234 2024-01-02 5500 0000 0000 0004",
        "$4111  1111  1111  1111",
        f"$4111  1111  1111  1111 {_in_fours('5500000000000005')}",
        "2024-01-02 1234 5678 9012 34",
    ]
    assert _written(texts, "strict", tmp_path) == texts


def test_a_card_read_from_an_id_group_is_left_to_the_reading_without_it(
    tmp_path: Path,
) -> None:
    # `é-4024 4111 1111 1111 1111`: should the id and the card's first groups pass as a
    # card, the card after the id is what main masks (its space leads it); the word-dash
    # lead is not given (card_dash_leads._joiners).
    id_and_card = next(
        f"{prefix:04d} 4111 1111 1111"
        for prefix in range(4000, 5000)
        if _luhn(f"{prefix:04d}411111111111")
    )
    text = f"é-{id_and_card} 1111"
    assert _written([text], "strict", tmp_path) == [f"é-{id_and_card[:5]}{_masked(_VISA_FOURS)}"]


#: Cards written as 13 digits and one group after them (Visa's 16 and 19 digits,
#: Mastercard's, Amex's 15, Diners' 14), each a layout main wrote as
#: `a-4111111111111 [PHONE] 0004`.
_THIRTEEN_AND_MORE = [
    f"{_VISA[:13]} {_VISA[13:]}",
    f"{_LONG_VISA[:13]} {_LONG_VISA[13:]}",
    f"{_MASTERCARD[:13]} {_MASTERCARD[13:]}",
    f"{_AMEX[:13]} {_AMEX[13:]}",
    f"{_DINERS[:13]} {_DINERS[13:]}",
]
_THEN_A_CARD = [
    (lead, first, then)
    for lead in ["a-", "_-", "1a-", "ab_-", "a-a-", "Z\u2011"]
    for first in _THIRTEEN_AND_MORE
    for then in [_MASTERCARD_FOURS, _VISA_FOURS]
    if first.replace(" ", "") != then.replace(" ", "")
] + [("a-", f"{_VISA[:13]}\u00a0{_VISA[13:]}", _MASTERCARD_FOURS)]


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


@pytest.mark.parametrize("level", ["moderate", "strict"])
@pytest.mark.parametrize(("lead", "first", "then"), _THEN_A_CARD)
def test_a_card_of_thirteen_digits_and_a_group_before_a_card_is_masked(
    lead: str, first: str, then: str, level: str, tmp_path: Path
) -> None:
    # Neither card's digits before its last four are written: the first card had no
    # lead (card_dash_leads._card_then_card) and stayed in clear past [PHONE].
    text = f"{lead}{first} {then}"
    written = _written([text], level, tmp_path)[0]
    plain, _ = run(pl.DataFrame({"text": [text]}), RedactionSpec(level="strict"))
    for output in (written, plain["text"][0]):
        for card in (first, then):
            assert _digits(card)[:-4] not in _digits(output), output


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
