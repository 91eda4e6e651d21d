"""Secrets in an HTTP header's value, for the keyword entity SECRET_VALUE (layouts of
secret_layouts.py): the cookies of a `Cookie` or `Set-Cookie` header and the credentials
of `Authorization: Digest`, taken to the header's end whole, in plain text, as a JSON
string or escaped in one.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.json_string_ends import (
    HEADER_JSON_STRING_END,
    HEADER_PYTHON_STRING_END,
    LINE_END,
)
from sluice.server.pipeline.redaction.secret_names import STRING_PREFIX

# Where a header's name starts: a word's start, or a line break escaped in a JSON string
# (`"GET /\nCookie: sid=abc"`, an HTTP request dumped as one string), where "n" and the
# name are one word: the header and its secret were left whole in clear.
HEADER_START: Final = r"(?:\\[nrt]|\b)"
# Where a header's name starts when only a credential's shape follows it (a scheme-less
# token, a nameless cookie: AUTHORIZATION_TOKEN_ALONE, NAMELESS_COOKIE_SECRETS), so not
# after a word of prose (`Payment authorization: …`, `The cookie: …` were written
# over): a line's start or an escaped line break, then spaces if any; or a character
# that opens, quotes or parts what a log or a program writes before a header, then
# spaces if any: a quote (a key, `-H "Authorization: …"`), a bracket (`{Authorization:
# …}`, `[INFO] Authorization: …`), a separator (`,;:|=`, `headers: Authorization: …`),
# curl -v's `>` and `<`, a list's `-` and `*`, a comment's `#` (and a hyphenated name's
# `-`, `X-Authorization`), a digit (a log line's time, `10:00:00,123 Authorization:`).
# Not `.`, `!` or `?`: a sentence's end is prose's. After a word, only the assignment
# `Authorization=<token>` (logfmt, code: `INFO request Authorization=…`), which prose
# does not write.
HEADER_LINE_START: Final = r"(?:(?m:^)|\\[nrt]|[\r\"'{}\[\](),;:|=<>*#0-9-])[ \t]*"


# Where a header's value ends (_header_layouts). In plain text: its line's end, or where
# the JSON string holding the line ends (a quote, escaped or not, before "}", "]" or
# `, "`: `{"msg": "Cookie: a=1", "b": 2}`). Quotes before anything else are the value's
# (`sid="abc"; x=1`, `username="bob", response="…"`). Likewise where the Python string
# holding the line ends (HEADER_PYTHON_STRING_END: `['GET /\nCookie: sid=abc', 1]`
# took `', 1]`). Or a line break escaped in the string holding the header that a header
# known to hold no credentials follows (_PLAIN_HEADERS: `"GET /\nCookie:
# sid=abc\nHost: h"` keeps `\nHost: h`): the value ran on over the next headers. Before
# anything else it runs on to the string's end, as before (over-redaction, the safe
# failure): a header no keyword covers (`\nX-Sid: S`, `\nsession-id=S`, `\nBearer: S`),
# a body after a blank line (`\n\nsid=S`), a bracket or a literal (`Cookie: a=\"b\"\n};
# sid=x`, a look-alike of a pretty-printed JSON's end) or words with no ":" were left in
# clear when the value ended there. The trail takes the whole name and its ":" (and
# writes them back), so the list holds no Cookie or Authorization header, whose lead
# the trail would eat.
_PLAIN_HEADERS = (
    r"(?i:host|accept(?:-(?:encoding|language|charset|ranges))?"
    r"|content-(?:type|length|encoding|language)|user-agent|connection|referer|origin"
    r"|cache-control|pragma|date|dnt|te|keep-alive|upgrade-insecure-requests"
    r"|if-none-match|if-modified-since|x-requested-with|x-forwarded-(?:for|proto|host)"
    r"|x-request-id|sec-fetch-(?:site|mode|dest|user)|sec-ch-ua(?:-mobile|-platform)?)"
    r"[ \t]*:"
)
_ESCAPED_HEADER_LINE_END = rf"(?:\\r)?\\n{_PLAIN_HEADERS}"
_PLAIN_HEADER_END = (
    rf"{LINE_END}|{HEADER_JSON_STRING_END}|{HEADER_PYTHON_STRING_END}"
    rf"|{_ESCAPED_HEADER_LINE_END}"
)
# A header's value written as a JSON string (`"Cookie": "…"`): up to its closing quote,
# escapes whole; on the key's line or the next (`"Cookie":\n  "…"`). Escaped inside a
# string (`\"Cookie\": \"…\"`): up to `\"`, its own quotes and backslashes escaped
# twice (`\\\"`, `\\\\`).
_JSON_STRING_BODY = r"(?:[^\"\\\r\n]|\\.)+"
# A header's value written as a Python string (`{'Cookie': 'sid=…'}`, a dict's repr as
# `print(request.headers)` logs it; a JS object or YAML quoting the value alone,
# `{Cookie: 'sid=…'}`): up to its closing quote, escapes whole. A bytes or unicode
# prefix before it (`{b'Cookie': b'sid=…'}`). In double quotes where the value holds a
# single one (`{'Cookie': "sid=it's"}`, as repr writes it): the JSON string's body.
# The key's and value's quotes only: a plain header line's value read no quote first,
# and the cookies in a repr were left in clear at every level.
# The key quoted or not (`Cookie: "sid=…"`, YAML or a JS object quoting the value; it
# was left in clear at every level, as a plain line's value reads no quote first).
# A value pprint wrapped (`{'Cookie': 'a=1; '\n           'sid=…'}`) is adjacent
# literals, each on a line of its own, one in double quotes where it holds a single
# quote: the value runs on over them, to the last one's closing quote (which ends the
# value in its own quote, `'a=[SECRET_VALUE]"`: the credential first). Only the first
# literal was read, and every cookie after it was left in clear at every level. A line
# break after the colon too (`{'Cookie':\n  'sid=…'}`, pprint's wide key).
_SINGLE_QUOTED_BODY = r"(?:[^'\\\r\n]|\\.)"
_DOUBLE_QUOTED_BODY = r"(?:[^\"\\\r\n]|\\.)"
_QUOTED_ITEM = rf"{STRING_PREFIX}?(?:'{_SINGLE_QUOTED_BODY}*'|\"{_DOUBLE_QUOTED_BODY}*\")"


def _items_after(quote: str, separator: str, first: str = "+") -> str:
    """A quoted value's body (after its opening `quote`; `first` says how much of it, a
    repetition: a list's first cookie may be empty), then the items after it, each after
    `separator` (spaces between adjacent literals; a comma in a list), in either quote,
    up to the last one's closing quote."""
    body = _SINGLE_QUOTED_BODY if quote == "'" else _DOUBLE_QUOTED_BODY
    return (
        rf"{body}{first}(?:{quote}{separator}(?:{_QUOTED_ITEM}{separator})*{STRING_PREFIX}?"
        rf"(?:'{_SINGLE_QUOTED_BODY}*|\"{_DOUBLE_QUOTED_BODY}*))?"
    )


_PYTHON_STRING_BODY = _items_after("'", r"\s*")
_PYTHON_DOUBLE_QUOTED_BODY = _items_after('"', r"\s*")
_PYTHON_VALUE_QUOTE = rf"[ \t]*:\s*{STRING_PREFIX}?"
_ESCAPED_JSON_STRING_BODY = r"(?:[^\"\\\r\n]|\\\\\\[\"\\]|\\[^\"\\])+"


#: A Cookie header's name: `Cookie`, `Set-Cookie`, `X-Cookie` (a word boundary after
#: "-"), and RFC 2965's `Cookie2` and `Set-Cookie2`.
_COOKIE_NAME = r"(?i:cookie2?)"
_COOKIE_GATE = r"(?i:cookie)2?\\?[\"']?[ \t]*:"


#: The first cookie's name and "=", after spaces if any (`{'Cookie': ' sid=…'}`); an
#: empty name too (`Cookie: =abc`): both were read as no cookie, and left in clear.
#: Spaces around the "=" too (`Cookie: sid = abc`, `[('Cookie', 'sid = abc')]`: left
#: in clear).
_FIRST_COOKIE_NAME = r"[ \t]*[^=;\s\"'\\]*[ \t]*=[ \t]*"


def token_with_letter_by_digit(least: int) -> str:
    """A word of token68's alphabet (RFC 7235: letters, digits, `-._~+/`, then `=`
    padding) of `least` characters or more, a letter next to a digit somewhere in it:
    what a credential written alone looks like (`9f8e7d6c5b4a3928`, `tok_9F8E7D6C5B4A`),
    and no word of prose (`required`, `internationalization`), a scheme alone
    (`Bearer`) or a short version (`v1.2.3`) is. Nor an id of digits
    (`123456789012`), digit groups (`555-123-4567-8901`) or words and digit groups
    (`ORDER-2024-000123456`): a credential's random characters mix letters and digits,
    and these were written over (a digit anywhere was enough). One branch for each place
    the pair can start in the first `least` characters, and one for any later place
    (no look-ahead to count the length apart), as few states as a digit alone took."""
    word = r"[A-Za-z0-9._~+/-]"
    pair = r"(?:[A-Za-z][0-9]|[0-9][A-Za-z])"
    led = [rf"{word}{{{n}}}{pair}{word}{{{least - 2 - n},}}" for n in range(least - 1)]
    return rf"(?:{'|'.join(led)}|{word}{{{least - 1},}}{pair}{word}*)=*"


# A header's value in plain text, read lazily up to _PLAIN_HEADER_END: a JSON array or
# object in it (`Cookie: prefs=["a","b"], x=1`, `prefs={"a":"b","c":"d"}; sid=x`) is
# taken whole when it closes on its line (one level of each bracket in it), so its
# `","` is not read as the end of a JSON string holding the header: the value ended
# there and left the items after it and the other cookies in clear. A bracket that no
# other closes on its line is a character like any other.
_LINE_CHARACTER = r"[^\r\n\u2028\u2029\x85]"
_HEADER_VALUE = (
    r"(?:\[[^\[\]\r\n\u2028\u2029\x85]*\]|\{[^{}\r\n\u2028\u2029\x85]*\}"
    rf"|{_LINE_CHARACTER})*?"
)
# The same, first without a quote (but escaped ones) up to a quote ending the text
# (`"Cookie: sid=abc"`, a text that is one JSON string, as `json.dumps` writes a
# header's line): no JSON followed that quote, so it was taken with the value and the
# JSON broke. A value
# holding a quote takes one ending the text with it (`Cookie: sid="abc"`), as before.
# Either way a tag written over the value is read again as it was written (the layout
# runs on the rows after each earlier one). The quote ends the text but for spaces and
# line breaks after it (`"GET /\nCookie: sid=abc"` and a newline: the quote was taken).
_ESCAPE_ON_LINE = r"\\[^\r\n\u2028\u2029\x85]"
_PLAIN_HEADER_VALUE = (
    rf"(?:\[(?:[^\[\]\"\\\r\n\u2028\u2029\x85]|{_ESCAPE_ON_LINE})*\]"
    rf"|\{{(?:[^{{}}\"\\\r\n\u2028\u2029\x85]|{_ESCAPE_ON_LINE})*\}}"
    rf"|[^\"\\\r\n\u2028\u2029\x85]|{_ESCAPE_ON_LINE})*?|{_HEADER_VALUE}(?:\"\s*$)?"
)


def _header_layouts(header: str, after: str, gate: str, first: str = "") -> tuple[Entity, ...]:
    """A header's value from `after` on, taken to its end whole, as one tag: in plain
    text to its line's end (lazily, up to _PLAIN_HEADER_END), as a JSON string (or one
    escaped in a string) to the string's end. With `first`, only a value that starts
    with a whole word of that pattern (_NAMELESS_COOKIE): the word, then the rest of the
    header after a separator or space, up to the string's closing quote or the plain
    value's end (so a word that only starts with one, `2024-01-02T10:00`, is none)."""

    def value(body: str) -> str:
        return rf"{first}(?:[;, \t](?:{body}))?" if first else body

    def closing(quote: str) -> str:
        return quote if first else ""

    return (
        Entity(
            "SECRET_VALUE",
            "basic",
            rf"{header}\"[ \t]*:\s*\"{after}",
            value(_JSON_STRING_BODY),
            closing('"'),
            gate_pattern=gate,
        ),
        Entity(
            "SECRET_VALUE",
            "basic",
            rf"{header}\\\"[ \t]*:[ \t]*\\\"{after}",
            value(_ESCAPED_JSON_STRING_BODY),
            closing(r'\\"'),
            gate_pattern=gate,
        ),
        Entity(
            "SECRET_VALUE",
            "basic",
            rf"{header}\\?[\"']?{_PYTHON_VALUE_QUOTE}'{after}",
            value(_PYTHON_STRING_BODY),
            closing(r"[\"']"),
            gate_pattern=gate,
        ),
        Entity(
            "SECRET_VALUE",
            "basic",
            rf"{header}'?{_PYTHON_VALUE_QUOTE}\"{after}",
            value(_PYTHON_DOUBLE_QUOTED_BODY),
            closing(r"[\"']"),
            gate_pattern=gate,
        ),
        Entity(
            "SECRET_VALUE",
            "basic",
            rf"{header}[ \t]*:[ \t]*{after}",
            value(_PLAIN_HEADER_VALUE),
            rf"{_PLAIN_HEADER_END}|\"\s*$",
            gate_pattern=gate,
        ),
    )


#: The cookies of a `Cookie:` or `Set-Cookie:` header (`Cookie: session=abc; theme=x`,
#: also as a JSON string: `"Cookie": "sid=…"`): after the first cookie's name and "=",
#: the rest of the header (_header_layouts), quotes, an empty first value and the other
#: cookies and a Set-Cookie's attributes with it (`sid="abc"; csrftoken=x`, `sid=;
#: x=secret`: session ids are credentials; over-redaction is the safe failure). Only
#: where a name and "=" follow the header (`Favourite cookie: chocolate chip`, `cookie
#: recipe: flour` stay). Only values holding "cookie" and ":" are looked at
#: (KEYWORD_SECRET_GATE).
#: Cookie2 and Set-Cookie2 (RFC 2965, obsolete but still logged) too: the "2" after the
#: name was read as no header's, and the cookies were left in clear.
COOKIE_HEADER_SECRETS: Final = _header_layouts(
    rf"{HEADER_START}{_COOKIE_NAME}", _FIRST_COOKIE_NAME, _COOKIE_GATE
)
# A list's key, quoted or not (`{"Cookie": ['sid=…']}`, YAML's `Set-Cookie: ['sid=…']`),
# and its first item's opening quote: either quote after either key (repr writes an item
# holding a single quote in double quotes), and so the items after it
# (`['sid=…', "pref=it's", 't=x']` left the whole list in clear). The list's closing
# quote is its last item's (`['sid=[SECRET_VALUE]"]`: the credential first). A tuple
# too (`{'Set-Cookie': ('sid=…',)}`).
_LIST_KEY_END = rf"[\"']?[ \t]*:\s*[\[(]\s*{STRING_PREFIX}?"
_LIST_SEPARATOR = r"\s*,\s*"
_LIST_END = r"[\"']\s*,?\s*[\])]"


def _cookie_list(quote: str) -> Entity:
    """A Set-Cookie (or Cookie) header's list whose first item opens with `quote`: after
    the first cookie's name and "=", every item to the list's end, as one string."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"\b{_COOKIE_NAME}{_LIST_KEY_END}{quote}[^=;\s\"'\\]+=",
        _items_after(quote, _LIST_SEPARATOR, "*"),
        _LIST_END,
        gate_pattern=COOKIE_HEADER_SECRETS[0].gate_pattern,
    )


#: A Set-Cookie (or Cookie) header written as a JSON array of its cookies
#: (`"Set-Cookie": ["sid=abc; Path=/", "t=xyz"]`, as a log of a response's headers
#: lists them): after the first cookie's name and "=", every item to the array's end,
#: as one string (`["sid=[SECRET_VALUE]"]`), as _quoted_list writes a list. Beside
#: COOKIE_HEADER_SECRETS, with their gate.
COOKIE_JSON_ARRAY: Final = _cookie_list('"')
#: The same as a Python list of its cookies (`{'Set-Cookie': ['sid=abc; Path=/', 't=x']}`,
#: a dict's repr): after the first cookie's name and "=", every item to the list's end,
#: as one string (`['sid=[SECRET_VALUE]']`). Beside COOKIE_JSON_ARRAY, with its gate.
COOKIE_PYTHON_LIST: Final = _cookie_list("'")
#: The credentials of `Authorization: Digest …` (RFC 7616): everything after the scheme
#: to the header's end (_header_layouts), as one tag (`username`, `nonce`, `response`, …:
#: the response is a hash of the password and the nonce replays it, and Basic's
#: credentials hide the user too). Not parameter by parameter: a quote escaped in
#: `username="b\"ob"` or a missing comma left the response in clear. Only values
#: holding "digest" are looked at, among those the header picked (KEYWORD_SECRET_GATE).
DIGEST_AUTH_SECRETS: Final = _header_layouts(
    rf"{HEADER_START}(?i:authorization)", r"(?i:digest)[ \t]+", r"(?i:digest)"
)
#: A cookie's value with no cookie's name (`Cookie: abc123def456ghi789`, a bare session
#: id): COOKIE_HEADER_SECRETS reads a name and "=" first, and left it in clear. Only a
#: first word shaped as a credential (token_with_letter_by_digit, 12 characters or
#: more), then the rest of the header with it, as there (`Cookie: <id>; theme=dark`
#: whole): `Cookie: stale`, `cookie: none` and prose stay. Only where a header starts
#: (HEADER_LINE_START): after a word it is prose's (`The cookie: recipe2024v12 is
#: great` was written over to its end). After COOKIE_HEADER_SECRETS, with their gate.
_NAMELESS_COOKIE = token_with_letter_by_digit(12)
NAMELESS_COOKIE_SECRETS: Final = _header_layouts(
    rf"{HEADER_LINE_START}{_COOKIE_NAME}", "", _COOKIE_GATE, first=_NAMELESS_COOKIE
)
#: The credentials of `Authorization:` written with no scheme (`Authorization:
#: 9f8e7d6c5b4a3928`, `{"Authorization": "<token>"}`, `Authorization=<token>`): the
#: keyword pattern reads the credentials only after a scheme (Bearer, Token, Basic),
#: and left a token alone in clear. Only a word shaped as a credential
#: (token_with_letter_by_digit, 12 characters or more) that ends the value: the line's
#: end, a quote (escaped too), a separator or an escaped line break. Not before a space
#: and more words: a scheme's name is such a word (`AWS4-HMAC-SHA256 Credential=…`).
#: Also `Proxy-Authorization` and `X-Authorization`, and after a Python string's prefix
#: (`{'Authorization': b'<token>'}`, `authorization = rb'<token>'`: left in clear). The
#: name and ":" where a header starts (HEADER_LINE_START); "=" after any word. Only
#: values holding "authorization", an assignment and such a word (KEYWORD_SECRET_GATE).
_CREDENTIAL_HEADER_NAME = r"(?i:(?:[a-z0-9]+-)*authorization)\\?[\"']?"
_CREDENTIAL_VALUE_QUOTE = rf"[ \t]*(?:{STRING_PREFIX}?\\?[\"']|\\)?"
_CREDENTIAL_VALUE_END = r"[ \t]*\r?(?m:$)|[;,\"'\r]|\\[nrt\"']"
AUTHORIZATION_TOKEN_ALONE: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?:{HEADER_LINE_START}{_CREDENTIAL_HEADER_NAME}[ \t]*:"
    rf"|{HEADER_START}{_CREDENTIAL_HEADER_NAME}[ \t]*=){_CREDENTIAL_VALUE_QUOTE}",
    token_with_letter_by_digit(12),
    _CREDENTIAL_VALUE_END,
    gate_pattern=r"(?i:authorization)",
)
#: The same after a word (`INFO request Authorization: <token>`, a log line's words
#: before the header), where prose writes the name too (`Prior Authorization:
#: PA2024000123`, a health plan's number): only a word of 16 characters or more (a
#: credential's usual length: 32 hex digits, a UUID; 12 wrote over such ids). After
#: AUTHORIZATION_TOKEN_ALONE, with its gate.
AUTHORIZATION_TOKEN_AFTER_WORD: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{HEADER_START}{_CREDENTIAL_HEADER_NAME}[ \t]*:{_CREDENTIAL_VALUE_QUOTE}",
    token_with_letter_by_digit(16),
    _CREDENTIAL_VALUE_END,
    gate_pattern=r"(?i:authorization)",
)


# A header written as a (name, value) pair: a tuple or list of two strings, either
# quote, a bytes or unicode prefix (`(b'cookie', b'sid=…')`, ASGI's raw headers;
# `[["Cookie", "sid=…"]]`, a JSON array of pairs, also escaped in a JSON string).
def _pair_lead(name: str) -> str:
    return rf"{STRING_PREFIX}?\\?[\"']{name}\\?[\"'][ \t]*,\s*{STRING_PREFIX}?"


def _pair_layouts(
    entity: str, name: str, after: str, gate: str, holding: str = ""
) -> tuple[Entity, ...]:
    """A pair's value (after its name, `after`), up to its closing quote, escapes and
    all: its first character no space, no quote closing it and no "[" (what an earlier
    rule wrote stays as it is). With `holding`, only a value that holds it (a Digest
    header's "="), from its first character on."""
    forms = (
        ("'", r"[^\s'\\\[]|\\[^\s]", r"[^'\\\r\n]|\\."),
        ('"', r"[^\s\"\\\[]|\\[^\s]", r"[^\"\\\r\n]|\\."),
        (r'\\"', r"[^\s\"\\\[]|\\\\\\[\"\\]|\\[^\s\"\\]", r"[^\"\\\r\n]|\\\\\\[\"\\]|\\[^\"\\]"),
    )
    return tuple(
        Entity(
            entity,
            "basic",
            rf"{_pair_lead(name)}{quote}{after}",
            rf"(?:{character})*{holding}(?:{character})*"
            if holding
            else rf"(?:{first})(?:{character})*",
            quote,
            gate_pattern=gate,
        )
        for quote, first, character in forms
    )


#: A Cookie (Set-Cookie, Cookie2, X-Cookie) header as a (name, value) pair
#: (`[('Cookie', 'sid=…')]`, `(b'cookie', b'sid=…')`): after the first cookie's name and
#: "=", the value to its closing quote whole, as COOKIE_HEADER_SECRETS takes a header's;
#: no layout read a pair, and the cookies were left in clear at every level. Its "="
#: is the separator the keyword entity's gate needs; a cookie with no name in a pair
#: holds none, and is left. Only values holding the name's closing quote and ","
#: (KEYWORD_SECRET_GATE).
COOKIE_PAIR_GATE: Final = r"(?i:cookie)2?\\?[\"'][ \t]*,"
COOKIE_PAIR_SECRETS: Final = _pair_layouts(
    "SECRET_VALUE", rf"(?i:(?:[a-z0-9]+-)*{_COOKIE_NAME})", _FIRST_COOKIE_NAME, COOKIE_PAIR_GATE
)
_AUTHORIZATION_NAME = r"(?i:(?:[a-z0-9]+-)*authorization)"
#: An Authorization (Proxy-Authorization) header as a (name, value) pair
#: (`(b'authorization', b'Bearer …')`, ASGI's raw headers): the credentials after a
#: Bearer or Basic scheme, to the value's closing quote whole. Layouts of BEARER_TOKEN,
#: whose gate is that scheme: a pair holds no separator, so the keyword entity's gate,
#: scanned only where one is, never sees it, and a gate of its own for the pair's name
#: would be one more literal in the scan of every row (+0.022 to +0.036 CPU s per 1M
#: text-heavy messages, ~2-3% of moderate). A pair with another scheme or a token alone
#: (`('Authorization', 'Token …')`) is left (test_redaction_header_pairs' STILL_LEAKING);
#: `('Authorization', 'Bearer ' + token)` and a scheme alone stay.
AUTHORIZATION_PAIR_SECRETS: Final = _pair_layouts(
    "BEARER_TOKEN", _AUTHORIZATION_NAME, r"(?i:bearer|basic)[ \t]+", ""
)
#: The same with Digest credentials (`('Authorization', 'Digest username="bob", …')`),
#: whose parameters hold the "=" the keyword entity's gate needs: its layouts, the
#: value whole (as DIGEST_AUTH_SECRETS takes a header's). Only values holding the name's
#: closing quote and "," (KEYWORD_SECRET_GATE).
AUTHORIZATION_PAIR_GATE: Final = r"(?i:authorization)\\?[\"'][ \t]*,"
DIGEST_PAIR_SECRETS: Final = _pair_layouts(
    "SECRET_VALUE",
    _AUTHORIZATION_NAME,
    r"(?i:digest)[ \t]+",
    AUTHORIZATION_PAIR_GATE,
    holding="=",
)
