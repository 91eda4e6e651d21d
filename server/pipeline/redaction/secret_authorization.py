"""The credentials after an Authorization header's scheme (`Authorization: Bearer …`,
`Token …`, `Basic …`), for the keyword entity SECRET_VALUE (secret_layouts.py): the
header's lead and the layouts that end or run on the credentials at an escaped line
break.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_headers import HEADER_START
from sluice.server.pipeline.redaction.secret_names import STRING_PREFIX
from sluice.server.pipeline.redaction.secret_values import (
    ASSIGNED_REST,
    assigned_start,
    not_null_value,
    written_then_more,
)
from sluice.server.pipeline.redaction.written_forms import WRITTEN

# Secrets after a fixed context that also holds a ':': `Authorization: Token …` (Django
# REST framework's scheme) and Basic credentials too short for BEARER_TOKEN to tell from
# prose without the header (`Authorization: Basic YTpi`). Folded into the
# keyword entity's lead and gate, whose scan only rows holding ':' or '=' pay for: a gate
# of their own would be one more scan of every leaf where any keyword is found. A Bearer
# token only on the header's line (`Bearer` ending a line is no token's lead). After a
# Python string's prefix too (`{'Authorization': b'Bearer …'}`: left in clear).
AUTH_SCHEME_HEADER = (
    rf"{HEADER_START}(?i:authorization\\?[\"']?\s*[:=]\s*(?:{STRING_PREFIX}?\\?[\"']|\\)?"
    r"(?:(?:token|basic)\s+|bearer[^\S\r\n]+))"
)


#: The credentials after an Authorization header's scheme in a JSON string, up to an
#: escaped line break or tab after them (`"GET /\nAuthorization: Bearer tok\nHost:
#: x"`): the keyword pattern's value reads an escape as the value's, and took `\nHost:`
#: with the token. Credentials are token68 (RFC 7235: letters, digits, `-._~+/` and
#: `=`), which hold no backslash, so the break is no part of them; elsewhere the keyword
#: pattern reads them as before. Before it, which then leaves the tag
#: (WRITTEN_THEN_MORE). Only values holding "authorization" (among those its gate picked).
AUTH_CREDENTIALS_TO_ESCAPED_BREAK: Final = Entity(
    "SECRET_VALUE",
    "basic",
    AUTH_SCHEME_HEADER,
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
#: wrote there (`Bearer [JWT]\nxyz`). Before AUTH_CREDENTIALS_TO_ESCAPED_BREAK, which
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
AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS: Final = Entity(
    "SECRET_VALUE",
    "basic",
    AUTH_SCHEME_HEADER,
    rf"(?:[^\s\"',;&\\\[」』][^\s\"',;&\\」』]*|{WRITTEN})"
    rf"(?:{_CREDENTIALS_BREAK}{_TOKEN68_CHARACTER}+=*)+",
    r"(?:\\[nrt])+(?:[A-Za-z0-9][A-Za-z0-9_-]*[ \t]*:|[^A-Za-z0-9._~+/\\-]|\\[^nrt]|$)"
    r"|[^A-Za-z0-9._~+/=\\:-]|\\[^nrt]|$",
    gate_pattern=r"(?i:authorization)",
)


#: After an Authorization header's scheme only (AUTH_SCHEME_CREDENTIALS), not an
#: escaped line break or tab either (`[SECRET_VALUE]\nHost: x`, once
#: AUTH_CREDENTIALS_TO_ESCAPED_BREAK wrote the credentials of a header in a JSON
#: string): the next line is no more of the credentials, and it was taken. After any
#: other lead it is more of the value (`password=[GITHUB_TOKEN]\nSECRET` left `\nSECRET`
#: in clear when every lead read it so).
_AUTH_ESCAPE_THEN_MORE = r"\\[^\s\"'\\nrt]|(?:\\\\)+[^\s\"'\\]"


#: The credentials after an Authorization header's scheme (`Authorization: Bearer …`,
#: `Token …`, `Basic …`): the keyword pattern's value, but what an earlier rule wrote
#: there is not read on over an escaped line break or tab (_AUTH_ESCAPE_THEN_MORE:
#: `Bearer [SECRET_VALUE]\nHost: x` took `\nHost:` once
#: AUTH_CREDENTIALS_TO_ESCAPED_BREAK wrote the credentials). A layout of its own, run
#: after that one and before the keyword pattern, whose lead held this one's (a value
#: cannot tell which lead it follows): every other lead reads the break as more of the
#: value, as before. Only values holding "authorization".
AUTH_SCHEME_CREDENTIALS: Final = Entity(
    "SECRET_VALUE",
    "basic",
    AUTH_SCHEME_HEADER,
    rf"{assigned_start(written_then_more(_AUTH_ESCAPE_THEN_MORE))}{ASSIGNED_REST}"
    rf"|{not_null_value(ASSIGNED_REST)}",
    "",
    gate_pattern=r"(?i:authorization)",
)
