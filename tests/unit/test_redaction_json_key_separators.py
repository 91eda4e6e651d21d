"""A JSON key's words parted by a character beyond ASCII get the verdict of a column of
the same name (column_names.normalised parts a name at every character Python's `\\W`
takes): no key main redacted is kept, whatever block its separator is from."""

from __future__ import annotations

import json

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

#: Key words, and a value each of a category's that a kept key would show in clear.
_PAIRS = [
    (("date", "of", "birth"), "1990-05-06"),
    (("first", "name"), "Alice"),
    (("home", "address"), "12 Main Street"),
    (("api", "key"), "abcdef123456"),
    (("credit", "card", "number"), "4111111111111111"),
]


def _verdicts(separator: str) -> list[tuple[str, bool, bool]]:
    """Per key joined by `separator`: whether its JSON value and a column of its name
    came out unchanged."""
    keys = [separator.join(words) for words, _ in _PAIRS]
    values = [value for _, value in _PAIRS]
    columns = {key: [value] * len(keys) for key, value in zip(keys, values, strict=True)}
    texts = [
        json.dumps({key: value}, ensure_ascii=False)
        for key, value in zip(keys, values, strict=True)
    ]
    out, _ = run(pl.DataFrame({**columns, "text": texts}), RedactionSpec(level="strict"))
    verdicts = []
    for row, (key, value) in enumerate(zip(keys, values, strict=True)):
        text = out["text"][row]
        key_kept = value in text or (value[-4:] + '"' in text and "*" in text)
        verdicts.append((key, key_kept, out[key][row] == value))
    return verdicts


@pytest.mark.parametrize(
    "separator",
    [
        "\u30fb",  # katakana middle dot
        "\u0387",  # Greek ano teleia
        "\u05be",  # Hebrew maqaf
        "\u060c",  # Arabic comma
        "\ufe50",  # small comma
        "\ufe63",  # small hyphen-minus
        "\u1680",  # Ogham space mark
        "\u02d7",  # modifier letter minus sign
        "\u0964",  # Devanagari danda
        "\u058a",  # Armenian hyphen
        "\u1806",  # Mongolian todo soft hyphen
        "\U0001f382",  # birthday cake
        # The blocks json_keys named before (Latin-1, general punctuation, full width).
        "\u00b7",
        "\u2014",
        "\uff1a",
    ],
)
def test_a_key_parted_beyond_ascii_is_taken_as_a_column_of_its_name(separator: str) -> None:
    for key, key_kept, column_kept in _verdicts(separator):
        assert not column_kept, key
        assert not key_kept, key


def test_a_key_joined_by_letters_beyond_ascii_stays_as_a_column_of_its_name() -> None:
    """Look-alike: `é` is a letter, so `dateéofébirth` is one word, in a column's name
    and in a key (kept both ways). Not the card number's: a column `creditécardénumber`
    is taken, its key is not (a glob reading of its own, left for an issue)."""
    for key, key_kept, column_kept in _verdicts("\u00e9")[:4]:
        assert key_kept, key
        assert column_kept, key
