"""Short text values are scanned for keyword gates joined into one text (compaction's
`_any_keyword`): a secret that is a whole value, between values ending and starting with
word characters, is still found, in a list's elements and in a column."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

ROWS = 3_000
TOKEN = "AKIAIOSFODNN7EXAMPLE"
SLACK = "xoxb-1234567890-abcdef"


@pytest.mark.parametrize("secret", [TOKEN, SLACK])
def test_a_secret_alone_among_short_values_is_found(secret: str) -> None:
    words = [f"ab{i}" for i in range(ROWS)]
    words[1234] = secret
    frame = pl.DataFrame({"word": words, "tags": [[w, f"zz{w}"] for w in words]})
    out, counts = run(frame, RedactionSpec(level="basic"))
    assert out["word"][1234] != secret and out["word"][1233] == "ab1233"
    assert out["tags"][1234].to_list() == [out["word"][1234], f"zz{secret}"]
    assert out["word"].to_list()[:1234] == words[:1234]
    assert sum(counts.values()) == 2, counts


def test_short_values_joined_find_nothing_across_clean_values() -> None:
    # Pieces of a token split across neighbouring values are no token.
    words = [f"w{i}" for i in range(ROWS)]
    words[10], words[11] = "AKIAIOSFOD", "NN7EXAMPLE"
    out, counts = run(pl.DataFrame({"word": words}), RedactionSpec(level="basic"))
    assert out["word"].to_list() == words
    assert sum(counts.values()) == 0
