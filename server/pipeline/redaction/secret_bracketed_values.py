"""Secrets in brackets or backticks after their names, for the keyword entity
SECRET_VALUE (secret_layouts.py): CJK corner brackets, square brackets right after "=",
backticks and double backticks.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_names import ASSIGNMENT, SECRET_NAME, SETTING
from sluice.server.pipeline.redaction.written_forms import WRITTEN

#: A secret in CJK corner brackets (`password=「correct horse」`, `『…』`), whole up to
#: the closing bracket on its line, as quoted_secret takes a quoted one: the keyword
#: pattern's value ended at the first space and left the words after it in clear. One
#: layout for both kinds (a value holds neither closing bracket). Only values holding
#: an opening bracket right after an assignment are looked at.
BRACKETED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{ASSIGNMENT}[「『][ \t\u3000]*",
    rf"[^\s」』\[\\][^」』\n]*|{WRITTEN}[^」』\n]*[^\s」』]",
    "[」』]",
    gate_pattern=r"[:=>\uff1a]\s*[「『]",
)


# Inside a secret's square brackets: no bracket or SUB but what an earlier rule wrote
# (a tag or seal, pseudonyms.py), no line break, and nothing code, a list or Markdown
# holds there (`[t.strip() for t in x]`, `[u8; 32]`, `[str]) -> None`, `[string,
# number]) {}`, `['a', 'b']`, `[1, 2]`, `[<hidden>]`).
_IN_BRACKETS = rf"(?:[^\[\]\n\x1a(){{}},;:'\"`<>]|{WRITTEN})"
# A word of letters, digits, "_" and the characters of placeholders ("*", ".", "/", "-");
# lower case and placeholder characters alone (`masked`, `n/a`, `***`) are a placeholder,
# upper case, digits and "_" alone a tag or an index (`REDACTED`, `0`).
_PLACEHOLDER_CHAR = r"[a-z*./-]"
_TAG_OR_INDEX_CHAR = r"[A-Z0-9_]"
_WORD_CHAR = r"[a-zA-Z0-9_*./-]"
# Anything else: a space (not first), a sign, a letter beyond ASCII or what an earlier
# rule wrote.
_VALUE_MARK = rf"(?:[^a-zA-Z0-9_*./\-\[\]\n\x1a(){{}},;:'\"`<>]|{WRITTEN})"
_VALUE_MARK_FIRST = rf"(?:[^\sa-zA-Z0-9_*./\-\[\]\x1a(){{}},;:'\"`<>]|{WRITTEN})"

#: A secret in square brackets right after "=" (`password=[x y]`, `secret=[Hunter2]`),
#: whole up to the closing bracket on its line, brackets and what an earlier rule wrote
#: inside them included: the keyword pattern's value ended at the first space and left
#: the words after it in clear. Only what is plainly a value: after "=" alone (after a
#: space or ":" it is code, YAML or Markdown: `token = [t for t in x]`, `let token:
#: [u8; 32]`, `- token: [x] done`), not a Markdown link (`token=[here](http://a.b)`,
#: `[link][1]`: the trail is no "(" or "["), and not a placeholder, tag or index alone
#: (`token=[masked]`, `secret=[none]`, `password=[***]`, `password=[SECRET_VALUE]`,
#: `token=[0]`): it holds a space or sign, or both kinds of word character
#: (`[hunter2]`). Only values holding "=[" are looked at.
SQUARE_BRACKETED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}=",
    rf"\[(?:(?:{_WORD_CHAR}+{_VALUE_MARK}|{_VALUE_MARK_FIRST}){_IN_BRACKETS}*"
    rf"|{_PLACEHOLDER_CHAR}+{_TAG_OR_INDEX_CHAR}{_WORD_CHAR}*"
    rf"|{_TAG_OR_INDEX_CHAR}+{_PLACEHOLDER_CHAR}{_WORD_CHAR}*)\]",
    r"$|[^(\[]",
    gate_pattern=r"=\[",
)
#: A secret in backticks after a setting (`password = \`x y\``, a template literal or
#: Markdown code), whole up to the closing backtick on its line. Not after a comparison:
#: a template literal compared with is code, and a comparison's value running on to the
#: next backtick (`token !== \`abc\`) { password = \`hunter2\``) took the code between
#: them for the value and left the next secret in clear. Not starting with a space or
#: punctuation: the backtick then closes Markdown code (`Run \`export API_TOKEN=\`, then
#: paste`), and the "value" is prose up to the next code span. Not over a line break: a
#: label's closing backtick (`log(\`token: \`, t);`) ran on to the next line's literal,
#: taking the name before it. A value holds no backtick, so each literal is one match.
#: Only values holding a backtick right after an assignment are looked at.
BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{SETTING}`",
    rf"[^\s`\[\\,;.:)!?][^`\n]*|{WRITTEN}[^`\n]*[^\s`\\]",
    "`",
    gate_pattern=r"[:=>\uff1a]\s*`",
)
#: The same in double backticks (`password = \`\`hunter2\`\``, a reStructuredText
#: inline literal): BACKTICK_SECRET's value may not start with a backtick, so it left
#: these in clear. Whole up to the two closing backticks on its line; a single backtick
#: inside is the value's (`\`\`abc\`def\`\``). Same gate as BACKTICK_SECRET, beside it:
#: one search serves both.
DOUBLE_BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{SETTING}``",
    rf"[^\s`\[\\,;.:)!?](?:[^`\n]|`[^`\n])*|{WRITTEN}(?:[^`\n]|`[^`\n])*[^\s`\\]",
    "``",
    gate_pattern=BACKTICK_SECRET.gate_pattern,
)
