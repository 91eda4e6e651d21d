"""How secrets are written beside their names, for the keyword entity SECRET_VALUE
(entities.py): the keyword pattern's own lead, value and gate after a name
(secret_names.py), and the layouts that pattern leaves or takes only in part (quoted, in
brackets, parentheses or backticks, an XML element's text, after a command-line flag),
each a pattern of its own run before it (Entity.layouts; those in an HTTP header are
secret_headers.py's, Python and JSON literals secret_literals.py's, shell arrays
secret_shell_values.py's, .NET config settings and curl's password
secret_config_values.py's). Also the AWS secret key after the CLI's flag, a layout of
AWS_SECRET_KEY.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.json_string_ends import (
    LINE_END,
    LINE_SPACE,
    TWICE_ESCAPED_QUOTE,
    WORDS_JSON_STRING_END,
)
from sluice.server.pipeline.redaction.secret_config_values import (
    CURL_QUOTED_USER_SECRET,
    CURL_USER_SECRET,
    config_setting_secret,
    config_setting_secret_reversed,
)
from sluice.server.pipeline.redaction.secret_elements import (
    ELEMENT_MORE_LINES,
    SECRET_ELEMENT_LAYOUTS,
)
from sluice.server.pipeline.redaction.secret_headers import (
    AUTHORIZATION_TOKEN_ALONE,
    COOKIE_HEADER_SECRETS,
    COOKIE_JSON_ARRAY,
    COOKIE_PAIR_GATE,
    COOKIE_PAIR_SECRETS,
    COOKIE_PYTHON_LIST,
    DIGEST_AUTH_SECRETS,
    HEADER_START,
    NAMELESS_COOKIE_SECRETS,
)
from sluice.server.pipeline.redaction.secret_literals import (
    ESCAPED_JSON_NOT_A_STRING,
    JSON_NOT_A_STRING,
    PYTHON_NOT_A_STRING,
    PYTHON_STRING_LIST,
)
from sluice.server.pipeline.redaction.secret_names import (
    ASSIGNMENT,
    ASSIGNMENT_OVER_LINES,
    COLON_SETTING,
    COMPARISON_OVER_LINES,
    CREDENTIAL_NAMES,
    HASHED_CREDENTIAL_NAMES,
    OTHER_LANGUAGE_PW,
    PLURAL_NAMES,
    PLURAL_SECRET_NAME,
    PW_SUFFIXED_NAME,
    SECRET_NAME,
    SETTING,
    SETTING_OVER_LINES,
    SPACED_SECRET_NAME,
    STRING_PREFIX,
)
from sluice.server.pipeline.redaction.secret_shell_values import (
    GLUED_AFTER_CLOSE,
    SHELL_ARRAY_ITEMS_BEFORE_MORE,
    SHELL_ARRAY_SECRET,
)
from sluice.server.pipeline.redaction.written_forms import WRITTEN

# ("main" in this module's comments: the keyword pattern as it was before the
# parenthesised layouts, which read a "(" after the assignment alone as the value.)
#
# The assignment and an opening quote or CJK corner bracket (`パスワード「x`), if any; a
# comparison only with one (a backslash only before a quote: the one before a JSON
# escape, `password: \u00e9x`, is the value's first character, and a lead that took it
# wrote `\[SECRET_VALUE]`, no JSON escape). After a setting a backtick too (`password =
# \`x\``): the value is what _BACKTICK_SECRET wrote, not the backtick and its tag. A
# comparison with a template literal is code, as one with a name is. After a setting
# also a "(" that a quote or spaces (a line break too) follow, with them (`password=("x"
# + salt)`, `password=( x )`): the value may no longer be the "(" alone
# (_ASSIGNED_START), which left the secret after it in clear anyway. A "(" before any
# other character is the value's (`password=(x)`), as before. Not bounded to one line:
# main read the "(" alone as the value, so under null it hid every row; a lead that
# stops at a line break matches nothing in `password=(\n\nx` and keeps it. Those spaces
# are read 64 at most: a match whose lead runs over 2000 no-break spaces cost ~8x main's
# CPU (the engine resolves the groups over the whole match, slowly); past 64 the value
# is the "(" with the spaces _ASSIGNED_START reads, as main's value was the "(".
#
# A Python string's prefix before the quote is the lead's (`password = r'x'`, `b"x"`,
# `rb'x'`, `u'x'`, `f'x'`): the value was the prefix alone, and the string after it
# was left in clear (STRING_PREFIX; the quoted layouts read it likewise).
_ASSIGNED_VALUE = (
    rf"(?:{SETTING}(?:\((?:\s{{1,64}}\\?[\"']?|\\?[\"'])|(?:{STRING_PREFIX}?\\?[\"'「『`])?)"
    rf"|{SETTING_OVER_LINES}{STRING_PREFIX}?\\?[\"'「『`]"
    rf"|{COMPARISON_OVER_LINES}{STRING_PREFIX}?\\?[\"'「『])"
)
# What the keyword gate looks for after a name: any assignment, a quote or not (one
# pattern for the entity and its layouts).
_ANY_ASSIGNED_VALUE = rf"(?:\\\\)?{ASSIGNMENT}\\?[\"'「『]?"
# Secrets after a fixed context that also holds a ':': `Authorization: Token …` (Django
# REST framework's scheme), Basic credentials too short for BEARER_TOKEN to tell from
# prose without the header (`Authorization: Basic YTpi`), and the secret ending a Slack
# webhook URL. Folded into the
# keyword entity's lead and gate, whose scan only rows holding ':' or '=' pay for: a gate
# of their own would be one more scan of every leaf where any keyword is found. A Bearer
# token only on the header's line (`Bearer` ending a line is no token's lead).
_AUTH_SCHEME_HEADER = (
    rf"{HEADER_START}(?i:authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
    r"(?:(?:token|basic)\s+|bearer[^\S\r\n]+))"
)
_SLACK_WEBHOOK = r"://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/"
#: The credentials after an Authorization header's scheme in a JSON string, up to an
#: escaped line break or tab after them (`"GET /\nAuthorization: Bearer tok\nHost:
#: x"`): the keyword pattern's value reads an escape as the value's, and took `\nHost:`
#: with the token. Credentials are token68 (RFC 7235: letters, digits, `-._~+/` and
#: `=`), which hold no backslash, so the break is no part of them; elsewhere the keyword
#: pattern reads them as before. Before it, which then leaves the tag
#: (_WRITTEN_THEN_MORE). Only values holding "authorization" (among those its gate picked).
_AUTH_CREDENTIALS_TO_ESCAPED_BREAK: Final = Entity(
    "SECRET_VALUE",
    "basic",
    _AUTH_SCHEME_HEADER,
    r"[^\s\"',;&\\\[」』][^\s\"',;&\\」』]*",
    r"\\[nrt]",
    gate_pattern=r"(?i:authorization)",
)
#: The credentials' words past an escaped line break or tab (`"Authorization: Bearer
#: abc\nxyz"`, credentials folded or cut by whatever logged them): a bare word of
#: token68's own alphabet (letters, digits, `-._~+/`, then `=` padding) after one break
#: (`\r\n` is one) is more of them, and was left in clear once the break ended them.
#: The words run on until a break that no such word follows, where what follows the
#: break is kept: a header's name and ":" (`\nHost: h`, `\nX-Sid: v`, read by their
#: own layouts), a blank line (`\n\n`, a body), an indent, a quote, a bracket or the
#: text's end; or until a word ends at a character no word holds but ":" (a space, a
#: quote, a backslash's escape other than a break): a word before ":" is a header's
#: name, and the credentials end at the break before it. Also after what an earlier rule
#: wrote there (`Bearer [JWT]\nxyz`). Before _AUTH_CREDENTIALS_TO_ESCAPED_BREAK, which
#: takes the credentials where no word follows the break.
#: A trade-off, kept on purpose: a word after the break that the next line starts
#: (`Bearer abc\nGET /x HTTP/1.1`, a request line) is taken with the credentials and
#: written over (`Bearer [SECRET_VALUE] /x HTTP/1.1`; main kept `\nGET`). No pattern
#: without look-ahead tells that word from a piece of the credentials followed by a
#: space (`Bearer abc\nxyz more`, where ` more` is kept): ending at a word before a
#: space would leave such pieces in clear. Over-redaction is the safe failure
#: (test_redaction_secret_ends_run_on pins it).
_TOKEN68_CHARACTER = r"[A-Za-z0-9._~+/-]"
_CREDENTIALS_BREAK = r"(?:(?:\\r)?\\n|\\[rt])"
_AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS: Final = Entity(
    "SECRET_VALUE",
    "basic",
    _AUTH_SCHEME_HEADER,
    rf"(?:[^\s\"',;&\\\[」』][^\s\"',;&\\」』]*|{WRITTEN})"
    rf"(?:{_CREDENTIALS_BREAK}{_TOKEN68_CHARACTER}+=*)+",
    r"(?:\\[nrt])+(?:[A-Za-z0-9][A-Za-z0-9_-]*[ \t]*:|[^A-Za-z0-9._~+/\\-]|\\[^nrt]|$)"
    r"|[^A-Za-z0-9._~+/=\\:-]|\\[^nrt]|$",
    gate_pattern=r"(?i:authorization)",
)
# What may follow the closing parenthesis of a parenthesised value that
# _parenthesised_quoted takes: nothing, a space, a separator or a quote, or the code's
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

# A secret's value: it may not start with an earlier rule's tag alone (left as it is),
# "[" (a tag's or a list's; _SQUARE_BRACKETED_SECRET takes the few bracketed values),
# an opening corner bracket or a backtick (the lead takes one; _BRACKETED_SECRET or
# _BACKTICK_SECRET wrote its value), and ends at a space, a quote, a list separator or
# an escaped quote. An "=" or ">" starts one only before another character of it, not
# all "=": after a quoted secret's layout wrote its value (`password :=
# "[SECRET_VALUE]"`, `password === "[SECRET_VALUE]"`), the pattern would otherwise read
# the ":=" as ":" and a value "=" (the "===" as "=" and a value "==").
# A "(" likewise, so it is no value before a quote or space: after _parenthesised_quoted
# wrote its value (`password=("[SECRET_VALUE]")`) the "(" alone was read as one, and
# written over with the tag (`password=[SECRET_VALUE]"[SECRET_VALUE]")`).
# But the "(" with an empty first item or a nested "(" is (`password=("" + pw)`,
# `password=( ("pw") )`): no layout takes those, and main's "(" alone hid them (the
# whole row under null). So is a "(" at a line's end, alone (`password=(\n\n"" + pw`),
# as main read it: the empty item or nested "(" is looked for on its line only, so the
# value does not take the line breaks before it, after any other space (a carriage
# return, a no-break space, U+2028: `password=(\r\n"" + pw)` was nulled on main). So is
# a first quoted item _parenthesised_quoted does not take: of spaces alone (`password =
# (" ")`), or, with code glued to its ")" (GLUED_AFTER_CLOSE), led by a space or an
# escaped quote (`(" pw")pw`, `("\"pw")x`; its value cannot start at either) - taken
# with that item and ")" whole, as the layout takes the item where nothing is glued.
# So is such a led item holding a "(", a ")" or a line break before its closing quote
# (`(" pw(x)")`, `("\ta(pw)")`, `(" pw` then a line break), which no layout takes: the
# value runs from the "(" to that parenthesis or the line's end (no lookaround here).
# Runs of spaces after "(" and the quote are read 64 at most (a longer run was CPU bound:
# 2000 no-break spaces); past 64 the "(", the quote and 64 spaces are the value, so null
# still drops the row as main did.
# Last, where no layout took what follows the "(": a quote (escaped too, after spaces on
# its line) that a line break or a first character other than "[" or "*" (what a layout
# wrote) follows, after spaces (`password=("\nx")`, `(\" x\")`, `(" x"` unclosed,
# `(\xa0" x")`), or one of those two with no parenthesis after it on its line, up to the
# line's end (`(" *x"`: a layout writes only before a ")"): as main read the "(" alone,
# so such a row is hidden (null drops it) at least as main hid it.
# What an earlier rule wrote starts one when more of the value follows it
# (`password=ghp_…:hunter2`, once GITHUB_TOKEN wrote its tag, left `:hunter2` in clear).
#: What an earlier rule wrote (WRITTEN, written_forms.py) and the first character of the
#: value's rest after it. A closing bracket only
#: where a character that goes on with a secret follows it (`[AWS_ACCESS_KEY])tail9`,
#: `[TAG]}abc`): after a value in square brackets (_SQUARE_BRACKETED_SECRET) it is the
#: code's when a dot, another bracket, a separator or a space follows, or nothing
#: (`login(password=[x y]).then(ok)` lost `).then(ok)` to the value).
#: An escaped backslash after it only before more of the value (`\\\\x`), not before an
#: escaped quote: `[SECRET_VALUE]\\\"` is a tag written in a JSON string escaped twice,
#: and the backslashes taken with it broke that JSON.
_ESCAPE_THEN_MORE = r"\\[^\s\"'\\]|(?:\\\\)+[^\s\"'\\]"
#: After an Authorization header's scheme only (_AUTH_SCHEME_CREDENTIALS), not an
#: escaped line break or tab either (`[SECRET_VALUE]\nHost: x`, once
#: _AUTH_CREDENTIALS_TO_ESCAPED_BREAK wrote the credentials of a header in a JSON
#: string): the next line is no more of the credentials, and it was taken. After any
#: other lead it is more of the value (`password=[GITHUB_TOKEN]\nSECRET` left `\nSECRET`
#: in clear when every lead read it so).
_AUTH_ESCAPE_THEN_MORE = r"\\[^\s\"'\\nrt]|(?:\\\\)+[^\s\"'\\]"


def _written_then_more(escape_then_more: str) -> str:
    return (
        rf"{WRITTEN}(?:[^\s\"',;&\[\]\\」』`)}}]|{escape_then_more}"
        rf"|[)\]}}]+(?:[^\s\"',;&\[\]\\」』`.(){{}}]|{escape_then_more}))"
    )


_WRITTEN_THEN_MORE = _written_then_more(_ESCAPE_THEN_MORE)


def _led_item_to_parenthesis(quote: str) -> str:
    """A first item led by spaces (64 at most, the next character no space) or an
    escaped quote, up to a parenthesis or its line's end (_ASSIGNED_START)."""
    rest = rf"(?:[^{quote}\\()\n]|\\.)*"
    return (
        rf"{quote}(?:[^\S\n]{{1,64}}(?:(?:[^\s{quote}\\()]|\\.){rest})?|\\{quote}{rest})"
        r"\\?(?:[()]|(?m:$))"
    )


_QUOTE, _APOSTROPHE = '"', "'"
#: A first item led by "[" or "*" that no layout wrote: a layout writes its tag, seal or
#: mask only as the whole item, then the quote and `[ \t]*,?[ \t]*\)` (_parenthesised_quoted's
#: trail), so one that a "(" or its line's end, or a ")" without that trail, ends first
#: is none (`(" *pw" + f(x)`, `(" [x] pw" + y)`).
_NOT_WRITTEN_ITEM = r"[\[*][^()\n]*(?:\(|(?m:$)|[^ \t,\"'()\n][ \t]*,?[ \t]*\)|,[ \t]*,[ \t]*\))"


#: A value led by a letter that may be a Python string's prefix (STRING_PREFIX: `r`,
#: `u`, `b`, `f`, `rb`, `br`, `fr`, `rf`, any case): only where a character of the value
#: other than a quote follows the prefix. Once a quoted layout wrote `password =
#: r'[SECRET_VALUE]'`, the prefix alone was read as a value (`[SECRET_VALUE]'[SECRET_VALUE]'`);
#: as with `n` (_not_null_value), a value of those one or two letters alone is left (too
#: short to be a secret).
_VALUE_CHARACTER = r"(?:[^\s\"',;&\\」』]|\\[^\s\"'])"
_PREFIX_LED_START = (
    rf"[uU]{_VALUE_CHARACTER}"
    rf"|[rR](?:[bBfF]{_VALUE_CHARACTER}|[^\s\"',;&\\」』bBfF]|\\[^\s\"'])"
    rf"|[bBfF](?:[rR]{_VALUE_CHARACTER}|[^\s\"',;&\\」』rR]|\\[^\s\"'])"
)


def _assigned_start(written_then_more: str) -> str:
    """A value's first character(s) (_ASSIGNED_START), with what an earlier rule wrote
    read by `written_then_more`."""
    return (
        rf"(?:[^\s\"',;&\[\\=>「『」』`(nrRuUfFbB]|{_PREFIX_LED_START}|[=>]=*(?:[^\s\"',;&\[\\=]|\\[^\s\"'])|\\[^\s\"']"
        r"|\((?:[^\s\"',;&\\」』]|\\[^\s\"'])"
        r"|\([^\S\n]{0,64}(?:\(|[\"'][^\S\n]{0,64}[\"')]|(?m:$)"
        r"|[\"'](?:[^\S\n]{1,64}[^\s()]|\\[\"'])(?:[^()\n]*[\"'])?[ \t]*,?[ \t]*\)"
        rf"{GLUED_AFTER_CLOSE}"
        rf"|{_led_item_to_parenthesis(_QUOTE)}|{_led_item_to_parenthesis(_APOSTROPHE)}"
        r"|[\"']?[^\S\n]{64})"
        r"|\([^\S\n]{0,64}\\?[\"'](?:[^\S\n]{0,64}[^\s\[*]?(?m:$)|[^\S\n]{0,64}[^\s\[*]"
        rf"|[^\S\n]{{0,64}}{_NOT_WRITTEN_ITEM}|[^\S\n]{{64}})"
        rf"|{written_then_more})"
    )


_ASSIGNED_START = _assigned_start(_WRITTEN_THEN_MORE)
# The rest of a value: an escaped backslash (`\\`) only before more of it or at its
# line's end, not before an escaped quote: in JSON escaped twice `\\\"` (three
# backslashes) is the string's closing quote (`\\\"password: x\\\"`), and a value that
# took two of them wrote `[SECRET_VALUE]\"`, the JSON broken. A value's last backslash
# before a space, a separator or a quote (`password=a\\ b` in a JSON string) is left.
_ESCAPED_BACKSLASHES = r"(?:\\\\)+(?:[^\s\"',;&\\」』]|\\[^\s\"'\\]|(?m:$))"
_ASSIGNED_REST = rf"(?:[^\s\"',;&\\」』]|\\[^\s\"'\\]|{_ESCAPED_BACKSLASHES})*"
# The same for a value no quote holds (the keyword pattern's own): an escaped line
# break or tab ends it as a real one does (`{"m": "password=hunter2\nnext line"}` took
# `\nnext` with the value, over-redaction), also after escaped backslashes
# (`hunter2\\\n`). What an earlier rule wrote is still read on over one
# (_WRITTEN_THEN_MORE: `password=[GITHUB_TOKEN]\nSECRET`, where the break was more of
# a value that rule cut). In plain text a backslash and "n", "r" or "t" (`C:\new`) ends
# it too: a value no quote holds ends at the first character no secret of its kind is
# read to hold, and a path's rest is left, as a real line break's is.
_UNQUOTED_ESCAPE = r"\\[^\s\"'\\nrt]"
_UNQUOTED_REST = (
    rf"(?:[^\s\"',;&\\」』]|{_UNQUOTED_ESCAPE}"
    rf"|(?:\\\\)+(?:[^\s\"',;&\\」』]|{_UNQUOTED_ESCAPE}|(?m:$)))*"
)
# A quoted secret's value starts at any character but a space, its own quote, a backslash
# or "[" (a tag): the quotes, not the characters, say where it is (`password="= a b"`,
# `api_key=',x'`); `=`, `>` and list separators start one here.


def _quoted_start(quote: str) -> str:
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
        rf"{_quoted_start(quote)}{_ASSIGNED_REST}[^{quote}\n\\]*"
        rf"|{WRITTEN}[^{quote}\n\\]*[^\s{quote}\\]"
    )


def _escape_aware_text(quote: str) -> str:
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
    """_escape_aware_text, or one starting with what an earlier rule wrote (as
    _quoted_value reads one)."""
    return (
        rf"{_escape_aware_text(quote)}"
        rf"|{WRITTEN}(?:[^{quote}\n\\]|\\[^\n])*(?:[^\s{quote}\\]|\\[^\s])"
    )


def _escaped_quote_text(quote: str) -> str:
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
    """_escaped_quote_text, or one starting with what an earlier rule wrote."""
    return rf"{_escaped_quote_text(quote)}|{WRITTEN}[^{quote}\n\\]*[^\s{quote}\\]"


def _quoted_gate(quote: str) -> str:
    """The quoted layouts' gate: an assignment, then the quote (a string's prefix
    before it, STRING_PREFIX, or a backslash)."""
    return rf"[:=>\uff1a]\s*{STRING_PREFIX}?\\?{quote}"


def _quoted_secret(quote: str) -> Entity:
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
    _escaped_quoted_secret's. Only values holding a quote right after an assignment are
    looked at (a scan of the rows the keyword gate picked)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?{quote}[ \t]*",
        _escape_aware_value(quote),
        quote,
        gate_pattern=_quoted_gate(quote),
    )


def _escaped_quoted_secret(quote: str) -> Entity:
    """The same after an escaped opening quote (`{\\"password\\": \\"x\\"}`, JSON
    escaped in a string), up to the escaped quote closing it (_escaped_quote_value):
    an escape of the value's own quote ends it there, and so does a plain quote
    (`password=\\"correct horse battery"`: closed by no escaped quote, the value fell
    through to the keyword pattern and left `horse battery` in clear). Beside
    _quoted_secret, with its gate (one search serves both)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{SECRET_NAME}{ASSIGNMENT_OVER_LINES}{STRING_PREFIX}?\\{quote}[ \t]*",
        _escaped_quote_value(quote),
        rf"\\{quote}|{quote}",
        gate_pattern=_quoted_gate(quote),
    )


def _quoted_secret_either_quote(quote: str) -> Entity:
    """The last of the quoted layouts after an assignment: a value between quotes either
    escaped or not, up to the first (`password="correct horse\\" user=bob`, a plain
    opening quote closed by an escaped one, no layout before it reads): the value fell
    through to the keyword pattern and left the words after the first in clear. The
    value reads no escape (_quoted_value). Beside _quoted_secret, with its gate."""
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
_TWICE_ESCAPED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{TWICE_ESCAPED_QUOTE}\s*:\s*{TWICE_ESCAPED_QUOTE}[ \t]*",
    _TWICE_ESCAPED_VALUE,
    TWICE_ESCAPED_QUOTE,
    gate_pattern=rf"{TWICE_ESCAPED_QUOTE}\s*:\s*{TWICE_ESCAPED_QUOTE}",
)


def _multiline_quoted_secret(quote: str) -> Entity:
    """A quoted secret whose value runs on over lines (`password = "abc` and `def"` on
    the next line, as YAML folds a quoted scalar): _quoted_secret's value ends at its
    line, so the lines after the first were left in clear. Only a quote no character of
    its first line closes; a value starting with neither a space nor punctuation, whose
    further lines are one word each (a base64 key's, a folded value's; `x = 1` is code
    after a quote no line closed); and a closing quote that ends a line, a word or an
    item: a prompt's closing quote (`input('Password: ')`) is followed by ")", and the
    next line's quote by a value, which took the code between them for a secret. At
    most as many lines as an XML element's value. Before _quoted_secret, with its gate
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


def _quoted_list(quote: str) -> Entity:
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


#: The items _parenthesised_quoted takes: any but a hash rule's pseudonym alone, once
#: unsealed (`[SECRET_VALUE:` 16 hex digits `]`), which it would hash again when the
#: output is redacted again; a tag or mask written again is the same text.
_NOT_A_PSEUDONYM = (
    r"[^\s()\[][^()\n]*|\[(?:[^A-Z()\n][^()\n]*)?|\[[A-Z][A-Z0-9_]*(?:[^A-Z0-9_:()\n][^()\n]*"
    r"|:[0-9a-f]{0,15}(?:[^0-9a-f()\n][^()\n]*)?|:[0-9a-f]{16}(?:[^\]()\n][^()\n]*)?"
    r"|:[0-9a-f]{16}\][^()\n]+)?"
)


def _parenthesised_quoted(quote: str) -> Entity:
    """A quoted secret in parentheses, or several parted by commas (a tuple), after a
    secret's name or its plural and an assignment (`connect(host, password=("hunter2"))`,
    `api_keys = ("a", "b",)`), whole from the first quote to the last before the closing
    parenthesis on its line, written as one quoted value (`("[SECRET_VALUE]")`), as
    _quoted_list writes a list: the keyword pattern's value took the "(" alone and left
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


#: A secret in CJK corner brackets (`password=「correct horse」`, `『…』`), whole up to
#: the closing bracket on its line, as _quoted_secret takes a quoted one: the keyword
#: pattern's value ended at the first space and left the words after it in clear. One
#: layout for both kinds (a value holds neither closing bracket). Only values holding
#: an opening bracket right after an assignment are looked at.
_BRACKETED_SECRET: Final = Entity(
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
_SQUARE_BRACKETED_SECRET: Final = Entity(
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
_BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{SETTING}`",
    rf"[^\s`\[\\,;.:)!?][^`\n]*|{WRITTEN}[^`\n]*[^\s`\\]",
    "`",
    gate_pattern=r"[:=>\uff1a]\s*`",
)
#: The same in double backticks (`password = \`\`hunter2\`\``, a reStructuredText
#: inline literal): _BACKTICK_SECRET's value may not start with a backtick, so it left
#: these in clear. Whole up to the two closing backticks on its line; a single backtick
#: inside is the value's (`\`\`abc\`def\`\``). Same gate as _BACKTICK_SECRET, beside it:
#: one search serves both.
_DOUBLE_BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{SETTING}``",
    rf"[^\s`\[\\,;.:)!?](?:[^`\n]|`[^`\n])*|{WRITTEN}(?:[^`\n]|`[^`\n])*[^\s`\\]",
    "``",
    gate_pattern=_BACKTICK_SECRET.gate_pattern,
)
# A command-line flag naming a secret, and the space before its value (`--password `,
# `--db-pass `, `--api-key `): a keyword and a space are prose too, so only after "--".
_FLAG_NAME = rf"--(?i:[a-z0-9_-]*?{CREDENTIAL_NAMES}|{PW_SUFFIXED_NAME})\s+"


def _quoted_flag(quote: str, *, escaped: bool) -> Entity:
    """A quoted secret after a command-line flag (`--password "correct horse"`), whole up
    to the closing quote of the same kind on its line, as _quoted_secret takes one after
    an assignment: _SECRET_FLAG's value ends at a space and left the words after the
    first in clear. Inside quotes a value may start with "-" (`"-x y"`) or after
    spaces (`" a b"`): the quote, not the next flag, says where it starts. After a
    plain quote an escaped one is the value's (_escape_aware_text: `--password "it\\"s
    x"` kept `s x`); after an escaped quote (`escaped`), the escaped quote closes it
    (_escaped_quote_text). Not a value starting with what an earlier rule wrote (a tag
    and words after it read as a tag written in place of a quoted value). Before
    _SECRET_FLAG, which then finds the value written in its place. Only values holding
    "--"."""
    opening = rf"\\{quote}" if escaped else quote
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_FLAG_NAME}{opening}[ \t]*",
        _escaped_quote_text(quote) if escaped else _escape_aware_text(quote),
        rf"\\{quote}|{quote}" if escaped else quote,
        gate_pattern="--",
    )


def _quoted_flag_either_quote(quote: str) -> Entity:
    """The last quoted layout after a flag, as _quoted_secret_either_quote after an
    assignment: between quotes either escaped or not, up to the first
    (`--password "a b\\" c` left `b\\" c` in clear); the value reads no escape."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_FLAG_NAME}\\?{quote}[ \t]*",
        rf"{_quoted_start(quote)}{_ASSIGNED_REST}[^{quote}\n\\]*",
        rf"\\?{quote}",
        gate_pattern="--",
    )


#: A secret after a command-line flag and a space (`--password hunter2`, `--db-pass x`,
#: `--api-key x`). Not a value led by "-" (the next flag), nor by an assignment
#: (`--password = x`, `--token => x`, `--db-password : x`: the keyword pattern takes the
#: value after it, as it did before this layout). A value may start with an escape
#: (`\u00e9` in a JSON string): the lead took its backslash, and wrote
#: `\[SECRET_VALUE]`, no JSON escape. Only values holding "--".
_SECRET_FLAG: Final = Entity(
    "SECRET_VALUE",
    "basic",
    _FLAG_NAME,
    rf"(?:[^\s\"',;&\[\\=:\uff1a-]|\\[^\s\"']|{_WRITTEN_THEN_MORE}){_ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The same after a quote no closing one follows (`--password "x`, a line cut short):
#: after a quote, "=" or ":" is the value's own (`--password "=x`).
_SECRET_FLAG_OPEN_QUOTE: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_FLAG_NAME}\\?[\"']",
    rf"(?:[^\s\"',;&\[\\-]|\\[^\s\"']|{_WRITTEN_THEN_MORE}){_ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The AWS secret key after the CLI's flag and a space (`--aws-secret-access-key …`).
AWS_SECRET_FLAG: Final = Entity(
    "AWS_SECRET_KEY",
    "basic",
    r"--(?i:aws-secret-(?:access-)?key)\s+",
    r"[A-Za-z0-9/+=]{40}",
    "",
    gate_pattern="--",
)


#: A YAML block scalar under a secret's name (`password: >-` or `|`, then the value on
#: the indented lines after it), whole with its indicator: the keyword pattern took the
#: indicator alone for the value and left the lines in clear. The block runs over the
#: indented lines that follow (blank lines between them too) up to a line that is not
#: indented; under a key that is itself indented, the siblings after it are taken with
#: it (the engine cannot compare indents: over-redaction, the safe failure). A comment
#: after the indicator and blank lines before the first indented line are the block's.
#: Only values holding ":" then "|" or ">" are looked at.
_YAML_BLOCK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?m:^)[ \t]*(?:-[ \t]+)?{SECRET_NAME}[\"']?[ \t]*:[ \t]*",
    r"[|>][0-9+-]{0,2}[ \t]*(?:#[^\r\n]*)?(?:\r?\n[ \t]*)*\r?\n[ \t]+[^\s][^\r\n]*"
    r"(?:\r?\n(?:[ \t]*\r?\n)*[ \t]+[^\s][^\r\n]*)*",
    "",
    gate_pattern=r":[ \t]*[|>]",
)


# A word of a secret's value that runs on over its line (_SECRET_TO_LINE_END): no quote,
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
#: is the second pass's (_SECRET_TO_LINE_END_AFTER_ANOTHER). Only values holding an
#: assignment, then two words on its line, are looked at.
_SECRET_TO_LINE_END: Final = Entity(
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
_SECRET_TO_LINE_END_AFTER_ANOTHER: Final = _SECRET_TO_LINE_END


#: A password hash under a name saying so (`password_hash: $2b$12$…`, `"passwordDigest":
#: "pbkdf2_sha256$…"`, `token_hash=<64 hex>`): a crypt string (`$2b$`, `$argon2id$`,
#: `$6$`; its Argon2/scrypt parameters hold "," and "=": `$argon2id$v=19$m=65536,t=3,p=4$…`,
#: all taken, a "," at its end not), Django's `algorithm$…`, 32 hex digits or more (also
#: after a scheme: `sha256:<hex>`), or LDAP's `{SSHA}<base64>`; any other value stays
#: (`password_hash=abc`, `password_hash == x`: a flag, a placeholder or code). Only
#: values holding "$", 32 hex digits or a `{SCHEME}` are looked at, among those the name picked
#: (KEYWORD_SECRET_GATE).
_HASHED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?i:\b[a-z0-9_-]*?{HASHED_CREDENTIAL_NAMES})\\?[\"']?\s*(?:[:=\uff1a]|=>)\s*\\?[\"']?",
    r"(?:\$[0-9a-z-]{1,16}|[a-z0-9_-]{2,32})\$[^\s\"';\\]*[^\s\"';\\,]"
    r"|(?i:[a-z][a-z0-9-]{1,15}:)?[0-9a-fA-F]{32,}|\{[A-Za-z0-9.-]{2,16}\}[A-Za-z0-9+/]{8,}=*",
    "",
    gate_pattern=r"\$|[0-9a-fA-F]{32}|\{[A-Za-z0-9.-]{2,16}\}",
)


#: What leads a secret the keyword entity (SECRET_VALUE) finds: the secret's name and its
#: assignment, or a Slack webhook's path (an Authorization header's scheme leads
#: _AUTH_SCHEME_CREDENTIALS, a layout of the same value).
KEYWORD_SECRET_LEAD: Final = rf"{SECRET_NAME}{_ASSIGNED_VALUE}|{_SLACK_WEBHOOK}"


#: A value starting with "n" (_ASSIGNED_START takes none): any but `null` alone, or with
#: only the closing brackets of JSON after it (`{"password":null}`): a null holds no
#: secret, and writing a tag there broke the JSON (`{"password":[SECRET_VALUE]`, brace
#: and all). With no look-ahead, "not null" is spelt letter by letter, so values of "n",
#: "nu" or "nul" alone are left too (too short to be a secret).
#: The rest is the caller's: a keyword's value ends at an escaped break
#: (_UNQUOTED_REST), an Authorization header's credentials run on over one after
#: escaped backslashes as their other values do (_ASSIGNED_REST: `Bearer nabc\\\nxyz`
#: left `\\\nxyz` in clear when they shared the keyword's).
def _not_null_value(rest: str) -> str:
    return (
        r"n(?:(?:[^u\s\"',;&\\」』]|\\[^\s\"'])"
        r"|u(?:(?:[^l\s\"',;&\\」』]|\\[^\s\"'])"
        r"|l(?:(?:[^l\s\"',;&\\」』]|\\[^\s\"'])"
        r"|l[}\]]*(?:[^}\]\s\"',;&\\」』]|\\[^\s\"']))))"
        rf"{rest}"
    )


_NOT_NULL_VALUE = _not_null_value(_UNQUOTED_REST)
KEYWORD_SECRET_VALUE: Final = rf"{_ASSIGNED_START}{_UNQUOTED_REST}|{_NOT_NULL_VALUE}"
#: A value ending in escaped backslashes (`{"m": "password=hunter2\\\\"}`, `C:\\\\temp\\\\`,
#: plain `password=abc\\\\ next`): the keyword pattern's value takes them only before
#: more of it (_ESCAPED_BACKSLASHES; no look-ahead tells it what follows), and the last
#: ones, or the whole value when it was only backslashes, were left in clear. Here they
#: are the value's where the trail (written back) is what ends a value (a space, quote,
#: separator or the line's end; not a character of the value, or a value's first
#: backslashes alone took that: `password=\\\\abc` under mask:4 showed `abc`), so not
#: before `\\"`,
#: the closing quote of a string escaped twice (`\\\\\\"`, three backslashes), whose
#: first two would have been taken and the JSON broken. Run before the keyword pattern,
#: which leaves the tag it writes. Only values holding an escaped backslash.
_VALUE_TO_ESCAPED_BACKSLASHES: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{_ASSIGNED_VALUE}",
    rf"(?:{_ASSIGNED_START}{_UNQUOTED_REST})?(?:\\\\)+",
    r"[\s\"',;&」』]|(?m:$)",
    gate_pattern=r"\\\\",
)
#: The credentials after an Authorization header's scheme (`Authorization: Bearer …`,
#: `Token …`, `Basic …`): the keyword pattern's value, but what an earlier rule wrote
#: there is not read on over an escaped line break or tab (_AUTH_ESCAPE_THEN_MORE:
#: `Bearer [SECRET_VALUE]\nHost: x` took `\nHost:` once
#: _AUTH_CREDENTIALS_TO_ESCAPED_BREAK wrote the credentials). A layout of its own, run
#: after that one and before the keyword pattern, whose lead held this one's (a value
#: cannot tell which lead it follows): every other lead reads the break as more of the
#: value, as before. Only values holding "authorization".
_AUTH_SCHEME_CREDENTIALS: Final = Entity(
    "SECRET_VALUE",
    "basic",
    _AUTH_SCHEME_HEADER,
    rf"{_assigned_start(_written_then_more(_AUTH_ESCAPE_THEN_MORE))}{_ASSIGNED_REST}"
    rf"|{_not_null_value(_ASSIGNED_REST)}",
    "",
    gate_pattern=r"(?i:authorization)",
)
#: A secret's name, its assignment and a "(": main's keyword pattern read the "(" alone
#: as the value, so under null it dropped every such row. The layouts above and the
#: value's "(" forms (_ASSIGNED_VALUE, _ASSIGNED_START) find the secret in most, but
#: not all (`password=(\xa0"[x] pw")`, `password=( [pw`): under null a row is dropped
#: where this matches too (Entity.null_also), so null hides at least what main hid; what
#: the other actions write is still only what those find. Its lead is main's, as it was.
KEYWORD_BEFORE_PARENTHESIS: Final = (
    rf"(?:{SECRET_NAME}(?:{SETTING_OVER_LINES}\\?[\"'「『`]?|{COMPARISON_OVER_LINES}\\?[\"'「『])"
    rf"|{_AUTH_SCHEME_HEADER}|{_SLACK_WEBHOOK})\("
)
#: The keyword and what follows it: every match holds it, and a gate starting with a
#: literal keeps its prefilter (a name's first words are not one). No literal search for
#: its names in front of it: on text-heavy at moderate the gate adds nothing to the joined
#: scans it is in (the other gates there already make the engine read every byte), and a
#: case-insensitive `contains_any` of its names costs what the gate does alone (0.016
#: against 0.018 CPU s per 1M rows on the messages holding a separator; 0.024 for both
#: on `request.referrer`): benchmarks.keyword_gate_costs.
KEYWORD_SECRET_GATE: Final = (
    rf"(?:(?i:{CREDENTIAL_NAMES}|{HASHED_CREDENTIAL_NAMES}|{PLURAL_NAMES}|pass\b)|{OTHER_LANGUAGE_PW})"
    # An element's attribute too (`<password type="x">`).
    rf"(?:{_ANY_ASSIGNED_VALUE}|>|\s+[A-Za-z_:][A-Za-z0-9_:.-]*\s*=|\\?[\"']\s+(?i:value)\s*=|\\?[\"']\s*/?>)"
    rf"|--(?i:[a-z0-9_-]*?(?:{CREDENTIAL_NAMES}|pass\b))\s"
    # An Authorization header's scheme, or a credential's word alone after it
    # (secret_headers.AUTHORIZATION_TOKEN_ALONE: 12 characters or more).
    r"|(?i:authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
    r"(?:(?:token|basic|bearer|digest)\s|[a-z0-9._~+/-]{12}))"
    # A Cookie, Set-Cookie or Cookie2 header (COOKIE_HEADER_SECRETS), or one written as
    # a (name, value) pair (COOKIE_PAIR_SECRETS).
    r"|(?i:cookie)2?\\?[\"']?[ \t]*:"
    rf"|{COOKIE_PAIR_GATE}"
    r"|://hooks\.slack\.com/services/"
    # curl's user and password (secret_config_values.CURL_USER_SECRET).
    r"|(?:-u[\s=]?|--user[\s=])\\?[\"']?[^\s:\"'\\]+:"
    # A shell array named by a plural no other name covers (SHELL_ARRAY_SECRET).
    r"|(?i:tokens|secrets)\+?=\("
)
#: The keyword entity's layouts, in the order they run, all before its own pattern: the
#: order matters where two could match the same text (each layout says which goes first).
SECRET_VALUE_LAYOUTS: Final = (
    JSON_NOT_A_STRING,
    ESCAPED_JSON_NOT_A_STRING,
    PYTHON_NOT_A_STRING,
    PYTHON_STRING_LIST,
    _YAML_BLOCK_SECRET,
    _quoted_list('"'),
    _quoted_list("'"),
    _multiline_quoted_secret('"'),
    _quoted_secret('"'),
    _escaped_quoted_secret('"'),
    _quoted_secret_either_quote('"'),
    _TWICE_ESCAPED_SECRET,
    _multiline_quoted_secret("'"),
    _quoted_secret("'"),
    _escaped_quoted_secret("'"),
    _quoted_secret_either_quote("'"),
    _BRACKETED_SECRET,
    _SQUARE_BRACKETED_SECRET,
    SHELL_ARRAY_SECRET,
    SHELL_ARRAY_ITEMS_BEFORE_MORE,
    _parenthesised_quoted('"'),
    _parenthesised_quoted("'"),
    _DOUBLE_BACKTICK_SECRET,
    _BACKTICK_SECRET,
    config_setting_secret('"'),
    config_setting_secret("'"),
    config_setting_secret_reversed('"'),
    config_setting_secret_reversed("'"),
    CURL_QUOTED_USER_SECRET,
    CURL_USER_SECRET,
    *SECRET_ELEMENT_LAYOUTS,
    _quoted_flag('"', escaped=False),
    _quoted_flag('"', escaped=True),
    _quoted_flag_either_quote('"'),
    _quoted_flag("'", escaped=False),
    _quoted_flag("'", escaped=True),
    _quoted_flag_either_quote("'"),
    _SECRET_FLAG_OPEN_QUOTE,
    _SECRET_FLAG,
    _SECRET_TO_LINE_END,
    _SECRET_TO_LINE_END_AFTER_ANOTHER,
    *COOKIE_HEADER_SECRETS,
    COOKIE_JSON_ARRAY,
    COOKIE_PYTHON_LIST,
    *NAMELESS_COOKIE_SECRETS,
    *COOKIE_PAIR_SECRETS,
    *DIGEST_AUTH_SECRETS,
    AUTHORIZATION_TOKEN_ALONE,
    _AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS,
    _AUTH_CREDENTIALS_TO_ESCAPED_BREAK,
    _HASHED_SECRET,
    _VALUE_TO_ESCAPED_BACKSLASHES,
    _AUTH_SCHEME_CREDENTIALS,
)
