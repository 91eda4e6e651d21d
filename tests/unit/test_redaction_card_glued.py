"""A leak found on main (a507610): at strict, a card glued to a dash and a word, or to
"_", stayed in clear ("pay 4111111111111111-x", "card-4111111111111111", "order
4111111111111111_"), where after a plain space it was masked. The CARD trail refused a
dash or "_" before a word character, and its lead a dash after one. A 16-digit number
in an issuer's range that passes Luhn so glued is a card a user writes; what fails the
check (an id's digits) stays as it was."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

_ACTIONS = ["redact", "mask:4", "hash"]

#: (text, the card in it, what stays around it).
_GLUED = [
    ("pay 4111111111111111-x", "4111111111111111", ("pay ", "-x")),
    ("4111111111111111\u2013x", "4111111111111111", ("", "\u2013x")),
    ("card-4111111111111111", "4111111111111111", ("card-", "")),
    ("x-4111 1111 1111 1111", "4111 1111 1111 1111", ("x-", "")),
    ("order 4111111111111111_", "4111111111111111", ("order ", "_")),
    ("5500 0000 0000 0004-_", "5500 0000 0000 0004", ("", "-_")),
    ("card_4111111111111111_x", "4111111111111111", ("card_", "_x")),
    ("ref-4111111111111111-abc", "4111111111111111", ("ref-", "-abc")),
]


def _written(texts: list[str], action: str, tmp_path: Path) -> list[str]:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    spec = RedactionSpec(level="strict", rules=(rule(f"pattern=CARD:{action}"),))
    out, _ = run(pl.DataFrame({"text": texts}), spec, settings)
    return list(out["text"].to_list())


@pytest.mark.parametrize("action", _ACTIONS)
def test_a_glued_card_is_written_as_alone(action: str, tmp_path: Path) -> None:
    """Each glued card becomes what the card alone becomes, its glue kept."""
    cards = sorted({card for _, card, _ in _GLUED})
    texts = [text for text, _, _ in _GLUED]
    written = _written(cards + texts, action, tmp_path)
    alone = dict(zip(cards, written[: len(cards)], strict=True))
    for (text, card, (before, after)), out in zip(_GLUED, written[len(cards) :], strict=True):
        assert alone[card] != card
        assert out == f"{before}{alone[card]}{after}", text


def test_glued_look_alikes_stay(tmp_path: Path) -> None:
    # Not Luhn-valid, or a dash after digits (an order id's piece): unchanged.
    texts = [
        "pay 4111111111111112-x",
        "abc-4111111111111112",
        "order 4111111111111112_",
        "ORD-12-4111111111111111",
        "4111111111111111_1",
    ]
    assert _written(texts, "mask:4", tmp_path) == texts


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f", "\u2009", "\u3000"])
def test_a_card_in_fours_parted_by_two_spaces_is_masked(space: str, tmp_path: Path) -> None:
    # Two no-break (or thin, ideographic) spaces read as two ASCII ones do: only "  "
    # was read (entities CARD value, text_markers.SPACED_CARD), and the card stayed.
    card = (space * 2).join(["4111", "1111", "1111", "1111"])
    assert _written([card, f"pay {card} now"], "mask:4", tmp_path) == [
        "*" * 18 + "1111",
        "pay " + "*" * 18 + "1111 now",
    ]


def test_a_dash_led_card_after_an_em_space_is_masked(tmp_path: Path) -> None:
    # The first card's trail took the em space (no card separator) and the dash; the
    # walk after a written card read only a card's own spaces before the dash.
    text = "4111111111111111\u2003-5500000000000004 1"
    assert _written([text], "mask:4", tmp_path) == ["************1111\u2003-************0004 1"]
