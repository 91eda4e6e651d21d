"""Runs of cards in one value at strict (card_chains.py): each card after a written one
is found by a walk over the value, not by a round of the rules over it per card (a
value of 2,000 cards took 22 s, all of a daemon's stop). Every card of a run is
masked however long the run, also after short groups ("4111… 12 5500… 1"), and a card
before an amount ("4111 1111 1111 1111 12.50")."""

from __future__ import annotations

import random
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.validators import VALIDATORS, is_card
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_corpus import card
from tests.unit.redaction_helpers import masked, rule, run, settings_with_keys

MASKED_SPACED = "***************1111"
MASKED_SPACED_2 = "***************0004"
MASKED_AMEX = "*************0005"

#: Cards of every layout the walk reads, each with how the default mask writes it.
_CARDS = [
    ("4111 1111 1111 1111", MASKED_SPACED),
    ("5500-0000-0000-0004", "***************0004"),
    ("3782 822463 10005", MASKED_AMEX),
    ("6011000000000004", "************0004"),
]


def _strict(texts: list[str], action: str = "") -> list[str]:
    rules = (rule(f"pattern=CARD:{action}"),) if action else ()
    out, _ = run(pl.DataFrame({"text": texts}), RedactionSpec(level="strict", rules=rules))
    return list(out["text"].to_list())


def test_every_card_of_a_run_of_2000_is_masked() -> None:
    # A rule capped at 64 rounds left 135 of 200 cards in clear: a long run must be
    # walked whole. (The rounds the walk replaced passed this too, in 22 s.)
    cards = [_CARDS[index % 4] for index in range(2000)]
    text = "card " + " ".join(number for number, _ in cards) + " 7"
    assert _strict([text]) == ["card " + " ".join(masked for _, masked in cards) + " 7"]


def test_a_long_run_takes_every_action(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    text = " ".join(["4111 1111 1111 1111", "5500 0000 0000 0004"] * 50) + " 123"
    for action in ("redact", "hash"):
        spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
        out, _ = run(pl.DataFrame({"text": [text]}), spec, settings)
        written = out["text"].to_list()[0].split(" ")
        assert written[-1] == "123"
        assert all(re.fullmatch(r"\[CARD(?::[0-9a-f]+)?\]", part) for part in written[:-1])
        assert len(written) == 101
        if action == "hash":
            # A pseudonym per card number: the two numbers alternate.
            assert len(set(written[:-1])) == 2
            assert written[0] != written[1]


def test_every_card_of_a_long_run_is_masked_whatever_the_mask_keeps() -> None:
    # What a mask keeps may hold a group's separator: each written card still leads
    # the next.
    numbers = ["4111 1111 1111 1111", "3782 822463 10005", "5500-0000-0000-0004"] * 40
    text = " ".join(numbers) + " 12"
    # Under masks keeping 10 or more the kept characters of a card (min(keep, len //
    # 2) of them) were not tied to its stars: the written card's pattern ran on into
    # the next card's first group and that card stayed in clear. (Masks keeping 19 or
    # more write these cards all in stars, which lead no walk, on main too.)
    for keep in (2, 6, 8, 10, 12, 13, 14, 16):
        written = [masked(n, keep) for n in numbers]
        assert _strict([text], f"mask:{keep}") == [" ".join(written) + " 12"], keep


# An amount after a card's groups: the card's trail never took "." before a digit, so
# the run was no candidate at all and the card before it stayed in clear (with a card
# before the amount, both did). The amount alone stays ("total 12 4111….50").
def test_a_card_before_an_amount_is_masked() -> None:
    texts = [
        "4111 1111 1111 1111 4111111111111111.50",
        "4111 1111 1111 1111 12.50",
        "4111 1111 1111 1111 5500 0000 0000 0004 12.50",
        "card 3782 822463 10005 99.95 thanks",
    ]
    assert _strict(texts) == [
        f"{MASKED_SPACED} 4111111111111111.50",
        f"{MASKED_SPACED} 12.50",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 12.50",
        f"card {MASKED_AMEX} 99.95 thanks",
    ]


def test_an_amount_alone_stays() -> None:
    texts = ["total 12 4111111111111111.50", "4111111111111111.50", "1234 5678 9012 3456 12.50"]
    assert _strict(texts) == texts


# Short groups between two cards of a run: the "12" is no card's, the card after it
# was read as part of a phone number with the rest in clear.
def test_a_card_after_short_groups_after_a_card_is_masked() -> None:
    texts = [
        "4111 1111 1111 1111 12 5500 0000 0000 0004 1",
        "4111 1111 1111 1111 1-5500 0000 0000 0004 123",
        "4111111111111111 7 5500-0000-0000-0004 1",
        "card 5500 0000 0000 0004 9 4111-1111-1111-1111-5500-0000-0000-0004",
    ]
    assert _strict(texts) == [
        f"{MASKED_SPACED} 12 {MASKED_SPACED_2} 1",
        f"{MASKED_SPACED} 1-{MASKED_SPACED_2} 123",
        "************1111 7 ***************0004 1",
        f"card {MASKED_SPACED_2} 9 {MASKED_SPACED}-{MASKED_SPACED_2}",
    ]


def test_no_card_after_short_groups_after_a_card_stays() -> None:
    # A group of four is not skipped: "1234 5500…" reads as "1234 4111 1111 1111 1111".
    texts = [
        "4111 1111 1111 1111 12 4111 1111 1111 1112 1",
        "4111 1111 1111 1111 1234 5500 0000 0000 0004",
        "4111 1111 1111 1111 12 1234 5678 9012 3456",
        # Several short groups: a phone number's, then a card's first groups.
        "4111 1111 1111 1111 7 555 123 4567-4303-3561-1923-7799-715",
    ]
    for out in _strict(texts):
        # The first card only (a phone number may be read in the rest, as alone).
        assert out.startswith(f"{MASKED_SPACED} ")
        assert out.count("*") == MASKED_SPACED.count("*"), out


# An Amex then a Visa/MC card, masks keeping 5 to 8 characters (the Amex's kept tail
# holds a space): the second card was read in part as a phone number.
def test_an_amex_then_a_card_whatever_the_mask_keeps() -> None:
    amex, other = "3782 822463 10005", "5500 0000 0000 0004"
    for keep in (5, 6, 7, 8):
        out = _strict([f"{amex} {other} 123"], f"mask:{keep}")
        masked = [f"{'*' * (len(c) - keep)}{c[-keep:]}" for c in (amex, other)]
        assert out == [f"{masked[0]} {masked[1]} 123"], keep


# Random runs of cards and other digit groups: whatever is masked is a card.
_TOKEN = st.one_of(
    st.integers(0, 2**32).map(lambda seed: card(random.Random(seed))),
    st.integers(0, 2**32).map(lambda seed: card(random.Random(seed), valid=False)),
    st.integers(0, 999).map(str),
    st.integers(1000, 9999).map(str),
    st.integers(0, 9999).map(lambda n: f"{n}.{n % 100:02d}"),
)
_RUN = st.lists(
    st.tuples(_TOKEN, st.sampled_from([" ", " ", " ", "-", ", ", " -", "/", " $"])),
    min_size=1,
    max_size=10,
).map(lambda tokens: "".join(token + between for token, between in tokens).rstrip(" -,/$"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_RUN, min_size=1, max_size=8))
def test_only_cards_are_masked(texts: list[str]) -> None:
    masked = []
    for text, out in zip(texts, _strict(texts), strict=True):
        if len(out) != len(text) or "[" in out:
            continue  # another entity's tag: the spans no longer line up
        # The default mask keeps the card's last four characters.
        masked += [text[m.start() : m.end() + 4] for m in re.finditer(r"\*+", out)]
    checked = pl.DataFrame({"card": masked}, schema={"card": pl.String})
    assert checked.select(VALIDATORS["card"](pl.col("card"))).to_series().all()


@settings(max_examples=200, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=12, max_size=20),
    separators=st.lists(st.sampled_from(["", " ", "-"]), min_size=20, max_size=20),
    luhn_tail=st.booleans(),
)
def test_the_walk_checks_cards_as_the_rule_does(
    digits: str, separators: list[str], luhn_tail: bool
) -> None:
    if luhn_tail:
        digits = card(random.Random(int(digits))).replace(" ", "").replace("-", "")
    value = "".join(d + s for d, s in zip(digits, separators, strict=False)).rstrip(" -")
    rule_says = pl.select(VALIDATORS["card"](pl.lit(value))).item()
    assert is_card(value) == rule_says


def test_cards_beside_a_separator_control_character_are_masked(tmp_path: Path) -> None:
    # Python's "\s" takes \x1c-\x1f for spaces, Polars' does not: the walk read the
    # second card as the tail of a run the first ended, and left it in clear.
    texts = [
        "4111111111111111\x1f5500000000000004",
        "4111 1111 1111 1111\x1f5500 0000 0000 0004",
        "4111 1111 1111 1111 5500 0000 0000 0004 123\x1e9",
    ]
    assert _strict(texts) == [
        "************1111\x1f************0004",
        f"{MASKED_SPACED}\x1f{MASKED_SPACED_2}",
        f"{MASKED_SPACED} {MASKED_SPACED_2} 123\x1e9",
    ]
    for keep in (6, 10, 12):
        first, second = "4111 1111 1111 1111", "5500 0000 0000 0004"
        assert _strict(texts, f"mask:{keep}") == [
            f"{masked(first.replace(' ', ''), keep)}\x1f{masked(second.replace(' ', ''), keep)}",
            f"{masked(first, keep)}\x1f{masked(second, keep)}",
            f"{masked(first, keep)} {masked(second, keep)} 123\x1e9",
        ]
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    for action in ("redact", "hash"):
        spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
        out, _ = run(pl.DataFrame({"text": texts}), spec, settings)
        for written in out["text"].to_list():
            rest = re.sub(r"\[CARD(?::[0-9a-f]+)?\]", "", written)
            assert rest.strip(" \x1f") in ("", "123\x1e9"), written


@pytest.mark.parametrize("keep", [10, 11, 12])
@pytest.mark.parametrize("middle", ["30569309025904", "378282246310005", "3782 822463 10005"])
def test_a_card_after_a_short_card_masked_by_half(keep: int, middle: str) -> None:
    # A 14- or 15-digit card kept 2 to 5 stars under a mask keeping 10 to 12, and the
    # head of the written card before it took them for its lead: the card after it
    # stayed in clear. A mask now shows no more than it hides (7 of 14 or 15, after 7
    # or 8 stars): the short card is read by a shown count tied to its stars, and the
    # card after it is masked still.
    first, last = "4111111111111111", "5500000000000004"
    text = f"{first},{middle} ${last}"
    written = f"{masked(first, keep)},{masked(middle, keep)} ${masked(last, keep)}"
    assert _strict([text], f"mask:{keep}") == [written]


def test_the_reviews_runs_of_short_cards_are_masked() -> None:
    first, short = "4111111111111111", "30569309025904"
    assert _strict([f"{first},{short} ${first}"], "mask:12") == [
        f"{masked(first, 12)},{masked(short, 12)} ${masked(first, 12)}"
    ]
    cards = ["5500000000000004", "30075491730608", "3009 8909 2951 39", "5172 6205 0025 2545"]
    text = "x {} {}😀{} ${}".format(*cards)
    assert _strict([text], "mask:11") == ["x {} {}😀{} ${}".format(*(masked(c, 11) for c in cards))]


def test_a_card_after_a_long_run_of_stars_or_tags(tmp_path: Path) -> None:
    # A head tried at each star of a run (or each "[CARD" of a run) read the rest of
    # it: 20.7 s CPU for 80,000 stars. The output is what the rule writes.
    chain = "4111 1111 1111 1111 5500 0000 0000 0004 123"
    stars = "*" * 100_000
    assert _strict([f"{stars}x {chain}"]) == [f"{stars}x {MASKED_SPACED} {MASKED_SPACED_2} 123"]
    tags = "[CARD" * 40_000
    assert _strict([f"{tags} {chain}"], "redact") == [f"{tags} [CARD] [CARD] 123"]


def test_a_card_after_a_tag_after_emphasis_stars() -> None:
    # A head starts at a run's first star only; a "*" of emphasis before a tag is no
    # run of a mask's stars, and the tag still leads the card after it.
    texts = [
        "für *3530640235925639-#.3000-1222-8345-92 thanks",
        "**4111111111111111ü5500000000000004",
    ]
    assert _strict(texts, "redact") == ["für *[CARD]-#.[CARD] thanks", "**[CARD]ü[CARD]"]
