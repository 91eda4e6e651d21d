"""HTTP headers logged as a Python dict's repr or a JS object (`{'Cookie': 'sid=…'}`,
`print(request.headers)`), not as header lines: the credentials a `Cookie: sid=…` line
loses at every level were left in clear when the header's value was a single-quoted
string (the JSON form, `{"Cookie": "sid=…"}`, was read). The dict form follows the
header line's level (basic, so every level). Look-alikes beside them must stay."""

from __future__ import annotations

import ast
from pathlib import Path

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

LEVELS = ["basic", "moderate", "strict"]


def _redact(level: str, texts: list[str]) -> list[str]:
    out, _ = run(pl.DataFrame({"text": texts}), RedactionSpec(level=level))
    return [str(value) for value in out["text"].to_list()]


LEAKS = [
    ("{'Cookie': 'sid=abc123secret'}", "{'Cookie': 'sid=[SECRET_VALUE]'}"),
    ("{'Cookie' : 'sid=abc123secret'}", "{'Cookie' : 'sid=[SECRET_VALUE]'}"),
    ("{'cookie':'sid=abc123secret; theme=dark'}", "{'cookie':'sid=[SECRET_VALUE]'}"),
    (
        "{'Set-Cookie': 'sid=abc123secret; Path=/; HttpOnly', 'Vary': 'x'}",
        "{'Set-Cookie': 'sid=[SECRET_VALUE]', 'Vary': 'x'}",
    ),
    # A requests' headers repr: the cookie among other headers.
    (
        "headers={'Host': 'x', 'Cookie': 'sid=abc123secret; t=1', 'Accept': '*/*'} sent",
        "headers={'Host': 'x', 'Cookie': 'sid=[SECRET_VALUE]', 'Accept': '*/*'} sent",
    ),
    # A value holding a single quote: Python's repr writes it in double quotes.
    ("{'Cookie': \"sid=it's-secret\"}", "{'Cookie': \"sid=[SECRET_VALUE]\"}"),
    # An escaped quote inside the value is the value's.
    ("{'Cookie': 'sid=a\\'b; x=1', 'n': 1}", "{'Cookie': 'sid=[SECRET_VALUE]', 'n': 1}"),
    # Bytes and unicode prefixes (Python 2, raw headers).
    ("{b'Cookie': b'sid=abc123secret'}", "{b'Cookie': b'sid=[SECRET_VALUE]'}"),
    ("{u'Cookie': u'sid=abc123secret'}", "{u'Cookie': u'sid=[SECRET_VALUE]'}"),
    # A JS object or YAML line quoting the value only.
    ("{Cookie: 'sid=abc123secret'}", "{Cookie: 'sid=[SECRET_VALUE]'}"),
    ("Cookie: 'sid=abc123secret'", "Cookie: 'sid=[SECRET_VALUE]'"),
    # The repr inside a JSON string.
    (
        '{"msg": "headers={\'Cookie\': \'sid=abc123secret\'}", "n": 1}',
        '{"msg": "headers={\'Cookie\': \'sid=[SECRET_VALUE]\'}", "n": 1}',
    ),
    # Set-Cookie as a list of its cookies.
    (
        "{'Set-Cookie': ['sid=abc123secret; Path=/', 't=xyz'], 'n': 1}",
        "{'Set-Cookie': ['sid=[SECRET_VALUE]'], 'n': 1}",
    ),
    # pprint's wrap of a long value into adjacent literals, on lines of their own: every
    # literal is the value's (only the first was read; the cookies after it stayed).
    (
        "{'Cookie': '_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; '\n"
        "           'JSESSIONID=9F8E7D6C5B4A39281706F5E4D3C2B1A0; '\n"
        "           'AWSALB=Zx9secretAlbStickyValue'}",
        "{'Cookie': '_ga=[SECRET_VALUE]'}",
    ),
    # A chunk holding an apostrophe, in double quotes as repr writes it.
    (
        "{'Cookie': 'sid=abc123secret; ' \"pref=it's; \" 'tok=zz9secret'}",
        "{'Cookie': 'sid=[SECRET_VALUE]'}",
    ),
    # A line break after the colon (pprint, a wide key).
    ("{'Cookie':\n  'sid=abc123secret'}", "{'Cookie':\n  'sid=[SECRET_VALUE]'}"),
    # A double-quoted value after an unquoted key (YAML, a JS object).
    ('Cookie: "sid=abc123secret"', 'Cookie: "sid=[SECRET_VALUE]"'),
    ('cookie: "sid=abc123secret; t=1"', 'cookie: "sid=[SECRET_VALUE]"'),
    ('{Cookie: "sid=abc123secret"}', '{Cookie: "sid=[SECRET_VALUE]"}'),
    ("{\"Cookie\": ['sid=abc123secret']}", "{\"Cookie\": ['sid=[SECRET_VALUE]']}"),
    ("Set-Cookie: ['sid=abc123secret', 't=x']", "Set-Cookie: ['sid=[SECRET_VALUE]']"),
    ("{'Set-Cookie': [\"sid=it's\", 't=x']}", "{'Set-Cookie': [\"sid=[SECRET_VALUE]']}"),
    ('{"Cookie":\n  "sid=abc123secret"}', '{"Cookie":\n  "sid=[SECRET_VALUE]"}'),
    # A tuple of Set-Cookie values.
    ("{'Set-Cookie': ('sid=abc123secret', 't=x')}", "{'Set-Cookie': ('sid=[SECRET_VALUE]')}"),
    ("{'Set-Cookie': ('sid=abc123secret',)}", "{'Set-Cookie': ('sid=[SECRET_VALUE]',)}"),
    # A list holding an item in double quotes (repr's, for an item holding "'"): the
    # whole list was left in clear. Its closing quote is the last item's.
    (
        "{'Set-Cookie': ['sid=abc123secret; Path=/', \"pref=it's\"]}",
        "{'Set-Cookie': ['sid=[SECRET_VALUE]\"]}",
    ),
    (
        "{'Set-Cookie': ['sid=abc123secret', \"pref=it's\", 't=zz9']}",
        "{'Set-Cookie': ['sid=[SECRET_VALUE]']}",
    ),
    # Digest credentials.
    (
        "{'Authorization': 'Digest username=\"bob\", response=\"6629fae49393a05397450978"
        "507c4ef1\"', 'Host': 'h'}",
        "{'Authorization': 'Digest [SECRET_VALUE]', 'Host': 'h'}",
    ),
]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("text", "expected"), LEAKS)
def test_a_header_s_credentials_in_a_dict_repr_are_redacted(
    level: str, text: str, expected: str
) -> None:
    assert _redact(level, [text]) == [expected]


@pytest.mark.parametrize(
    "text", [text for text, _ in LEAKS if text.startswith("{'") and "[" not in text]
)
def test_the_repr_stays_a_python_literal(text: str) -> None:
    """Only the value's inside is written over: the dict is still one Python reads back,
    every key in place."""
    (written,) = _redact("basic", [text])
    assert ast.literal_eval(written).keys() == ast.literal_eval(text).keys()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "text",
    [
        "{'Content-Type': 'text/plain'}",
        "{'Accept': 'application/json', 'User-Agent': 'curl/8.0'}",
        "{'Cookie-Policy': 'strict'}",
        "{'Cookie': 'none'}",
        "{'Cookie': 'chocolate chip'}",
        "{'cookie recipe': 'flour=2 cups'}",
        "{'Cookies': 'sid=3'}",
        "{'Authorization': None}",
        "{'Authorization': ''}",
        "{'WWW-Authenticate': 'Digest realm=\"x\", nonce=\"abc\"'}",
        "{'digest': 'weekly=news'}",
        "favourite cookie: 'oatmeal'",
        "{'Cookie-Policy': \"strict\"}",
        'cookie: "chocolate chip"',
        'Cookie: "none"',
        'cookies: "yes"',
        "{'Cookie': 'none' 'chocolate chip'}",
        "{Cookie: [\"oatmeal\", 'chip']}",
    ],
)
def test_look_alikes_stay(level: str, text: str) -> None:
    assert _redact(level, [text]) == [text]


@pytest.mark.parametrize(
    "spec_rule",
    [
        "pattern=SECRET_VALUE:redact",
        "pattern=SECRET_VALUE:mask:4",
        "pattern=SECRET_VALUE:hash:k",
        "pattern=SECRET_VALUE:null",
    ],
)
@pytest.mark.parametrize(
    "text",
    [
        "{'Cookie': 'sid=abc123secret; t=zz9'}",
        "{'Set-Cookie': ['sid=abc123secret', 't=zz9']}",
        "{'Cookie': 'sid=abc123secret; '\n 'tok=abc123secret; t=zz9'}",
        'Cookie: "sid=abc123secret; t=zz9"',
        "{'Set-Cookie': ['sid=abc123secret', \"p=it's abc123secret\", 't=zz9']}",
        "{'Authorization': 'Digest username=\"bob\", response=\"abc123secret zz9\"'}",
    ],
)
def test_every_action_hides_the_credentials(spec_rule: str, text: str, tmp_path: Path) -> None:
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    settings = settings_with_keys(tmp_path, k=b"k" * 32)
    out, _ = run(pl.DataFrame({"text": [text]}), spec, settings)
    written = out["text"][0]
    if spec_rule.endswith("null"):
        assert written is None
    else:
        assert "abc123secret" not in written
        # A mask shows the value's last characters (at most half of it), nothing else.
        assert ("zz9" in written) == spec_rule.endswith("mask:4")
