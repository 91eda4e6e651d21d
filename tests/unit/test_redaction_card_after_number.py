"""A card right after a short number ("ticket #12 4111…", "05/06/2024 4111…"), at strict:
the greedy card pattern takes the number and the card as one candidate, which fails its
check, so the card is tried again without the short group(s) before it, but only where
what remains is laid out as a card. Look-alikes (a long number's tail, an IBAN's
digits, order ids, dates, phone-like runs) stay as they are."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

MASKED = "************1111"
MASKED_SPACED = "***************1111"
MASKED_SPACED_2 = "***************0004"


def _strict(texts: list[str]) -> tuple[list[str], dict[str, int]]:
    """`texts` redacted at strict as a column, a list's elements and a struct's field:
    the three must agree (one rewrite serves every text leaf)."""
    frame = pl.DataFrame({"text": texts}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    out, counts = run(frame, RedactionSpec(level="strict"))
    column = out["text"].to_list()
    assert [items[0] for items in out["items"].to_list()] == column
    assert [items[1] for items in out["items"].to_list()] == ["plain"] * len(texts)
    assert [record["note"] for record in out["record"].to_list()] == column
    return column, counts


AFTER_NUMBER = [
    # Masked before this session's card leads (a joiner after "/", "#", any non-ASCII).
    ("2024/05/06 4111111111111111", f"2024/05/06 {MASKED}"),
    ("05/06/2024 4111111111111111", f"05/06/2024 {MASKED}"),
    ("exp 12/25 4111111111111111", f"exp 12/25 {MASKED}"),
    ("page 3/4 5500 0000 0000 0004", f"page 3/4 {MASKED_SPACED_2}"),
    ("ticket #12 4111111111111111", f"ticket #12 {MASKED}"),
    ("#1 4111 1111 1111 1111", f"#1 {MASKED_SPACED}"),
    ("卡号12 4111111111111111", f"卡号12 {MASKED}"),
    # Left in clear before too.
    ("qty 2 4111111111111111", f"qty 2 {MASKED}"),
    ("at 10:30 4111111111111111", f"at 10:30 {MASKED}"),
    # Other card layouts, other separators, several short groups.
    ("#1 4111-1111-1111-1111", "#1 ***************1111"),
    ("#1 3782 822463 10005", "#1 *************0005"),
    ("ref 12-4111111111111111.", f"ref 12-{MASKED}."),
    ("on 5 6 4111111111111111 thanks", f"on 5 6 {MASKED} thanks"),
    ("2024 4111111111111111\n#7 5500000000000004", f"2024 {MASKED}\n#7 ************0004"),
    ("on 2024-05-06 4111111111111111", f"on 2024-05-06 {MASKED}"),
    ("#1 4111111111111111 #2 5500000000000004", f"#1 {MASKED} #2 ************0004"),
    ("12 4111111111111111, 12 5500000000000004", f"12 {MASKED}, 12 ************0004"),
]


@pytest.mark.parametrize(("text", "expected"), AFTER_NUMBER)
def test_a_card_after_a_short_number_is_masked(text: str, expected: str) -> None:
    out, counts = _strict([text])
    assert out == [expected]
    assert counts.get("CARD/text", 0) >= 1


def test_the_masked_card_is_the_same_as_alone() -> None:
    # The reference layout: what a card with a plain word before it becomes.
    assert _strict(["card 4111111111111111"])[0] == [f"card {MASKED}"]


def test_only_the_card_takes_the_action() -> None:
    # The groups before the card are written back whatever the action.
    spec = RedactionSpec(level="strict", rules=(rule("pattern=CARD:redact"),))
    out, counts = run(pl.DataFrame({"text": ["ticket #12 4111111111111111"]}), spec)
    assert out["text"].to_list() == ["ticket #12 [CARD]"]
    assert counts == {"CARD/text": 1}


LOOK_ALIKES = [
    # A long number's tail is never a card-sized part of it.
    "1234 5678 9012 3456 789",
    "tracking 1Z 1234 5678 9012 3456 789",
    "1234 4111 1111 1111 1111",
    "1234-4111-1111-1111-1111",
    "2024 5500 0000 0000 0004 1",
    "987654321 12 4111111111111111",
    # An IBAN's digits.
    "iban 89370400440532013000",
    # Order ids, dates, amounts.
    "order 12 987654321098765",
    "ORD-12-4111111111111111",
    "order 2025-000123-4111111111111111",
    "05/06/2024 1234567890123",
    "no 12 4111111111111112",
    "total 12 4111111111111111.50",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_stay(text: str) -> None:
    out, counts = _strict([text])
    assert out == [text]
    assert counts == {}


# Other entities (phones, IBANs) may take these, but no card is found in them.
NO_CARD = [
    "1234 5678 12 4111 1111 1111 1111",
    "12 4111 1111 1111 1111 0000",
    "1 4111 1111 1111 1111 1111",
    "1 4111 1111 1111 1111 111",
    "12 3456 7890 1234 5678 9012",
    "DE89 3704 0044 0532 0130 00",
    "89 3704 0044 0532 0130 00",
    "call 12 555 123 4567 now",
]


@pytest.mark.parametrize("text", NO_CARD)
def test_no_card_in_longer_runs(text: str) -> None:
    _, counts = _strict([text])
    assert "CARD/text" not in counts


MASKED_AMEX = "*************0005"
# Cards side by side in one run of digit groups, and digit groups after the last: the
# whole run is one candidate that fails, the lazy step (card_groups.without_last_group)
# masks the first card and gives the rest back, and the rule after it took the next
# card and the groups after it as one candidate that failed again; the second card (and
# any after it) stayed in clear. Now looked for right after a written card
# (card_chains.py), with the groups after it as context.
CARDS_IN_A_RUN = [
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 123",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 123",
    ),
    ("4111 1111 1111 1111 5500 0000 0000 0004 1", f"{MASKED_SPACED} {MASKED_SPACED_2} 1"),
    ("4111 1111 1111 1111 5500 0000 0000 0004 12", f"{MASKED_SPACED} {MASKED_SPACED_2} 12"),
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 1234",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 1234",
    ),
    (
        "card 4111 1111 1111 1111 5500 0000 0000 0004 123 thanks",
        f"card {MASKED_SPACED} {MASKED_SPACED_2} 123 thanks",
    ),
    # Three and four cards in a row, with and without groups after them.
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 4111 1111 1111 1111",
        f"{MASKED_SPACED} {MASKED_SPACED_2} {MASKED_SPACED}",
    ),
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 4111 1111 1111 1111 123",
        f"{MASKED_SPACED} {MASKED_SPACED_2} {MASKED_SPACED} 123",
    ),
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 4111 1111 1111 1111 5500 0000 0000 0004 99",
        f"{MASKED_SPACED} {MASKED_SPACED_2} {MASKED_SPACED} {MASKED_SPACED_2} 99",
    ),
    # Joined by "-", dashed groups, other layouts side by side.
    (
        "4111-1111-1111-1111-5500-0000-0000-0004-123",
        f"{MASKED_SPACED}-{MASKED_SPACED_2}-123",
    ),
    (
        "4111-1111-1111-1111 5500-0000-0000-0004 123",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 123",
    ),
    (
        "4111 1111 1111 1111 5500-0000-0000-0004 123",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 123",
    ),
    (
        "4111 1111 1111 1111 -5500 0000 0000 0004 123",
        f"{MASKED_SPACED} -{MASKED_SPACED_2} 123",
    ),
    ("4111111111111111 5500 0000 0000 0004 123", f"{MASKED} {MASKED_SPACED_2} 123"),
    ("4111 1111 1111 1111 5500000000000004 123", f"{MASKED_SPACED} ************0004 123"),
    ("3782 822463 10005 5500 0000 0000 0004 123", f"{MASKED_AMEX} {MASKED_SPACED_2} 123"),
    ("4111 1111 1111 1111 3782 822463 10005 123", f"{MASKED_SPACED} {MASKED_AMEX} 123"),
    ("6011 0000 0000 0004 5500 0000 0000 0004 123", f"{MASKED_SPACED_2} {MASKED_SPACED_2} 123"),
    # A phone after them: the second card was left in clear, or read as a phone.
    (
        "4111 1111 1111 1111 5500 0000 0000 0004 555 123 4567",
        f"{MASKED_SPACED} {MASKED_SPACED_2} [PHONE]",
    ),
    (
        "4111 1111 1111 1111 3782 822463 10005 555-123-4567",
        f"{MASKED_SPACED} {MASKED_AMEX} [PHONE]",
    ),
    # Already masked before: no groups after the cards, or no spaces inside them.
    ("4111 1111 1111 1111 5500 0000 0000 0004", f"{MASKED_SPACED} {MASKED_SPACED_2}"),
    ("4111111111111111 5500000000000004 123", f"{MASKED} ************0004 123"),
    (
        "4111 1111 1111 1111, 5500 0000 0000 0004 123",
        f"{MASKED_SPACED}, {MASKED_SPACED_2} 123",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CARDS_IN_A_RUN)
def test_every_card_in_a_run_of_digit_groups_is_masked(text: str, expected: str) -> None:
    out, counts = _strict([text])
    assert out == [expected]
    assert counts.get("CARD/text", 0) >= 1


@pytest.mark.parametrize("action", ["mask", "redact", "hash"])
def test_every_card_in_a_run_takes_the_action(action: str, tmp_path: Path) -> None:
    spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    texts = ["4111 1111 1111 1111 5500 0000 0000 0004 123"]
    out, counts = run(pl.DataFrame({"text": texts}), spec, settings)
    first, second, rest = out["text"].to_list()[0].split(" ")
    if action == "hash":
        # A pseudonym per card, told apart.
        assert re.fullmatch(r"\[CARD:[0-9a-f]+\]", first), first
        assert re.fullmatch(r"\[CARD:[0-9a-f]+\]", second), second
        assert first != second
    else:
        expected = {"mask": (MASKED_SPACED, MASKED_SPACED_2), "redact": ("[CARD]", "[CARD]")}
        assert (first, second) == expected[action]
    assert rest == "123"
    assert counts == {"CARD/text": 1}


# The kept tail of a masked card may hold the separators of its groups
# ("************** 1111", "*************1-1111"): the written card is still one.
@pytest.mark.parametrize("keep_last", [2, 5, 6, 8])
@pytest.mark.parametrize("joiner", [" ", "-"])
def test_every_card_in_a_run_is_masked_whatever_it_keeps(keep_last: int, joiner: str) -> None:
    spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:mask:{keep_last}"),))
    first, second = (
        joiner.join(card) for card in (["4111", *["1111"] * 3], ["5500", "0000", "0000", "0004"])
    )
    out, counts = run(pl.DataFrame({"text": [f"{first}{joiner}{second}{joiner}123"]}), spec)
    expected = [f"{'*' * (len(card) - keep_last)}{card[-keep_last:]}" for card in (first, second)]
    assert out["text"].to_list() == [f"{expected[0]}{joiner}{expected[1]}{joiner}123"]
    assert counts == {"CARD/text": 1}


# Each look finds one more card of a run: as many as the run holds are looked for.
@pytest.mark.parametrize("cards", [10, 30])
def test_every_card_of_a_long_run_is_masked(cards: int) -> None:
    out, _ = _strict([" ".join(["4111 1111 1111 1111"] * cards) + " 7"])
    assert out == [" ".join([MASKED_SPACED] * cards) + " 7"]


# After a written card, what is no card stays: a number without a card's brand, an
# IBAN, a date, a card inside a longer number (as "1234 4111 1111 1111 1111" alone).
UNCHANGED_AFTER_A_CARD = [
    ("4111 1111 1111 1111 1234 5678 9012 3456 789", f"{MASKED_SPACED} 1234 5678 9012 3456 789"),
    ("4111111111111111 1234 5678 9012 3456 789", f"{MASKED} 1234 5678 9012 3456 789"),
    ("4111 1111 1111 1111 1234 5678 1234 5678", f"{MASKED_SPACED} 1234 5678 1234 5678"),
    # The rest read as it is alone: "1234 5500 0000 0000 0004" is LOOK_ALIKES'
    # "1234 4111 1111 1111 1111", a long number whose tail is never a card.
    (
        "4111 1111 1111 1111 1234 5500 0000 0000 0004",
        f"{MASKED_SPACED} 1234 5500 0000 0000 0004",
    ),
    ("4111 1111 1111 1111 4111 1111 1111 1112 12", f"{MASKED_SPACED} 4111 1111 1111 1112 12"),
]


@pytest.mark.parametrize(("text", "expected"), UNCHANGED_AFTER_A_CARD)
def test_no_card_after_a_card_stays(text: str, expected: str) -> None:
    out, counts = _strict([text])
    assert out == [expected]
    # The first card only, in each of the three leaves.
    assert counts == {"CARD/text": 1, "CARD/items": 1, "CARD/record.note": 1}
