"""The CLI's --redact-rule syntax and how --redact/--redact-policy reach the spec."""

from __future__ import annotations

import click
import pytest

from sluice.client.cli.redaction import build_redaction, parse_rule


def test_rule_syntax() -> None:
    mask = parse_rule("column=notes:mask:4")
    assert (mask.column, mask.action, mask.keep_last) == ("notes", "mask", 4)
    hashed = parse_rule("pattern=EMAIL:hash:crm")
    assert (hashed.pattern, hashed.action, hashed.key) == ("EMAIL", "hash", "crm")
    regex = parse_rule(r"pattern=ID-\d{3}:\d+:redact")
    assert (regex.pattern, regex.action) == (r"ID-\d{3}:\d+", "redact")
    general = parse_rule("column=user.dob:generalize:month")
    assert (general.column, general.granularity) == ("user.dob", "month")
    assert parse_rule("column=*_token:DROP").action == "drop"


@pytest.mark.parametrize(
    "text", ["notes:mask", "column=notes", "column=notes:shred", "column=:drop",
             "column=notes:drop:3", "column=notes:mask:four", "row=1:drop"]
)  # fmt: skip
def test_bad_rules_are_usage_errors(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_rule(text)


def test_redaction_message() -> None:
    assert build_redaction("", "", ()) is None
    message = build_redaction("custom", "support", ("column=email:hash",))
    assert message is not None
    assert (message.level, message.policy, len(message.rules)) == ("custom", "support", 1)
