"""Key/value pairs inside JSON text, for column rules whose glob names the key."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.policy import ColumnRule
from sluice.server.pipeline.redaction.text_markers import LEAD

_JSON_VALUE: Final = r"\"(?:[^\"\\]|\\.)*\"|-?[0-9][0-9.eE+-]*|true|false"


def json_key_regex(rules: list[ColumnRule]) -> str:
    """Key/value pairs inside JSON text whose key matches one of the rules' globs."""
    names = "|".join(_glob_regex(rule.selector) for rule in rules)
    return rf'(?P<sl_lead>"(?i:{names})"\s*:\s*)(?P<sl_value>{_JSON_VALUE})(?P<sl_trail>)'


def rewrite_json_keys(text: pl.Expr, regex: str, label: str) -> pl.Expr:
    return text.str.replace_all(regex, f'{LEAD}"{tag(label)}"')


def _glob_regex(glob: str) -> str:
    out = []
    for char in glob:
        if char == "*":
            out.append(r'[^"]*')
        elif char == "?":
            out.append(r'[^"]')
        elif char.isalnum() or char == "_":
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
