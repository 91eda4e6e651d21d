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

#: (entity, text, the sensitive value, the text around it), each rule alone: another
#: entity's pattern may read a mask as a value of its own (a secret after `--...-key`).
LAYOUTS = [
    (
        "EMAIL",
        "GET /unsubscribe?email=ann.lee%40example.com&t=1",
        "ann.lee%40example.com",
        ("GET /unsubscribe?email=", "&t=1"),
    ),
    ("EMAIL", "ann%40example.com and more", "ann%40example.com", ("", " and more")),
    (
        "SECRET_VALUE",
        'password="correct horse battery" next',
        "correct horse battery",
        ('password="', '" next'),
    ),
    (
        "SECRET_VALUE",
        "{'password': 'correct horse', 'x': 'a b'}",
        "correct horse",
        ("{'password': '", "', 'x': 'a b'}"),
    ),
    (
        "SECRET_VALUE",
        'password=\\"correct horse\\" x',
        "correct horse",
        ('password=\\"', '\\" x'),
    ),
    # Assignments of two characters: the pattern must not reread them as one and a value.
    (
        "SECRET_VALUE",
        'password := "correct horse"',
        "correct horse",
        ('password := "', '"'),
    ),
    ("SECRET_VALUE", "{password => 'abcdef'}", "abcdef", ("{password => '", "'}")),
    ("SECRET_VALUE", "password==x1y2 z", "=x1y2", ("password=", " z")),
    (
        "SECRET_VALUE",
        "<password>correct horse</password>",
        "correct horse",
        ("<password>", "</password>"),
    ),
    ("SECRET_VALUE", "run --password hunter2 -v", "hunter2", ("run --password ", " -v")),
    (
        "SECRET_VALUE",
        "run --password 'correct horse' -v",
        "correct horse",
        ("run --password '", "' -v"),
    ),
    (
        "AWS_SECRET_KEY",
        "--aws-secret-access-key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ("--aws-secret-access-key ", ""),
    ),
]


def _redacted(text: str, spec_rule: str, tmp_path: Path) -> str | None:
    """`text` redacted as a column, a list's element and a struct's field: the three
    must agree (one rewrite serves every text leaf)."""
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    out, counts = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    column, element, field = out["text"][0], out["items"][0][0], out["record"][0]["note"]
    assert column == element == field, (column, element, field)
    assert out["items"][0][1] == "plain"
    assert sum(counts.values()) == 3, counts
    return column


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_masked(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, f"pattern={entity}:mask:4", tmp_path)
    before, after = around
    assert out == before + "*" * (len(value) - 4) + value[-4:] + after


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_hashed_whole(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, f"pattern={entity}:hash:crm", tmp_path)
    digest = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:TEXT_PSEUDONYM_HEX]
    before, after = around
    assert out == f"{before}[{entity}:{digest}]{after}"


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_nulled(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    assert _redacted(text, f"pattern={entity}:null", tmp_path) is None


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_tagged(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    before, after = around
    assert _redacted(text, f"pattern={entity}:redact", tmp_path) == f"{before}[{entity}]{after}"


#: Look-alikes of the layouts: the extra patterns find nothing in them, whatever the action.
LOOK_ALIKES = [
    ("EMAIL", "discount 50%40 items, npm i %40scope%2Fpkg, user@localhost"),
    ("SECRET_VALUE", 'a "quoted [SECRET_VALUE] note" and "more text"'),
    ("SECRET_VALUE", 'the "password" field, x="a b"'),
    ("SECRET_VALUE", "--password-file /etc/pw -- password reset <li>password</li>"),
    ("AWS_SECRET_KEY", "--aws-secret-access-key tooShort <aws-secret-access-key>"),
]


@pytest.mark.parametrize("action", ["mask:4", "hash:crm", "null", "redact"])
@pytest.mark.parametrize(("entity", "text"), LOOK_ALIKES)
def test_look_alikes_stay(entity: str, text: str, action: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": [text]})
    spec = RedactionSpec(level="custom", rules=(rule(f"pattern={entity}:{action}"),))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == text
    assert not re.search(r"\[[A-Z_]+[:\]]", out["text"][0].replace("[SECRET_VALUE]", ""))
