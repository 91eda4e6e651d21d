"""Secrets in quotes after their names, for the keyword entity SECRET_VALUE
(secret_layouts.py): quoted (escaped quotes too, over lines, escaped twice), a list of
quoted secrets and a parenthesised one or tuple, each a layout run before the keyword
pattern.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.json_string_ends import TWICE_ESCAPED_QUOTE
from sluice.server.pipeline.redaction.secret_elements import ELEMENT_MORE_LINES
from sluice.server.pipeline.redaction.secret_names import (
    ASSIGNMENT,
    ASSIGNMENT_OVER_LINES,
    PLURAL_SECRET_NAME,
    SECRET_NAME,
    STRING_PREFIX,
)
from sluice.server.pipeline.redaction.secret_values import ASSIGNED_REST
from sluice.server.pipeline.redaction.written_forms import WRITTEN

# What may follow the closing parenthesis of a parenthesised value that
# parenthesised_quoted takes: nothing, a space, a separator or a quote, or the code's
# further closing parentheses before one of those, a dot or a closing bracket
# (`f(password=("x")).close()`, `[f(password=("x"))]`).
# Anything else is glued to the value (`password=("x")hunter2`, `("").pw`, `("a",)+pw`):
# the shell array takes its items (SHELL_ARRAY_ITEMS_BEFORE_MORE) and the keyword
# pattern then the written array and the rest with it, as on main. After a shell's
# lead (a space, a line's start, `x=1 `, `cmd; `) so is a dot or closing bracket after
# the further ")" (`password=("x")).pw`, `))]pw`): main hid what follows them, and a
# method's name cannot be told from a secret there. The shell array runs first, so
# _CLOSED_VALUE_END's dot and bracket are left to leads it does not read (`f(`).
_CLOSED_VALUE_END = r"(?:$|[\s,;&\"']|\)+(?:$|[\s,;&\"'.\]}]))"


# A quoted secret's value starts at any character but a space, its own quote, a backslash
# or "[" (a tag): the quotes, not the characters, say where it is (`password="= a b"`,
# `api_key=',x'`); `=`, `>` and list separators start one here.


def quoted_start(quote: str) -> str:
    return rf"(?:[^\s{quote}\[\\]|\\[^\s\"'])"


def _quoted_value(quote: str) -> str:
    """A quoted secret's value, up to its closing quote (the trail's) on its line. Also
    one starting with what an earlier rule wrote, when more of the value follows it
    (`"ghp_… tail"` after GITHUB_TOKEN wrote its tag), ending at the last character
    before the quote that is no space. Not over a line break: a prompt's closing quote
    (`input('Password: ')`) then read as an opening one, and the value ran on to the
    next line's quote, taking a secret's name and leaving its value (`api_key =
    'Hunter2'`) in clear; and a quote no line closes took the rest of the text."""
    return (
        rf"{quoted_start(quote)}{ASSIGNED_REST}[^{quote}\n\\]*"
        rf"|{WRITTEN}[^{quote}\n\\]*[^\s{quote}\\]"
    )


def escape_aware_text(quote: str) -> str:
    """A quoted value read with its escapes (a backslash and any character after it),
    after an opening quote that no backslash escapes: an escaped quote is the value's
    (`'it\\'s secret'`, a JSON `"it\\"s"`, `'it\\"s'` in a repr inside a JSON string),
    as the closing quote is the first one no backslash escapes. In a JSON string a
    repr's escaped quote is written with its backslash escaped (`{"m": "{'password':
    'it\\\\'s x'}"}`): a quote after an escaped backslash is the value's too where
    more of a word is glued to it (no space, separator, bracket or backslash: a string's
    end in a repr is followed by one of those), and `s x` was left in clear. A value
    ending in an escaped backslash still ends at the quote after it (`'a\\\\', 'b'`), and
    so does one before a quote or backtick (`{'m': "password='abc\\\\'", 'n': 1}`: the
    JSON or Python string holding the repr ends there, and taking it broke the literal)."""
    glued_quote = rf"\\\\{quote}[^\s{quote}\\,;:)\]}}\"`]"
    return rf"(?:[^\s{quote}\[\\]|\\[^\s])(?:[^{quote}\n\\]|{glued_quote}|\\[^\n])*"


def _escape_aware_value(quote: str) -> str:
    """escape_aware_text, or one starting with what an earlier rule wrote (as
    _quoted_value reads one)."""
    return (
        rf"{escape_aware_text(quote)}"
        rf"|{WRITTEN}(?:[^{quote}\n\\]|\\[^\n])*(?:[^\s{quote}\\]|\\[^\s])"
    )


def escaped_quote_text(quote: str) -> str:
    """A quoted value after an escaped opening quote (`\\"password\\": \\"x\\"`, JSON
    escaped in a string), up to the escaped quote closing it: a quote escaped again in
    it (`\\\\\\"`, three backslashes) and a backslash escaped again (`\\\\\\\\`) are the
    value's, other escapes too (`\\n`, `\\u00e9`). Its first character is read as the
    others are, a backslash escaped twice (four) first: `\\"\\\\\\\\\\"` (json.dumps twice
    of `{"password": "\\\\"}`) read two, then the closing quote as one escaped again, and
    the value ran on (`, ` taken, the JSON broken)."""
    return (
        rf"(?:\\\\\\\\|\\\\\\[{quote}\\]|[^\s{quote}\[\\]|\\[^\s\"'])"
        rf"(?:\\\\\\\\|[^{quote}\n\\]|\\\\\\[{quote}\\]|\\[^{quote}\n])*"
    )


def _escaped_quote_value(quote: str) -> str:
    """escaped_quote_text, or one starting with what an earlier rule wrote."""
    return rf"{escaped_quote_text(quote)}|{WRITTEN}[^{quote}\n\\]*[^\s{quote}\\]"


def _quoted_gate(quote: str) -> str:
    """The quoted layouts' gate: an assignment, then the quote (a string's prefix
    before it, STRING_PREFIX, or a backslash)."""
    return rf"[:=>\uff1a]\s*{STRING_PREFIX}?\\?{quote}"


def quoted_secret(quote: str) -> Entity:
    """A secret quoted with `quote`, whole up to the closing quote of the same kind on
    its line (`password="correct horse battery"`): the keyword entity's value ends at a
    space, as an unquoted value does. One layout per kind of quote: Rust's regex has no
    back-reference to find the closing one. Before the keyword pattern, which then finds
    the value written in its place (a tag or a pseudonym starts with "[", a mask reads
    as the same mask). Spaces after the opening quote are not the value's start
    (`password=" hunter2"`: the keyword pattern's value may not start with one, and left
    it whole in clear). An escaped quote is the value's (_escape_aware_value): the
    value ended at it and left the rest in clear (`{'password': 'it\\'s secret'}` kept
    `'s secret`). After an escaped opening quote (`\\"`) the value is
    escaped_quoted_secret's. Only values holding a quote right after an assignment are
    looked at (a scan of the rows the keyword gate picked)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?{quote}[ \t]*",
        _escape_aware_value(quote),
        quote,
        gate_pattern=_quoted_gate(quote),
    )


def escaped_quoted_secret(quote: str) -> Entity:
    """The same after an escaped opening quote (`{\\"password\\": \\"x\\"}`, JSON
    escaped in a string), up to the escaped quote closing it (_escaped_quote_value):
    an escape of the value's own quote ends it there, and so does a plain quote
    (`password=\\"correct horse battery"`: closed by no escaped quote, the value fell
    through to the keyword pattern and left `horse battery` in clear). Beside
    quoted_secret, with its gate (one search serves both)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?\\{quote}[ \t]*",
        _escaped_quote_value(quote),
        rf"\\{quote}|{quote}",
        gate_pattern=_quoted_gate(quote),
    )


def quoted_secret_either_quote(quote: str) -> Entity:
    """The last of the quoted layouts after an assignment: a value between quotes either
    escaped or not, up to the first (`password="correct horse\\" user=bob`, a plain
    opening quote closed by an escaped one, no layout before it reads): the value fell
    through to the keyword pattern and left the words after the first in clear. The
    value reads no escape (_quoted_value). Beside quoted_secret, with its gate."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?\\?{quote}[ \t]*",
        _quoted_value(quote),
        rf"\\?{quote}",
        gate_pattern=_quoted_gate(quote),
    )


# A value between two quotes escaped twice (json_string_ends.TWICE_ESCAPED_QUOTE): any
# character but a backslash or quote, a backslash of the value (escaped three times:
# eight), a quote of the value (`\\\\\\\"`, seven and the quote), or a run of
# backslashes before any other character (an escape, escaped twice). A run of three
# before a quote is the closing quote. The eight are read whole before the run: a value
# ending in a backslash (`a` and eight, then the closing three) or a backslash before a
# quote of the value (fifteen) matched no way, and the value was left whole in clear; so
# was one starting with a quote or a backslash.
_TWICE_ESCAPED_CHARACTER = r'\\{8}|\\{7}"|\\+[^"\\\n]'
_TWICE_ESCAPED_VALUE = (
    rf'(?:[^\s"\\\[]|{_TWICE_ESCAPED_CHARACTER})(?:[^"\\\n]|{_TWICE_ESCAPED_CHARACTER})*'
)
#: A secret as a JSON string escaped twice, under its key (`\\\"password\\\":
#: \\\"correct horse\\\"`, a pretty-printed JSON dumped as a string twice more): the
#: other layouts read one backslash before a quote, so no name's closing quote was
#: found and the secret was left whole in clear. Only values holding a quote escaped
#: twice, ":" and another one are looked at (the keyword gate reads such a name too:
#: _ANY_ASSIGNED_VALUE).
TWICE_ESCAPED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{TWICE_ESCAPED_QUOTE}\s*:\s*{TWICE_ESCAPED_QUOTE}[ \t]*",
    _TWICE_ESCAPED_VALUE,
    TWICE_ESCAPED_QUOTE,
    gate_pattern=rf"{TWICE_ESCAPED_QUOTE}\s*:\s*{TWICE_ESCAPED_QUOTE}",
)


def multiline_quoted_secret(quote: str) -> Entity:
    """A quoted secret whose value runs on over lines (`password = "abc` and `def"` on
    the next line, as YAML folds a quoted scalar): quoted_secret's value ends at its
    line, so the lines after the first were left in clear. Only a quote no character of
    its first line closes; a value starting with neither a space nor punctuation, whose
    further lines are one word each (a base64 key's, a folded value's; `x = 1` is code
    after a quote no line closed); and a closing quote that ends a line, a word or an
    item: a prompt's closing quote (`input('Password: ')`) is followed by ")", and the
    next line's quote by a value, which took the code between them for a secret. At
    most as many lines as an XML element's value. Before quoted_secret, with its gate
    (one search serves both)."""
    first = rf"[^{quote}\n\\]*"
    # A further line: its indent, then a word and the spaces after it, if any (one way
    # to read a line of spaces: no backtracking blow-up under Python `re`).
    then = rf"[ \t]*(?:[^\s{quote}\\]+[ \t]*)?"
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?\\?{quote}",
        rf"[^\s{quote}\[\\,;.:)(!?+<>{{}}|&=*-]{first}(?:\r?\n{then}){{1,{ELEMENT_MORE_LINES}}}",
        rf"\\?{quote}(?:$|[\s,;)}}\]])",
        gate_pattern=_quoted_gate(quote),
    )


def quoted_list(quote: str) -> Entity:
    """A list of quoted secrets under a secret's name, singular or plural (`"passwords":
    ["a", "b"]`, `api_keys = ['x', 'y']`, also over lines as JSON is pretty-printed):
    the keyword pattern's value may not start with "[" and left every one in clear.
    Written as one quoted value (`["[SECRET_VALUE]"]`), so JSON stays JSON. A plural
    `tokens` alone is not one: a tokenizer's output (`"tokens": ["the", "cat"]`);
    `access_tokens` and the singular are. Every list under such a name is taken whole,
    a web form's validation messages (`{"password": ["This field is required."]}`) too:
    passphrases hold spaces, and over-redaction is the safe failure. An item may hold
    escapes (`\"`, `\\`, `\u00e4`, as json.dumps writes what is beyond ASCII). Only
    values holding "[" and the quote after an assignment are looked at."""
    item = rf"(?:[^{quote}\n\\]|\\[^\s])*"
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"(?:{SECRET_NAME}|{PLURAL_SECRET_NAME}){ASSIGNMENT}\[\s*{quote}",
        rf"{item}(?:{quote}\s*,\s*{quote}{item})*",
        rf"{quote}\s*,?\s*\]",
        gate_pattern=rf"[:=>\uff1a]\s*\[\s*{quote}",
    )


#: The items parenthesised_quoted takes: any but a hash rule's pseudonym alone, once
#: unsealed (`[SECRET_VALUE:` 16 hex digits `]`), which it would hash again when the
#: output is redacted again; a tag or mask written again is the same text.
_NOT_A_PSEUDONYM = (
    r"[^\s()\[][^()\n]*|\[(?:[^A-Z()\n][^()\n]*)?|\[[A-Z][A-Z0-9_]*(?:[^A-Z0-9_:()\n][^()\n]*"
    r"|:[0-9a-f]{0,15}(?:[^0-9a-f()\n][^()\n]*)?|:[0-9a-f]{16}(?:[^\]()\n][^()\n]*)?"
    r"|:[0-9a-f]{16}\][^()\n]+)?"
)


def parenthesised_quoted(quote: str) -> Entity:
    """A quoted secret in parentheses, or several parted by commas (a tuple), after a
    secret's name or its plural and an assignment (`connect(host, password=("hunter2"))`,
    `api_keys = ("a", "b",)`), whole from the first quote to the last before the closing
    parenthesis on its line, written as one quoted value (`("[SECRET_VALUE]")`), as
    quoted_list writes a list: the keyword pattern's value took the "(" alone and left
    the items in clear (`f(password=("hunter2"), x=1)`), or, after a space, the shell
    array took the items without their quotes and the keyword pattern then the code's
    `))` with them. Whatever else is between those quotes is taken too (`("" "x")`,
    `("a" if b else "c")`): over-redaction is the safe failure. A bare `tokens` or
    `secrets` only where the shell array reads one (a tokenizer's `f(tokens=("the",
    "cat"))` stays), `+=` as the shell array reads it. On one line: lines of a
    pretty-printed tuple are not collapsed into one value (the keyword pattern takes its
    first item). After SHELL_ARRAY_SECRET, which leaves it one quoted item or several
    parted by commas, so neither reads what the other wrote ("(" then a tag, or a
    quote). Only where the closing parenthesis ends the value (_CLOSED_VALUE_END). Only
    values holding an opening quote right after "(" and an assignment are looked at; the
    spaces after that quote, any but a line break (a no-break space), are left with it."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"(?:(?:{SECRET_NAME}|{PLURAL_SECRET_NAME})(?:{ASSIGNMENT}|\+=)"
        r"|(?:^|[\s;&|])(?i:tokens|secrets)\+?="
        rf")\([ \t]*{quote}[^\S\n]{{0,64}}",
        _NOT_A_PSEUDONYM,
        rf"{quote}[ \t]*,?[ \t]*\){_CLOSED_VALUE_END}",
        gate_pattern=r"[:=>\uff1a]\s*\([ \t]*[\"']",
    )
