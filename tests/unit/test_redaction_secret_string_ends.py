"""Secrets the keyword entity SECRET_VALUE still mishandled in text on main (session
28's reviews, fixed in session 29): a header's value that ran on past an escaped line
break or took a Python string's closing quote, an Authorization credential that took
the next header, values in JSON escaped twice, and a Python repr's escaped quote in a
JSON string. Each case is the exact text written, at every level; where the text was
JSON or a Python literal it still is."""

from __future__ import annotations

import ast
import json

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

LEVELS = ["basic", "moderate", "strict"]


def _redact(level: str, text: str) -> str:
    out, _ = run(pl.DataFrame({"text": [text]}), RedactionSpec(level=level))
    return str(out["text"][0])


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An HTTP request dumped as one JSON string: the cookies end at the escaped line
        # break before the next header (`\nHost:` and the body were taken).
        (
            '{"raw": "GET / HTTP/1.1\\nCookie: sid=abc123\\nHost: example.com\\n\\nbody"}',
            '{"raw": "GET / HTTP/1.1\\nCookie: sid=[SECRET_VALUE]\\nHost: example.com\\n\\nbody"}',
        ),
        (
            '{"raw": "GET /\\r\\nCookie: a=1\\r\\nHost: h\\r\\n\\r\\nbody"}',
            '{"raw": "GET /\\r\\nCookie: a=[SECRET_VALUE]\\r\\nHost: h\\r\\n\\r\\nbody"}',
        ),
        (
            '{"raw": "GET /\\nAuthorization: Digest username=\\"bob\\", '
            'response=\\"r1\\"\\nHost: x"}',
            '{"raw": "GET /\\nAuthorization: Digest [SECRET_VALUE]\\nHost: x"}',
        ),
        # Each Set-Cookie of a response, and a Digest header named with a prefix.
        (
            '{"raw": "HTTP/1.1 200 OK\\nSet-Cookie: a=1; Path=/\\nDate: d\\nSet-Cookie: b=2\\n'
            'Content-Type: t\\nProxy-Authorization: Digest username=\\"u\\", response=\\"r\\"'
            '\\nContent-Length: 0"}',
            '{"raw": "HTTP/1.1 200 OK\\nSet-Cookie: a=[SECRET_VALUE]\\nDate: d\\n'
            "Set-Cookie: b=[SECRET_VALUE]\\nContent-Type: t\\n"
            'Proxy-Authorization: Digest [SECRET_VALUE]\\nContent-Length: 0"}',
        ),
        # Before another Cookie header the value runs on over it (its own lead would
        # have been the trail's): nothing of it is left.
        (
            '{"raw": "GET /\\nCookie: a=1\\nCookie: b=2\\nHost: h"}',
            '{"raw": "GET /\\nCookie: a=[SECRET_VALUE]\\nHost: h"}',
        ),
    ],
)
def test_a_header_in_a_json_string_ends_at_the_next_header(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "text",
    [
        # After an escaped line break, what is no header's name and ":" (a bracket, a
        # literal, words) does not end the header: `sid=zqsecret` went on being taken.
        '{"log": "Cookie: a=\\"b\\"\\n}; sid=zqsecret"}',
        '{"log": "Cookie: a=\\"b\\"\\n]; sid=zqsecret"}',
        '{"log": "Cookie: a=\\"b\\",\\n1; sid=zqsecret"}',
        '{"log": "Cookie: a=\\"b\\"\\ntrue; sid=zqsecret"}',
        '{"log": "Cookie: a=1\\n sid=zqsecret"}',
    ],
)
def test_a_line_break_that_no_header_follows_does_not_end_one(level: str, text: str) -> None:
    out = _redact(level, text)
    assert "[SECRET_VALUE]" in out
    assert "zqsecret" not in out
    json.loads(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A header in a Python string: its closing quote and what follows were taken.
        ("['GET /\\nCookie: sid=abc', 1]", "['GET /\\nCookie: sid=[SECRET_VALUE]', 1]"),
        ("['GET /\\nCookie: sid=abc']", "['GET /\\nCookie: sid=[SECRET_VALUE]']"),
        ("{'m': ['Cookie: sid=abc']}", "{'m': ['Cookie: sid=[SECRET_VALUE]']}"),
        ("('Cookie: sid=abc', True)", "('Cookie: sid=[SECRET_VALUE]', True)"),
        ("'GET /\\nCookie: sid=abc'", "'GET /\\nCookie: sid=[SECRET_VALUE]'"),
    ],
)
def test_a_header_in_a_python_string_keeps_its_closing_quote(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    ast.literal_eval(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "text",
    [
        # Look-alikes in plain text: a quote before anything Python would not follow it
        # with is the value's; the cookies after it go too.
        "Cookie: a='x', b=zqsecret",
        "Cookie: a='x'], b=zqsecret",
        "Cookie: a='x', 1 b=zqsecret",
    ],
)
def test_a_quote_python_would_not_follow_so_ends_no_header(level: str, text: str) -> None:
    out = _redact(level, text)
    assert out.startswith("Cookie: a=[SECRET_VALUE]")
    assert "zqsecret" not in out


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The credentials took the escaped line break and the next header's name.
        (
            '{"raw": "GET /\\nAuthorization: Bearer tok123456\\nHost: x"}',
            '{"raw": "GET /\\nAuthorization: Bearer [SECRET_VALUE]\\nHost: x"}',
        ),
        (
            '{"raw": "GET /\\nAuthorization: Basic YTpi\\r\\nHost: x"}',
            '{"raw": "GET /\\nAuthorization: Basic [SECRET_VALUE]\\r\\nHost: x"}',
        ),
        (
            '{"raw": "GET /\\nAuthorization: Token abc\\tHost: x"}',
            '{"raw": "GET /\\nAuthorization: Token [SECRET_VALUE]\\tHost: x"}',
        ),
        # A token an earlier rule wrote: the keyword pattern no longer takes the line
        # after its tag.
        (
            '{"raw": "GET /\\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz0123\\nHost: x"}',
            '{"raw": "GET /\\nAuthorization: Bearer [BEARER_TOKEN]\\nHost: x"}',
        ),
    ],
)
def test_authorization_credentials_end_at_an_escaped_line_break(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    json.loads(out)


def _dumped_thrice(document: object) -> str:
    """A JSON document dumped as a string twice more: its quotes escaped twice."""
    return json.dumps(json.dumps(json.dumps(document)))


def _loaded_thrice(text: str) -> object:
    return json.loads(json.loads(json.loads(text)))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # A secret's value escaped twice holding a backslash or a quote at its end, its
        # start or before one another: the value matched no way and was left in clear.
        ({"password": "zq\\"}, {"password": "[SECRET_VALUE]"}),
        ({"password": '"zq'}, {"password": "[SECRET_VALUE]"}),
        ({"password": 'zq\\"b'}, {"password": "[SECRET_VALUE]"}),
        ({"password": "\\"}, {"password": "[SECRET_VALUE]"}),
        ({"password": 'zq"', "user": "bob"}, {"password": "[SECRET_VALUE]", "user": "bob"}),
        # A one-word value in a string escaped twice took two of the closing quote's
        # three backslashes: the JSON broke.
        ({"m": "password: zq"}, {"m": "password: [SECRET_VALUE]"}),
        ({"m": "password: zq", "b": 1}, {"m": "password: [SECRET_VALUE]", "b": 1}),
        ({"m": "token=zq"}, {"m": "token=[SECRET_VALUE]"}),
    ],
)
def test_a_secret_escaped_twice_is_taken_whole_and_the_json_kept(
    level: str, document: object, expected: object
) -> None:
    out = _redact(level, _dumped_thrice(document))
    assert _loaded_thrice(out) == expected


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A repr's escaped quote in a JSON string (`\\'`): `s x` was left in clear.
        ("{\"m\": \"{'password': 'it\\\\'s x'}\"}", "{\"m\": \"{'password': '[SECRET_VALUE]'}\"}"),
        (
            "{\"m\": \"{'password': 'don\\\\'t', 'user': 'bob'}\"}",
            "{\"m\": \"{'password': '[SECRET_VALUE]', 'user': 'bob'}\"}",
        ),
        # A value ending in an escaped backslash still ends at the quote after it.
        (
            "{'password': 'zq\\\\', 'user': 'bob'}",
            "{'password': '[SECRET_VALUE]', 'user': 'bob'}",
        ),
    ],
)
def test_a_repr_s_escaped_quote_in_a_json_string_is_the_value_s(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, text)
    assert out == expected
    if text.startswith('{"'):
        ast.literal_eval(json.loads(out)["m"])
    else:
        ast.literal_eval(out)
