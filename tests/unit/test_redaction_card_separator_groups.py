"""A leak found on main (57a8742): at strict, a card followed by a space or dash beyond
ASCII and a short number ("card 4111111111111111\\u00a01", "…1111\\u30007",
"…1111\\u20137") stayed in clear, where after a plain space it was masked. The card
pattern reads those separators into its run of digit groups, so card and number were
one candidate that failed, and the steps that give the groups after a card back
(card_groups.py), the walk over cards after a written one (card_chains.py) and the
Python check of a candidate read only " " and "-". Every separator the pattern reads
is now read by all of them (number_separators.CARD_SEPARATORS)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys


def _separators_the_card_pattern_reads() -> list[str]:
    """Every character of the Basic Multilingual Plane but a digit that the CARD
    pattern's value takes between two digit groups, found by asking the pattern itself."""
    codes = (code for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF)
    characters = [chr(code) for code in codes if not chr(code).isdigit()]
    texts = pl.Series([f"4111{character}111111111111" for character in characters])
    value = ENTITY_BY_NAME["CARD"].value
    read = texts.str.contains(f"^(?:{value})$").to_list()
    return [character for character, taken in zip(characters, read, strict=True) if taken]


_SEPARATORS = _separators_the_card_pattern_reads()
_SPACES = [separator for separator in _SEPARATORS if separator.isspace()]
_ACTIONS = ["redact", "mask:4", "hash"]
_TAILS = ["1", "77", "123"]


def _written(texts: list[str], action: str, tmp_path: Path) -> list[str]:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
    out, _ = run(pl.DataFrame({"text": texts}), spec, settings)
    return list(out["text"].to_list())


def test_the_card_pattern_reads_spaces_and_dashes_beyond_ascii() -> None:
    # The cases below are built from this list: it must hold what session 25 added.
    assert {" ", "-", "\u00a0", "\u202f", "\u2009", "\u3000", "\u2013", "\u2212"} <= set(
        _SEPARATORS
    )


def test_the_separators_read_are_the_shared_ones() -> None:
    from sluice.server.pipeline.redaction.number_separators import CARD_SEPARATORS

    assert sorted(_SEPARATORS) == sorted(CARD_SEPARATORS)


@pytest.mark.parametrize("action", _ACTIONS)
@pytest.mark.parametrize("separator", _SEPARATORS, ids=lambda separator: f"U+{ord(separator):04X}")
def test_a_card_before_a_short_number_is_written_as_alone(
    separator: str, action: str, tmp_path: Path
) -> None:
    """A short number after a card, parted by any separator the card's groups are
    parted by, changes nothing of what the card becomes: contiguous or grouped, each
    action, one to three digits."""
    cards = ["4111111111111111", separator.join(["4111", "1111", "1111", "1111"])]
    texts = [f"card {card}" for card in cards]
    texts += [f"card {card}{separator}{tail}" for card in cards for tail in _TAILS]
    written = dict(zip(texts, _written(texts, action, tmp_path), strict=True))
    for card in cards:
        alone = written[f"card {card}"]
        assert alone != f"card {card}"
        for tail in _TAILS:
            text = f"card {card}{separator}{tail}"
            assert written[text] == f"{alone}{separator}{tail}", text
            assert "4111" not in written[text]


@pytest.mark.parametrize("separator", _SEPARATORS, ids=lambda separator: f"U+{ord(separator):04X}")
def test_a_card_after_a_short_number_is_masked(separator: str, tmp_path: Path) -> None:
    # The groups before a card are given back at the same separators.
    texts = [f"ticket 12{separator}4111111111111111", f"ref 7{separator}5500000000000004"]
    assert _written(texts, "mask:4", tmp_path) == [
        f"ticket 12{separator}************1111",
        f"ref 7{separator}************0004",
    ]


@pytest.mark.parametrize("space", _SPACES, ids=lambda separator: f"U+{ord(separator):04X}")
def test_a_run_of_two_grouped_cards_and_a_number_is_masked(space: str, tmp_path: Path) -> None:
    """The lazy step writes over the first card and gives the rest back; the second card
    is found by the walk after a written card, which read only a plain space beside it."""
    first = space.join(["4111", "1111", "1111", "1111"])
    second = space.join(["5500", "0000", "0000", "0004"])
    texts = [
        f"{first}{space}{second}{space}1",
        f"4111111111111111{space}-5500000000000004{space}77",
    ]
    assert _written(texts, "mask:4", tmp_path) == [
        f"***************1111{space}***************0004{space}1",
        f"************1111{space}-************0004{space}77",
    ]


def test_the_walk_and_the_rule_read_a_card_alike(tmp_path: Path) -> None:
    """A card then an ideographic space and a digit-led word ("5\\u0301"): the walk
    after a written card masked it, the rule alone left it in clear."""
    card = "5500000000000004\u30005\u0301"
    written = _written([card, f"4111111111111111 {card}"], "mask:4", tmp_path)
    assert written == [
        "************0004\u30005\u0301",
        "************1111 ************0004\u30005\u0301",
    ]
    assert not any(re.search("5500", text) for text in written)


def test_two_cards_joined_by_any_separator_are_both_masked(tmp_path: Path) -> None:
    # One candidate of two cards: the card after the first card's run is found at any
    # separator (on main, after a dash beyond ASCII, both stayed in clear).
    texts = [f"4111111111111111{separator}5500000000000004" for separator in _SEPARATORS]
    assert _written(texts, "mask:4", tmp_path) == [
        f"************1111{separator}************0004" for separator in _SEPARATORS
    ]


@pytest.mark.parametrize("escape", ["\\u2003", "\\u3000", "\\u00a0", "\\u2009", "\\u00A0"])
@pytest.mark.parametrize(
    "template",
    [
        # A space escaped in a JSON string (as json.dumps writes it) before a card: the
        # escape's last hex digits glued onto the card's, which stayed in clear.
        '{{"m": "4111 1111 1111 1111{e}5500 0000 0000 0004"}}',
        '{{"m": "x{e}5500000000000004"}}',
        '{{"m": "card:{e}5500-0000-0000-0004 ok"}}',
    ],
)
def test_a_card_after_an_escaped_space_is_masked(escape: str, template: str) -> None:
    text = template.format(e=escape)
    out, _ = run(pl.DataFrame({"text": [text]}), RedactionSpec(level="strict"))
    written = str(out["text"][0])
    assert "5500" not in written.replace(escape, "")
    assert escape in written
    json.loads(written)
