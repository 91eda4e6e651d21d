"""Key/value pairs inside JSON text, for column rules whose glob names the key."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.policy import ColumnRule
from sluice.server.pipeline.redaction.text_markers import LEAD

_JSON_STRING: Final = r"\"(?:[^\"\\]|\\.)*\""
#: How deep an object or array under a named key is taken whole, in levels of brackets,
#: its own included (`{"password": {"a": [{"b": "x"}]}}`: 3).
#: The engine has no recursion, so each level is the pattern of the one inside it again
#: (the pattern grows linearly). A value nested deeper is not taken by this rule.
JSON_NESTING: Final = 16


def _json_container(depth: int, *, empty: bool = True) -> str:
    """An object or array holding at most `depth` levels of brackets: strings whole (a
    bracket in one is text), anything else but brackets and quotes between them. Which
    bracket closes which is not checked: in valid JSON they pair up. Not `empty`: no
    array holding nothing but spaces (an empty object is taken: the keyword entity would
    read its "{" as a value and break the JSON)."""
    item = _JSON_STRING
    if depth > 1:
        item += "|" + _json_container(depth - 1)
    inner = rf"[^\[\]{{}}\"]|{item}"
    if empty:
        return rf"[\[{{](?:{inner})*[\]}}]"
    return rf"\{{(?:{inner})*[\]}}]|\[\s*(?:[^\s\[\]{{}}\"]|{item})(?:{inner})*[\]}}]"


#: A value a named key's rule rewrites: a string, a number, a boolean, or an object or
#: array, taken whole, written as one string tag (`{"password": {"v": "x"}}` becomes
#: `{"password": "[SECRET]"}`), so the JSON stays JSON and no leaf inside is left. Not
#: null nor an empty array: there is nothing to hide, and they stay as they were
#: (`{"passwords": []}`, not a string tag a reader expecting a list would trip on).
_JSON_VALUE: Final = (
    rf"{_JSON_STRING}|-?[0-9][0-9.eE+-]*|true|false"
    rf"|{_json_container(JSON_NESTING, empty=False)}"
)


def json_key_regex(rules: list[ColumnRule]) -> str:
    """Key/value pairs inside JSON text whose key matches one of the rules' globs."""
    names = "|".join(_glob_regex(rule.selector) for rule in rules)
    return rf'(?P<sl_lead>"(?i:{names})"\s*:\s*)(?P<sl_value>{_JSON_VALUE})(?P<sl_trail>)'


def rewrite_json_keys(text: pl.Expr, regex: str, label: str) -> pl.Expr:
    return text.str.replace_all(regex, f'{LEAD}"{tag(label)}"')


def _glob_regex(glob: str) -> str:
    # "*" and "?" take a character or an escape (`\u00e9`, `\/`, `\\`: json.dumps writes
    # non-ASCII keys escaped), never an escaped quote: a key ends at a quote no backslash
    # escapes, so the escaped quotes of JSON inside a string value (`"{\"password\": 5}"`)
    # are no key's (its value rewritten to a quoted tag would end that string).
    out = []
    for char in glob:
        if char == "*":
            out.append(r'(?:[^"\\]|\\[^"])*')
        elif char == "?":
            out.append(r'(?:[^"\\]|\\[^"])')
        elif char.isalnum() or char == "_":
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
