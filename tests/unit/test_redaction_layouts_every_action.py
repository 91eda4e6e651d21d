"""Layouts an entity's own pattern leaves (an e-mail whose "@" a URL escaped, a quoted
secret holding spaces) are handled by the rule's action whatever it is: masked, hashed
or nulled as whole values, never left in clear because the action is not `redact`."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.actions import TEXT_PSEUDONYM_HEX
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

KEY = b"k" * 32

#: (level, entity, text, the sensitive value, the text around it).
LAYOUTS = [
    (
        "moderate",
        "EMAIL",
        "GET /unsubscribe?email=ann.lee%40example.com&t=1",
        "ann.lee%40example.com",
        ("GET /unsubscribe?email=", "&t=1"),
    ),
    ("moderate", "EMAIL", "ann%40example.com and more", "ann%40example.com", ("", " and more")),
    (
        "basic",
        "SECRET_VALUE",
        'password="correct horse battery" next',
        "correct horse battery",
        ('password="', '" next'),
    ),
    (
        "basic",
        "SECRET_VALUE",
        "{'password': 'correct horse', 'x': 'a b'}",
        "correct horse",
        ("{'password': '", "', 'x': 'a b'}"),
    ),
    (
        "basic",
        "SECRET_VALUE",
        'password=\\"correct horse\\" x',
        "correct horse",
        ('password=\\"', '\\" x'),
    ),
    # Assignments of two characters: the pattern must not reread them as one and a value.
    (
        "basic",
        "SECRET_VALUE",
        'password := "correct horse"',
        "correct horse",
        ('password := "', '"'),
    ),
    ("basic", "SECRET_VALUE", "{password => 'abcdef'}", "abcdef", ("{password => '", "'}")),
    ("basic", "SECRET_VALUE", "password==x1y2 z", "=x1y2", ("password=", " z")),
    (
        "basic",
        "SECRET_VALUE",
        "<password>correct horse</password>",
        "correct horse",
        ("<password>", "</password>"),
    ),
]


def _redacted(text: str, level: str, spec_rule: str, tmp_path: Path) -> str | None:
    """`text` redacted as a column, a list's element and a struct's field: the three
    must agree (one rewrite serves every text leaf)."""
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    spec = RedactionSpec(level=level, rules=(rule(spec_rule),))
    out, counts = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    column, element, field = out["text"][0], out["items"][0][0], out["record"][0]["note"]
    assert column == element == field, (column, element, field)
    assert out["items"][0][1] == "plain"
    assert sum(counts.values()) == 3, counts
    return column


@pytest.mark.parametrize(("level", "entity", "text", "value", "around"), LAYOUTS)
def test_masked(
    level: str, entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, level, f"pattern={entity}:mask:4", tmp_path)
    before, after = around
    assert out == before + "*" * (len(value) - 4) + value[-4:] + after


@pytest.mark.parametrize(("level", "entity", "text", "value", "around"), LAYOUTS)
def test_hashed_whole(
    level: str, entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, level, f"pattern={entity}:hash:crm", tmp_path)
    digest = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:TEXT_PSEUDONYM_HEX]
    before, after = around
    assert out == f"{before}[{entity}:{digest}]{after}"


@pytest.mark.parametrize(("level", "entity", "text", "value", "around"), LAYOUTS)
def test_nulled(
    level: str, entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    assert _redacted(text, level, f"pattern={entity}:null", tmp_path) is None


@pytest.mark.parametrize(("level", "entity", "text", "value", "around"), LAYOUTS)
def test_tagged(
    level: str, entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    before, after = around
    assert _redacted(text, level, f"pattern={entity}:redact", tmp_path) == (
        f"{before}[{entity}]{after}"
    )


#: Look-alikes of the layouts: the extra patterns find nothing in them, whatever the action.
LOOK_ALIKES = [
    ("moderate", "EMAIL", "discount 50%40 items, npm i %40scope%2Fpkg, user@localhost"),
    ("basic", "SECRET_VALUE", 'a "quoted [SECRET_VALUE] note" and "more text"'),
    ("basic", "SECRET_VALUE", 'the "password" field, x="a b"'),
]


@pytest.mark.parametrize("action", ["mask:4", "hash:crm", "null", "redact"])
@pytest.mark.parametrize(("level", "entity", "text"), LOOK_ALIKES)
def test_look_alikes_stay(level: str, entity: str, text: str, action: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": [text]})
    spec = RedactionSpec(level=level, rules=(rule(f"pattern={entity}:{action}"),))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == text
    assert not re.search(r"\[[A-Z_]+[:\]]", out["text"][0].replace("[SECRET_VALUE]", ""))
