"""Where session 29's narrower ends of a secret's value (test_redaction_secret_string_ends)
left a secret in clear that main redacted, the value runs on as main's did: an earlier
rule's tag before an escaped line break under any lead but an Authorization scheme, a
header's value in plain text before a quote that is no Python string's end, a header's
value before an escaped line break that no header known to hold no credentials follows,
and a repr's escaped backslash before the quote closing the string holding it. Over-
redaction is the safe failure; a secret in clear is not."""

from __future__ import annotations

import ast
import json

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

LEVELS = ["basic", "moderate", "strict"]
_PLANTED = "zqplanted"
_GITHUB = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


def _redact(level: str, text: str) -> str:
    out, _ = run(pl.DataFrame({"text": [text]}), RedactionSpec(level=level))
    return str(out["text"][0])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "value",
    [
        _GITHUB,
        "AKIAIOSFODNN7EXAMPLE",
        _JWT,
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    ],
)
@pytest.mark.parametrize("name", ["password=", "token=", "passwd=", "DB_PASSWORD="])
@pytest.mark.parametrize("escape", ["\\n", "\\r", "\\t"])
def test_a_tag_before_an_escaped_line_break_is_more_of_the_value(
    level: str, value: str, name: str, escape: str
) -> None:
    # The tag an earlier rule wrote, then an escaped break and more of the value: every
    # lead read the break as the value's end, and `\nzqplanted` was left in clear.
    text = json.dumps({"m": f"{name}{value}{escape}{_PLANTED}"}).replace("\\\\", "\\")
    out = _redact(level, text)
    assert _PLANTED not in out
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
def test_a_tag_before_an_escaped_line_break_is_the_whole_value(level: str) -> None:
    text = '{"m": "password=' + _GITHUB + '\\nSECRETA"}'
    assert _redact(level, text) == '{"m": "password=[SECRET_VALUE]"}'


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "text",
    [
        # A quote before "," and another string, a bracket or a word is no Python
        # string's end in plain text: the cookies after it were left in clear.
        f"Cookie: msg='hi', 'there'; sessionid={_PLANTED}",
        f"Cookie: prefs=('a', 'b'); sid={_PLANTED}",
        f"Set-Cookie: sid=abc; Path=/; Comment='a', 'b'; HttpOnly; tok={_PLANTED}",
        f"Cookie: a='x', {{sid={_PLANTED}",
        f"Cookie: sid=x')) tok={_PLANTED}",
        f"Authorization: Digest username='u', '{_PLANTED}'",
        f"f('Cookie: sid=a', 'tok={_PLANTED}')",
        f"{{'raw': 'GET /\\nCookie: sid=abc', 'tok': '{_PLANTED}'}}",
    ],
)
def test_a_quote_that_is_no_python_string_s_end_ends_no_header(level: str, text: str) -> None:
    out = _redact(level, text)
    assert "[SECRET_VALUE]" in out
    assert _PLANTED not in out


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "rest",
    [
        # A header's name glued to "-", a header no keyword covers, a body: main ran
        # on over them, the first end at an escaped line break left them in clear.
        f"a=1;\\nsession-id={_PLANTED}",
        f"a=1;\\nlaravel-session={_PLANTED}",
        f"a=1;\\nwp-settings-1=X; sid={_PLANTED}",
        f"a=1\\nX-Sid: {_PLANTED}",
        f"a=1\\nsid: {_PLANTED}",
        f"a=1\\nCredentials: {_PLANTED}",
        f"a=1\\nBearer: {_PLANTED}",
        f"a=1\\n\\nsid={_PLANTED}",
        f"a=1\\r\\n\\r\\nsid={_PLANTED}",
        f"a=1\\nHost-Token: {_PLANTED}",
    ],
)
def test_a_header_runs_on_over_what_may_hold_credentials(level: str, rest: str) -> None:
    out = _redact(level, '{"m": "GET /\\nCookie: ' + rest + '"}')
    assert out.startswith('{"m": "GET /\\nCookie: a=[SECRET_VALUE]')
    assert _PLANTED not in out
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A repr's value ending in an escaped backslash before the quote closing the
        # string holding it: the quote and what followed were taken, the literal broke.
        ("{'m': \"password='abc\\\\'\", 'n': 1}", "{'m': \"password='[SECRET_VALUE]'\", 'n': 1}"),
        ("{'m': \"password='abc\\\\'`\", 'n': 1}", "{'m': \"password='[SECRET_VALUE]'`\", 'n': 1}"),
    ],
)
def test_a_repr_s_escaped_backslash_before_a_string_s_end_keeps_it(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    ast.literal_eval(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A value's last escaped backslashes (or a value of only those) were left in
        # clear: the value took them only before more of it.
        ('{"m": "password=hunter2\\\\"}', '{"m": "password=[SECRET_VALUE]"}'),
        ('{"m": "password: C:\\\\temp\\\\"}', '{"m": "password: [SECRET_VALUE]"}'),
        (
            '{"m": "password=hunter2\\\\\\\\\\\\, user=bob"}',
            '{"m": "password=[SECRET_VALUE], user=bob"}',
        ),
        ('{"m": "password=\\\\\\\\"}', '{"m": "password=[SECRET_VALUE]"}'),
        ("password=abc\\\\ next", "password=[SECRET_VALUE] next"),
        # Not before the closing quote of a string escaped twice: the JSON is kept.
        (
            json.dumps(json.dumps({"m": json.dumps({"password": "zq\\"})})),
            json.dumps(json.dumps({"m": json.dumps({"password": "[SECRET_VALUE]"})})),
        ),
        (
            json.dumps(json.dumps({"m": "password=zq"})),
            json.dumps(json.dumps({"m": "password=[SECRET_VALUE]"})),
        ),
    ],
)
def test_a_value_s_last_escaped_backslashes_are_the_value_s(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    if text.startswith("{"):
        json.loads(out)


@pytest.mark.parametrize("text", ['{"m": "password=\\\\abc"}', '{"m": "password=\\\\\\\\abc"}'])
def test_a_value_s_first_escaped_backslashes_are_not_the_value_alone(text: str) -> None:
    # Taken alone (before the rest of the value), they were masked and the rest shown.
    spec = RedactionSpec(level="basic", rules=(rule("pattern=SECRET_VALUE:mask:4"),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec)
    assert "abc" not in str(out["text"][0])


_AUTH_SCHEMES = ["Bearer abc123.def", "Token 9944b09199c62bcf", "Basic dXNlcjpwYXNz"]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("credentials", [*_AUTH_SCHEMES, "Bearer " + _JWT, "Bearer " + _GITHUB])
@pytest.mark.parametrize("escape", ["\\n", "\\r\\n", "\\t", "\\r"])
@pytest.mark.parametrize("after", ["", " more words", "\\nHost: h", "\\\\", '\\"x'])
def test_a_word_of_credentials_after_an_escaped_line_break_is_theirs(
    level: str, credentials: str, escape: str, after: str
) -> None:
    # A bare word of the credentials' alphabet after one escaped break was left in
    # clear: the break ended them. What follows that word is kept.
    text = json.dumps({"m": f"GET /\nAuthorization: {credentials}"})[:-2]
    text = text + escape + _PLANTED + after + '"}'
    out = _redact(level, text)
    assert _PLANTED not in out
    assert out.endswith(after + '"}')
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("credentials", _AUTH_SCHEMES)
@pytest.mark.parametrize(
    "rest",
    [
        "\\nHost: example.com",
        "\\r\\nAccept: text/html",
        "\\nX-Request-Id: 42",
        "\\n\\nbody text",
        '\\n{\\"a\\": 1}',
        "\\n hello",
    ],
)
def test_a_header_body_or_indent_after_credentials_break_stays(
    level: str, credentials: str, rest: str
) -> None:
    scheme = credentials.split(" ")[0]
    out = _redact(level, '{"m": "Authorization: ' + credentials + rest + '"}')
    assert out == '{"m": "Authorization: ' + scheme + " [SECRET_VALUE]" + rest + '"}'


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("lead", ["password=", "secret: ", "api_key=", "DB_PASSWORD="])
@pytest.mark.parametrize("escape", ["\\n", "\\r\\n", "\\t", "\\\\\\\\\\n"])
def test_a_value_ends_at_an_escaped_line_break_as_at_a_real_one(
    level: str, lead: str, escape: str
) -> None:
    # The value took the escaped break and the next line's first word with it, which a
    # real line break ends: `{"m": "password=[SECRET_VALUE] line"}` lost `\nnext`.
    out = _redact(level, '{"m": "' + lead + "hunter2" + escape + 'next line"}')
    assert out == '{"m": "' + lead + "[SECRET_VALUE]" + escape + 'next line"}'
    assert _redact(level, lead + "hunter2\nnext line") == lead + "[SECRET_VALUE]\nnext line"


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A header in a dict repr's single-quoted string, a key with a literal after it:
        # the value ran on to the line's end and the literal broke.
        ("{'h': 'Cookie: sid=abc', 'x': 1}", "{'h': 'Cookie: sid=[SECRET_VALUE]', 'x': 1}"),
        (
            "{'h': 'GET /\\nCookie: sid=abc; t=y', 'n': None, 'y': 'z'}",
            "{'h': 'GET /\\nCookie: sid=[SECRET_VALUE]', 'n': None, 'y': 'z'}",
        ),
        (
            "{'h': 'Authorization: Digest username=\"u\", response=\"r\"', 'x': -1.5}",
            "{'h': 'Authorization: Digest [SECRET_VALUE]', 'x': -1.5}",
        ),
        (
            "[{'h': 'Set-Cookie: sid=abc; Path=/', 'ok': True}]",
            "[{'h': 'Set-Cookie: sid=[SECRET_VALUE]', 'ok': True}]",
        ),
    ],
)
def test_a_header_in_a_dict_repr_s_string_ends_at_its_quote(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    ast.literal_eval(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("credentials", ["nabc7", "n0tnull", "abc7"])
@pytest.mark.parametrize("scheme", ["Bearer", "Basic", "Token"])
@pytest.mark.parametrize("escape", ["\\\\\\n", "\\\\\\t", "\\\\\\r", "\\\\\\r\\n"])
def test_credentials_run_on_over_an_escaped_backslash_and_break(
    level: str, credentials: str, scheme: str, escape: str
) -> None:
    # Credentials starting with "n" (not `null`) stopped at an escaped backslash then
    # an escaped break, and the rest of them was left in clear: the not-null value the
    # header's layout shares with the keyword pattern ends there (a keyword's value
    # does at a break), the header's credentials run on over it.
    text = '{"m": "Authorization: ' + f"{scheme} {credentials}{escape}{_PLANTED} more" + '"}'
    out = _redact(level, text)
    assert out == '{"m": "Authorization: ' + scheme + ' [SECRET_VALUE] more"}'
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("credentials", _AUTH_SCHEMES)
def test_a_word_starting_the_next_line_after_credentials_is_taken(
    level: str, credentials: str
) -> None:
    # A trade-off (secret_authorization.AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS): a request
    # line's first word after an escaped break cannot be told from a piece of the
    # credentials followed by a space, so it is written over with them (main kept
    # `\nGET`); what follows it stays.
    scheme = credentials.split(" ")[0]
    out = _redact(level, '{"m": "Authorization: ' + credentials + '\\nGET /x HTTP/1.1"}')
    assert out == '{"m": "Authorization: ' + scheme + ' [SECRET_VALUE] /x HTTP/1.1"}'
    json.loads(out)
