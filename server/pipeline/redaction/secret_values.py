"""How a secret's value is read after its name, for the keyword entity SECRET_VALUE
(secret_layouts.py) and its layouts: the assignment's lead, a value's first characters
(what an earlier rule wrote, a "(", a string's prefix, `n` that is no `null`) and the
rest of it, quoted or not. ("main" in these comments: the keyword pattern as it was
before the parenthesised layouts, which read a "(" after the assignment alone as the
value.)
"""

from __future__ import annotations

from sluice.server.pipeline.redaction.secret_shell_values import GLUED_AFTER_CLOSE
from sluice.server.pipeline.redaction.written_forms import WRITTEN

# A secret's value: it may not start with an earlier rule's tag alone (left as it is),
# "[" (a tag's or a list's; SQUARE_BRACKETED_SECRET takes the few bracketed values),
# an opening corner bracket or a backtick (the lead takes one; BRACKETED_SECRET or
# BACKTICK_SECRET wrote its value), and ends at a space, a quote, a list separator or
# an escaped quote. An "=" or ">" starts one only before another character of it, not
# all "=": after a quoted secret's layout wrote its value (`password :=
# "[SECRET_VALUE]"`, `password === "[SECRET_VALUE]"`), the pattern would otherwise read
# the ":=" as ":" and a value "=" (the "===" as "=" and a value "==").
# A "(" likewise, so it is no value before a quote or space: after parenthesised_quoted
# wrote its value (`password=("[SECRET_VALUE]")`) the "(" alone was read as one, and
# written over with the tag (`password=[SECRET_VALUE]"[SECRET_VALUE]")`).
# But the "(" with an empty first item or a nested "(" is (`password=("" + pw)`,
# `password=( ("pw") )`): no layout takes those, and main's "(" alone hid them (the
# whole row under null). So is a "(" at a line's end, alone (`password=(\n\n"" + pw`),
# as main read it: the empty item or nested "(" is looked for on its line only, so the
# value does not take the line breaks before it, after any other space (a carriage
# return, a no-break space, U+2028: `password=(\r\n"" + pw)` was nulled on main). So is
# a first quoted item parenthesised_quoted does not take: of spaces alone (`password =
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
#: `[TAG]}abc`): after a value in square brackets (SQUARE_BRACKETED_SECRET) it is the
#: code's when a dot, another bracket, a separator or a space follows, or nothing
#: (`login(password=[x y]).then(ok)` lost `).then(ok)` to the value).
#: An escaped backslash after it only before more of the value (`\\\\x`), not before an
#: escaped quote: `[SECRET_VALUE]\\\"` is a tag written in a JSON string escaped twice,
#: and the backslashes taken with it broke that JSON.
_ESCAPE_THEN_MORE = r"\\[^\s\"'\\]|(?:\\\\)+[^\s\"'\\]"


def written_then_more(escape_then_more: str) -> str:
    return (
        rf"{WRITTEN}(?:[^\s\"',;&\[\]\\」』`)}}]|{escape_then_more}"
        rf"|[)\]}}]+(?:[^\s\"',;&\[\]\\」』`.(){{}}]|{escape_then_more}))"
    )


WRITTEN_THEN_MORE = written_then_more(_ESCAPE_THEN_MORE)


def _led_item_to_parenthesis(quote: str) -> str:
    """A first item led by spaces (64 at most, the next character no space) or an
    escaped quote, up to a parenthesis or its line's end (ASSIGNED_START)."""
    rest = rf"(?:[^{quote}\\()\n]|\\.)*"
    return (
        rf"{quote}(?:[^\S\n]{{1,64}}(?:(?:[^\s{quote}\\()]|\\.){rest})?|\\{quote}{rest})"
        r"\\?(?:[()]|(?m:$))"
    )


_QUOTE, _APOSTROPHE = '"', "'"
#: A first item led by "[" or "*" that no layout wrote: a layout writes its tag, seal or
#: mask only as the whole item, then the quote and `[ \t]*,?[ \t]*\)` (parenthesised_quoted's
#: trail), so one that a "(" or its line's end, or a ")" without that trail, ends first
#: is none (`(" *pw" + f(x)`, `(" [x] pw" + y)`).
_NOT_WRITTEN_ITEM = r"[\[*][^()\n]*(?:\(|(?m:$)|[^ \t,\"'()\n][ \t]*,?[ \t]*\)|,[ \t]*,[ \t]*\))"


#: A value led by a letter that may be a Python string's prefix (STRING_PREFIX: `r`,
#: `u`, `b`, `f`, `rb`, `br`, `fr`, `rf`, any case): only where a character of the value
#: other than a quote follows the prefix. Once a quoted layout wrote `password =
#: r'[SECRET_VALUE]'`, the prefix alone was read as a value (`[SECRET_VALUE]'[SECRET_VALUE]'`);
#: as with `n` (not_null_value), a value of those one or two letters alone is left (too
#: short to be a secret).
_VALUE_CHARACTER = r"(?:[^\s\"',;&\\」』]|\\[^\s\"'])"
_PREFIX_LED_START = (
    rf"[uU]{_VALUE_CHARACTER}"
    rf"|[rR](?:[bBfF]{_VALUE_CHARACTER}|[^\s\"',;&\\」』bBfF]|\\[^\s\"'])"
    rf"|[bBfF](?:[rR]{_VALUE_CHARACTER}|[^\s\"',;&\\」』rR]|\\[^\s\"'])"
)


def assigned_start(written_then_more: str) -> str:
    """A value's first character(s) (ASSIGNED_START), with what an earlier rule wrote
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


ASSIGNED_START = assigned_start(WRITTEN_THEN_MORE)
# The rest of a value: an escaped backslash (`\\`) only before more of it or at its
# line's end, not before an escaped quote: in JSON escaped twice `\\\"` (three
# backslashes) is the string's closing quote (`\\\"password: x\\\"`), and a value that
# took two of them wrote `[SECRET_VALUE]\"`, the JSON broken. A value's last backslash
# before a space, a separator or a quote (`password=a\\ b` in a JSON string) is left.
_ESCAPED_BACKSLASHES = r"(?:\\\\)+(?:[^\s\"',;&\\」』]|\\[^\s\"'\\]|(?m:$))"
ASSIGNED_REST = rf"(?:[^\s\"',;&\\」』]|\\[^\s\"'\\]|{_ESCAPED_BACKSLASHES})*"
# The same for a value no quote holds (the keyword pattern's own): an escaped line
# break or tab ends it as a real one does (`{"m": "password=hunter2\nnext line"}` took
# `\nnext` with the value, over-redaction), also after escaped backslashes
# (`hunter2\\\n`). What an earlier rule wrote is still read on over one
# (WRITTEN_THEN_MORE: `password=[GITHUB_TOKEN]\nSECRET`, where the break was more of
# a value that rule cut). In plain text a backslash and "n", "r" or "t" (`C:\new`) ends
# it too: a value no quote holds ends at the first character no secret of its kind is
# read to hold, and a path's rest is left, as a real line break's is.
_UNQUOTED_ESCAPE = r"\\[^\s\"'\\nrt]"
UNQUOTED_REST = (
    rf"(?:[^\s\"',;&\\」』]|{_UNQUOTED_ESCAPE}"
    rf"|(?:\\\\)+(?:[^\s\"',;&\\」』]|{_UNQUOTED_ESCAPE}|(?m:$)))*"
)


#: A value starting with "n" (ASSIGNED_START takes none): any but `null` alone, or with
#: only the closing brackets of JSON after it (`{"password":null}`): a null holds no
#: secret, and writing a tag there broke the JSON (`{"password":[SECRET_VALUE]`, brace
#: and all). With no look-ahead, "not null" is spelt letter by letter, so values of "n",
#: "nu" or "nul" alone are left too (too short to be a secret).
#: The rest is the caller's: a keyword's value ends at an escaped break
#: (UNQUOTED_REST), an Authorization header's credentials run on over one after
#: escaped backslashes as their other values do (ASSIGNED_REST: `Bearer nabc\\\nxyz`
#: left `\\\nxyz` in clear when they shared the keyword's).
def not_null_value(rest: str) -> str:
    return (
        r"n(?:(?:[^u\s\"',;&\\」』]|\\[^\s\"'])"
        r"|u(?:(?:[^l\s\"',;&\\」』]|\\[^\s\"'])"
        r"|l(?:(?:[^l\s\"',;&\\」』]|\\[^\s\"'])"
        r"|l[}\]]*(?:[^}\]\s\"',;&\\」』]|\\[^\s\"']))))"
        rf"{rest}"
    )


NOT_NULL_VALUE = not_null_value(UNQUOTED_REST)
