"""Key/value pairs inside JSON text, for column rules whose glob names the key."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.policy import ColumnRule
from sluice.server.pipeline.redaction.text_markers import LEAD

JSON_STRING: Final = r"\"(?:[^\"\\]|\\.)*\""
#: How deep an object or array under a named key is taken whole, in levels of brackets,
#: its own included (`{"password": {"a": [{"b": "x"}]}}`: 3).
#: The engine has no recursion, so each level is the pattern of the one inside it again
#: (the pattern grows linearly). A value nested deeper is not taken by this rule.
JSON_NESTING: Final = 16


def json_container(depth: int, *, empty: bool = True) -> str:
    """An object or array holding at most `depth` levels of brackets: strings whole (a
    bracket in one is text), anything else but brackets and quotes between them. Which
    bracket closes which is not checked: in valid JSON they pair up. Not `empty`: no
    array holding nothing but spaces (an empty object is taken: the keyword entity would
    read its "{" as a value and break the JSON)."""
    item = JSON_STRING
    if depth > 1:
        item += "|" + json_container(depth - 1)
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
    rf"{JSON_STRING}|-?[0-9][0-9.eE+-]*|true|false"
    rf"|{json_container(JSON_NESTING, empty=False)}"
)


def json_key_regex(rules: list[ColumnRule]) -> str:
    """Key/value pairs inside JSON text whose key matches one of the rules' globs."""
    names = "|".join(_glob_regex(rule.selector, snake=not rule.field) for rule in rules)
    return rf'(?P<sl_lead>"(?i:{names})"\s*:\s*)(?P<sl_value>{_JSON_VALUE})(?P<sl_trail>)'


def rewrite_json_keys(text: pl.Expr, regex: str, label: str) -> pl.Expr:
    return text.str.replace_all(regex, f'{LEAD}"{tag(label)}"')


#: Between two words of a key read in snake case: a run of anything but letters and
#: digits (`date_of_birth`, `date-of-birth`, `Date of Birth`), as column_names.py reads
#: a column's name.
_WORD_SEPARATOR: Final = r'(?:[^"\\\w]|_)+'


def _glob_regex(glob: str, *, snake: bool = False) -> str:
    # "*" and "?" take a character or an escape (`\u00e9`, `\/`, `\\`: json.dumps writes
    # non-ASCII keys escaped), never an escaped quote: a key ends at a quote no backslash
    # escapes, so the escaped quotes of JSON inside a string value (`"{\"password\": 5}"`)
    # are no key's (its value rewritten to a quoted tag would end that string).
    # `snake` (level defaults, policies, templates: not a request's own rules): a key is
    # read as column_names.normalised reads a column's name, so a "_" of the glob before
    # a letter is also any separator, or a camelCase boundary (`dateOfBirth` is
    # `date_of_birth`, `homeTel` `home_tel`; after "*" only after a lower-case letter or
    # digit: `HOTEL` is no `*_tel`).
    out = []
    written = False
    for index, char in enumerate(glob):
        following = glob[index + 1 : index + 2]
        if written:
            written = False  # the letter after a snake-case "_", written with it
        elif char == "*":
            out.append(r'(?:[^"\\]|\\[^"])*')
        elif char == "?":
            out.append(r'(?:[^"\\]|\\[^"])')
        elif char == "_" and snake and following.isalpha() and following.isascii():
            before = "[a-z0-9]" if glob[index - 1 : index] == "*" else ""
            camel = f"(?-i:{before}{following.upper()})"
            out.append(f"(?:{_WORD_SEPARATOR}{following}|{camel})")
            written = True
        elif char.isalnum() or char == "_":
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
