"""Unquoted secrets of several words or lines after their names, for the keyword entity
SECRET_VALUE (secret_layouts.py): a passphrase to its line's end (`password: correct
horse battery staple`) and a YAML block scalar.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.json_string_ends import (
    LINE_END,
    LINE_SPACE,
    WORDS_JSON_STRING_END,
)
from sluice.server.pipeline.redaction.secret_names import (
    COLON_SETTING,
    SECRET_NAME,
    SPACED_SECRET_NAME,
)

#: A YAML block scalar under a secret's name (`password: >-` or `|`, then the value on
#: the indented lines after it), whole with its indicator: the keyword pattern took the
#: indicator alone for the value and left the lines in clear. The block runs over the
#: indented lines that follow (blank lines between them too) up to a line that is not
#: indented; under a key that is itself indented, the siblings after it are taken with
#: it (the engine cannot compare indents: over-redaction, the safe failure). A comment
#: after the indicator and blank lines before the first indented line are the block's.
#: Only values holding ":" then "|" or ">" are looked at.
YAML_BLOCK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?m:^)[ \t]*(?:-[ \t]+)?{SECRET_NAME}[\"']?[ \t]*:[ \t]*",
    r"[|>][0-9+-]{0,2}[ \t]*(?:#[^\r\n]*)?(?:\r?\n[ \t]*)*\r?\n[ \t]+[^\s][^\r\n]*"
    r"(?:\r?\n(?:[ \t]*\r?\n)*[ \t]+[^\s][^\r\n]*)*",
    "",
    gate_pattern=r":[ \t]*[|>]",
)


# A word of a secret's value that runs on over its line (SECRET_TO_LINE_END): no quote,
# backtick, backslash but a _WORD_ESCAPE, or "=", and not ending in ":" (`user=bob`,
# `user:`, `=` start another pair). A full-width colon (U+FF1A) is the word's: which
# word before it names a secret no pattern here can tell (`horse<U+FF1A>battery` in a
# passphrase was left in clear with the words after it), so the value runs on over a
# pair written with one (`password<U+FF1A>a b token<U+FF1A>c d` whole: over-redaction).
# The first may not start with what a layout reads or wrote ("[", "(", corner
# brackets, a mask's "*" or a seal's SUB) nor
# with a list separator.
# A JSON string's escape of a character beyond ASCII, a backslash or a slash is the
# word's (`\u00e9`, as json.dumps writes "é"); any other escape ends it (`\n`, `\"`).
_WORD_ESCAPE = r"\\(?:u[0-9a-fA-F]{4}|[\\/])"
# Between two words: any space but a line break (json_string_ends.LINE_SPACE).
_WORD_SPACE = rf"{LINE_SPACE}+"
_LINE_WORD = rf"(?:[^\s\"'`=\\]|{_WORD_ESCAPE})*(?:[^\s\"'`=\\:]|{_WORD_ESCAPE})"
_FIRST_LINE_WORD = (
    rf"(?:[^\s\"'`=\\\[(「『」』,;&*\x1a]|{_WORD_ESCAPE})(?:[^\s\"'`=\\]|{_WORD_ESCAPE})*"
)
#: An unquoted secret of several words after a colon (`password: correct horse battery
#: staple`: a YAML or properties line, a header, a log's "Password: …"): the keyword
#: pattern's value ends at the first space and left the other words in clear. The words
#: up to the first that looks like another pair (holds "=" or ends with ":") or holds a
#: quote or backslash, or up to the line's end: `password: a b; user=x` keeps ` user=x`.
#: One word alone is the keyword pattern's, as before (`password: x, user: bob`). After
#: "=" the value is still one word (`login with password=hunter2 failed`; logfmt and
#: shells quote a value with spaces, and so must a .env file here). A secret's name in a
#: script written with spaces (secret_names.SPACED_SECRET_NAME: English, `Passwort`,
#: `contraseña`, `пароль`; not `パスワード`, often followed by prose without spaces), not
#: after a command-line flag (`mysql --password : x db`: the words after it are
#: arguments). The trail is the space after the value or the line's end: a word is
#: never cut, but where the word after the last would look like another pair glued to
#: it by ";" or "," (full-width too: `password: a b;token: c d`), that separator ends
#: the value (the greedy words take `b;x` whole where no pair follows): the value was
#: then `a` alone, the keyword pattern's, and `b` was left in clear; the pair after it
#: is the second pass's (SECRET_TO_LINE_END_AFTER_ANOTHER). Only values holding an
#: assignment, then two words on its line, are looked at.
SECRET_TO_LINE_END: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?:^|[^\w-]){SPACED_SECRET_NAME}{COLON_SETTING}",
    rf"{_FIRST_LINE_WORD}(?:{_WORD_SPACE}{_LINE_WORD})+",
    rf"{LINE_END}|{LINE_SPACE}|{WORDS_JSON_STRING_END}|\\?\"$|[;,\uff1b\uff0c]",
    gate_pattern=r"[:=\uff1a]\s*[^\s\"'\[]\S*[^\S\r\n]+\S",
)
#: The same again, for the pair right after a passphrase (`password: a b token: c d`):
#: the first one's trail took the space before it, which this one's lead needs, so the
#: keyword pattern took its first word alone and left `d` in clear. With no look-ahead
#: a trail cannot leave the space; a second pass over what the first wrote finds the
#: pairs it skipped (every other one: the pairs after those have their space), so two
#: take every pair of a line. It reads no tag, mask or pseudonym the first wrote (a
#: value starts with none of "[", "*" or SUB). Beside the first, with its gate: one
#: search serves both.
SECRET_TO_LINE_END_AFTER_ANOTHER: Final = SECRET_TO_LINE_END
