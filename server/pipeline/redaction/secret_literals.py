"""Secrets under a secret's key that are no string, for the keyword entity SECRET_VALUE
(layouts of secret_layouts.py): a JSON number, boolean, object or array (also in JSON
escaped inside a string), and the same in a Python dict's repr, each written as a
string of its own kind, so the JSON or the repr stays what it was.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.json_keys import JSON_NESTING, JSON_STRING, json_container
from sluice.server.pipeline.redaction.secret_names import PLURAL_SECRET_NAME, SECRET_NAME

# Inside a JSON object or array: anything but brackets and quotes, a string, or an
# object or array one level less deep (json_keys.py reads the same).
_JSON_INNER = rf"[^\[\]{{}}\"]|{JSON_STRING}|{json_container(JSON_NESTING - 1)}"
#: A JSON value under a secret's key that is no string: a number, `true` or `false`, an
#: object (`{}` too), or an array holding an item that is no string (`[1, 2]`, `["a",
#: {"b": 1}]`), taken whole up to 16 levels of brackets deep, as json_keys.py takes one
#: under a key a column rule names, and written as a JSON string
#: (`{"db_pass": 5}` -> `{"db_pass": "[SECRET_VALUE]"}`). The keyword pattern read the
#: "{" alone as the value and left what the object holds in clear, and took a number
#: with the braces after it: the JSON broke either way. Not `null` nor `[]` (nothing to
#: hide), nor an array of strings alone (_quoted_list writes `["[SECRET_VALUE]"]`,
#: keeping the list). Only where a JSON delimiter follows (`,` `}` `]` or the text's
#: end): `"password": 5 times` is no JSON. Before every other layout; only values
#: holding a quote, ":" and the start of such a value are looked at.
JSON_NOT_A_STRING: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}\"\s*:\s*",
    rf"-?[0-9][0-9.eE+-]*|true|false|\{{(?:{_JSON_INNER})*\}}"
    rf"|\[\s*(?:{JSON_STRING}\s*,\s*)*(?:[^\s\[\]{{}}\"]|{json_container(JSON_NESTING - 1)})"
    rf"(?:{_JSON_INNER})*\]",
    r"\s*(?:[,}\]]|$)",
    gate_pattern=r"\"\s*:\s*[-0-9tf\[{]",
    written_quoted='"',
)
# A Python string literal, in either quote, and an object or list of a Python repr
# holding them (`{'v': 'x}'}`: a bracket in a string is text), as json_container reads
# JSON's, 4 levels deep (a repr in a log line is seldom deeper; a deeper one is the
# keyword pattern's, as before). In a repr inside a JSON string its double quotes are
# escaped (`\"it's\"`): an escaped quote opens and closes a string of its own (one
# escaped inside it is `\\\"`), and a backslash outside a string is taken with the
# character after it, never a quote (`_PYTHON_TEXT`), so no string opens at an escaped
# quote's `"` and runs on past the JSON string's closing quote (`{'a': \"x\"}}"` took
# the rest of the record).
_SINGLE_QUOTED = r"'(?:[^'\\\n]|\\.)*'"
_DOUBLE_QUOTED = r"\"(?:[^\"\\\n]|\\.)*\""
_ESCAPED_QUOTED = r"\\\"(?:[^\"\\\n]|\\\\\\\"|\\[^\"\n])*\\\""
_PYTHON_STRING = f"{_SINGLE_QUOTED}|{_DOUBLE_QUOTED}|{_ESCAPED_QUOTED}"
_PYTHON_TEXT = r"[^\[\]{}'\"\n\\]|\\[^\"\n]"
_PYTHON_NESTING = 4


def _python_container(depth: int) -> str:
    item = _PYTHON_STRING if depth == 1 else f"{_PYTHON_STRING}|{_python_container(depth - 1)}"
    return rf"[\[{{](?:{_PYTHON_TEXT}|{item})*[\]}}]"


_PYTHON_INNER = rf"{_PYTHON_TEXT}|{_PYTHON_STRING}|{_python_container(_PYTHON_NESTING - 1)}"
# Inside a tuple: the same, parentheses but those of a tuple in it (one level deep).
_TUPLE_INNER = (
    rf"[^\[\]{{}}()'\"\n\\]|\\[^\"\n]|{_PYTHON_STRING}|{_python_container(_PYTHON_NESTING - 1)}"
)
_PYTHON_TUPLE = rf"\((?:{_TUPLE_INNER}|\((?:{_TUPLE_INNER})*\))*\)"
#: The same in a Python dict's repr (`{'db_pass': 5}`, as `print(config)` or a log of
#: `repr()` writes it): a number, `True`/`False` (JSON's spelling too), bytes (`b'x'`,
#: also in a repr inside a JSON string, `b\"it's\"`: the quoted layout read the `b` as
#: the value and left the bytes in clear), `None` (written over: the keyword pattern
#: took it with the closing brackets after it), a tuple (`(1, 2)`, `('x', 'y')`: the
#: keyword pattern took its first item and left the others in clear), or an object or
#: list taken whole (`[]` not: nothing to hide), written as a string
#: (`{'db_pass': '[SECRET_VALUE]'}`), so braces and quotes stay and the repr still
#: reads as a literal. The keyword pattern's value runs on over "}" and "]" (they may be
#: a password's) and took the closing brace with the number. A string is
#: _quoted_secret's, a list of strings _quoted_list's (PYTHON_STRING_LIST's where their
#: quotes differ). On one line; only where a delimiter follows. Only values holding a
#: quote, ":" and the start of such a value.
PYTHON_NOT_A_STRING: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}'[ \t]*:[ \t]*",
    rf"-?[0-9][0-9.eE+_-]*|True|False|None|true|false|\{{(?:{_PYTHON_INNER})*\}}"
    rf"|[bB](?:{_PYTHON_STRING})|{_PYTHON_TUPLE}"
    rf"|\[[ \t]*(?:(?:{_PYTHON_STRING})[ \t]*,[ \t]*)*"
    rf"(?:[^\s\[\]{{}}'\"\\]|\\[^\"\n]|{_python_container(_PYTHON_NESTING - 1)})"
    rf"(?:{_PYTHON_INNER})*\]",
    r"[ \t]*(?:[,}\]]|$)",
    gate_pattern=r"'[ \t]*:[ \t]*[-0-9TFNtfbB\[{(]",
    written_quoted="'",
)
_THEN = r"[ \t]*,[ \t]*"
#: A list of strings under a secret's name or its plural in a Python repr, whose quotes
#: are not all of one kind (`{'passwords': ["it's", 'b']}`, as repr quotes a string
#: holding an apostrophe) or escaped (`[\"it's\"]` in a repr inside a JSON string):
#: _quoted_list reads one kind of quote, so every item was left in clear. Taken whole
#: and written as a string, as PYTHON_NOT_A_STRING writes a list. Beside it, with its
#: gate (one search serves both).
PYTHON_STRING_LIST: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?:{SECRET_NAME}|{PLURAL_SECRET_NAME})'[ \t]*:[ \t]*",
    rf"\[[ \t]*(?:(?:{_SINGLE_QUOTED}{_THEN})+(?:{_DOUBLE_QUOTED}|{_ESCAPED_QUOTED})"
    rf"|(?:{_DOUBLE_QUOTED}{_THEN})+(?:{_SINGLE_QUOTED}|{_ESCAPED_QUOTED})|{_ESCAPED_QUOTED})"
    rf"(?:{_PYTHON_INNER})*\]",
    r"[ \t]*(?:[,}\]]|$)",
    gate_pattern=PYTHON_NOT_A_STRING.gate_pattern,
    written_quoted="'",
)
#: The same for JSON escaped inside a string (`"{\"db_pass\": 5}"`), a number, `true`
#: or `false` alone, written as an escaped JSON string (`\"[SECRET_VALUE]\"`), so the
#: string holding it still ends where it did. An object or array there is not taken by
#: this layout (the keyword pattern's tag breaks it, as before).
ESCAPED_JSON_NOT_A_STRING: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}\\\"\s*:\s*",
    r"-?[0-9][0-9.eE+-]*|true|false",
    r"\s*(?:[,}\]]|\\[nrt]|$)",
    gate_pattern=r"\\\"\s*:\s*[-0-9tf]",
    written_quoted='\\"',
)
