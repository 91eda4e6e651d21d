"""Where a line of text ends, and where the JSON string holding it ends, plain or
escaped in a string: the trails of the secret layouts that take a line's words or a
header's value to its end (secret_layouts.py, secret_headers.py). With no look-ahead,
what tells a JSON string's end from a quote in the text is taken (and written back).
"""

from __future__ import annotations

from typing import Final

# Between two words: any space but a line break (a no-break space too); U+2028 and
# U+2029 end a line as "\n" does. A line ends at its end (spaces before it taken) or at
# one of those.
LINE_SPACE: Final = r"[^\S\r\n\u2028\u2029\x85]"
LINE_END: Final = rf"{LINE_SPACE}*\r?(?m:$)|[\u2028\u2029\x85\r]"

# A quote escaped twice (`\\\"`: a JSON string escaped in a string escaped in a string,
# as `json.dumps` run three times writes one): a run of three backslashes before it.
TWICE_ESCAPED_QUOTE: Final = r'\\\\\\"'


# Where the JSON string holding a passphrase's line of words ends (a quote, escaped or
# not, before "}" or "]" that JSON's structure follows, or before `, "` or a comma and
# the next item that is no string, `", NaN]` as json.dumps writes a float; also at the
# text's end; or a quote escaped twice, `\\\"` (TWICE_ESCAPED_QUOTE), before "," "}"
# "]" or a line break escaped twice): the line's last word is still the value's (`{"m":
# "password: a b c"}`, which left `staple` in clear). A word holds no quote, so `"}` or
# `"]` and a comma end the string whatever follows (`"}, NaN]`, `"}, True]`, a log's
# `"}, 3 retries`); with no look-ahead, the character after the bracket ("," "}" "]", a
# quote or backslash ending or escaping the string around an escaped JSON) is taken (and
# written back).
# A pretty-printed JSON's string (`json.dumps(..., indent=2)`) ends its line: its
# closing quote, then a line break and the indented "}" or "]" closing the object or
# array, or a comma, a line break and the next item's start (a key's quote, "{", "[" or
# a literal). What the next line starts with tells it from a quote a plain line ends
# with (`Cookie: sid="abc"` then `Vary: x` keeps its quote in the value). Also with
# Windows line ends and escaped in a JSON string (`\"\n}`, a tab indent as `\t`);
# with no look-ahead, the line break, indent and the next line's first token are taken
# (and written back).
_PRETTY_LINE_BREAK = r"[ \t]*\r?\n[ \t]*"
_ESCAPED_PRETTY_LINE_BREAK = r"[ \t]*(?:\\r)?\\n(?:[ \t]|\\t)*"
_PRETTY_NEXT_ITEM = r"(?:[{\[]|-?[0-9]|true|false|null|NaN|-?Infinity)"


def _pretty_json_string_end(close: str, next_item: str) -> str:
    """A pretty-printed JSON string's end, plain or escaped in a JSON string: its quote,
    then a line break and `close` (the bracket closing the object or array), or a comma,
    a line break and the next item (a key's quote or `next_item`)."""
    return (
        rf"\"(?:{_PRETTY_LINE_BREAK}{close}|[ \t]*,{_PRETTY_LINE_BREAK}(?:\"|{next_item}))"
        rf"|\\\"(?:{_ESCAPED_PRETTY_LINE_BREAK}{close}"
        rf"|[ \t]*,{_ESCAPED_PRETTY_LINE_BREAK}(?:\\\"|{next_item}))"
    )


_PRETTY_JSON_STRING_END = _pretty_json_string_end(r"[}\]]", _PRETTY_NEXT_ITEM)
WORDS_JSON_STRING_END: Final = (
    r"\\?\"[ \t]*[}\]][ \t]*(?:[,}\]\"\\]|\r?(?m:$))"
    rf"|\\?\"[ \t]*,[ \t]*(?:\\?\"|{_PRETTY_NEXT_ITEM}|True|False|None)"
    rf"|{_PRETTY_JSON_STRING_END}|{TWICE_ESCAPED_QUOTE}(?:[ \t]*[,}}\]]|\\\\[nrt])"
)
# Where the JSON string holding a header's line ends: the same, but a "}" followed by
# ";" is a cookie's JSON (`Cookie: prefs={"a":"b"}; sid=x`), not the string's end, and
# so is one followed by "," and anything but a key's quote or an object or array
# (`prefs={"a":"b"}, x=1` left `x=1` in clear) but a JSON literal (a number, true,
# false, null, or NaN and -?Infinity as json.dumps writes a float; Python's True, False
# and None, as a repr of a list writes them: `[{"m": "Cookie: sid=abc"}, True]` took the
# rest of the text) before a delimiter or an escaped JSON's `\n`, `\r`, `\t` (`"}, 42]`,
# `"}, NaN\n]`: `x=1` is none); with no look-ahead, what follows the bracket ("}" "]", a
# quote or backslash ending or escaping the string around an escaped JSON, or "," and
# spaces and the next key's quote or bracket, or the literal's "," and spaces) is taken
# (and written back).
# In a header, a pretty-printed string's end is checked further (a cookie's or Digest
# value's `\"\n}; sid=x` or `\",\n1; sid=x` is no JSON's end: `sid=x` was left in
# clear): after the closing "}" or "]", what JSON has next (an escape, a bracket, a
# quote, the line's end, or "," and the next item as above: `\"\n}, response=` is
# none); after the string's comma, a literal as above before a delimiter. A string
# followed by "," and such a literal ends too (`["GET /\nCookie: sid=abc", 1]`: the
# value ran on to the line's end and took `", 1]`).
_HEADER_LITERAL_VALUE = r"(?:-?[0-9][0-9.eE+-]*|true|false|null|NaN|-?Infinity|True|False|None)"
_HEADER_JSON_LITERAL = rf"{_HEADER_LITERAL_VALUE}[ \t]*(?:[,\]}}]|\\[nrt]|\r?(?m:$))"
#: A JSON literal as a list's item after a header's string (`["GET /\nCookie: sid=abc",
#: 1]`), and what JSON allows after it there: a closing bracket (itself followed by what
#: JSON allows), an escaped line break, the line's end, or "," and the next string,
#: object or array. Not "," and another word: in plain text `Cookie: a=x", 1, b=y` or
#: `Set-Cookie: a=x",1] b=y` is no JSON, and ending there left `b=y` in clear.
_HEADER_JSON_NEXT = (
    r"[ \t]*(?:[\]}][ \t]*(?:[,\]}]|\\?\"|\\[nrt]|\r?(?m:$))"
    r"|\\[nrt]|\r?(?m:$)|,[ \t]*(?:\\?\"|[{\[]))"
)
_HEADER_PRETTY_CLOSE = (
    r"[}\]](?:\\[nrt]|[ \t]*(?:[}\]]|\\?\"|\r?(?m:$)"
    rf"|,(?:[ \t\r\n]|\\[nrt])*(?:\\?\"|[{{\[]|{_HEADER_JSON_LITERAL})))"
)
_HEADER_PRETTY_JSON_STRING_END = _pretty_json_string_end(
    _HEADER_PRETTY_CLOSE, rf"[{{\[]|{_HEADER_JSON_LITERAL}"
)
HEADER_JSON_STRING_END: Final = (
    r"\\?\"[ \t]*[}\]][ \t]*(?:[}\]\"\\]|,(?:[ \t\r\n]|\\[nrt])*(?:\\?\"|[{\[]|"
    rf"{_HEADER_JSON_LITERAL})|\r?(?m:$))"
    r"|\\?\"[ \t]*,[ \t]*\\?\""
    rf"|\\?\"[ \t]*,[ \t]*{_HEADER_LITERAL_VALUE}{_HEADER_JSON_NEXT}"
    rf"|{_HEADER_PRETTY_JSON_STRING_END}"
)
#: Where a Python string holding a header's line ends (`['GET /\nCookie: sid=abc', 1]`,
#: a repr of a list or tuple, `print('…')`): its closing quote before closing brackets or
#: parentheses and then the line's end or the end of a JSON string holding the repr, also
#: with "," and a literal between them, or at the text's end: the value ran on to the
#: line's end and took the closing quote and `, 1]` with it. Only those: in plain text a
#: quote before "," and another string, a bracket or a word (`Cookie: msg='hi', 'there';
#: sid=x`, `prefs=('a', 'b'); sid=x`, `sid=x')) tok=y`, `f('Cookie: sid=a', 'tok=y')`)
#: is as often a cookie's or the code's, and ending there left the cookies after it in
#: clear; the value runs on over them (over-redaction, the safe failure).
_PYTHON_CLOSE = r"[}\])]+[ \t]*(?:\r?(?m:$)|\\?\"[ \t]*[,}\]]|\\?\"\s*$)"
#: A dict repr's next key and a literal as its value (`{'h': 'Cookie: sid=abc', 'x':
#: 1}`): the value ran on to the line's end and took `', 'x': 1}`, and the literal
#: broke. A literal's key only: before a key holding a string (`'tok': 'x'`) the quote
#: may as well be a cookie's, and the value runs on as before.
_PYTHON_DICT_LITERAL_ITEM = (
    rf"'[^'\\\r\n]*'[ \t]*:[ \t]*{_HEADER_LITERAL_VALUE}[ \t]*(?:,|{_PYTHON_CLOSE})"
)
HEADER_PYTHON_STRING_END: Final = (
    rf"'[ \t]*{_PYTHON_CLOSE}"
    rf"|'[ \t]*,[ \t]*{_HEADER_LITERAL_VALUE}[ \t]*{_PYTHON_CLOSE}"
    rf"|'[ \t]*,[ \t]*{_PYTHON_DICT_LITERAL_ITEM}"
    r"|'\s*$"
)
