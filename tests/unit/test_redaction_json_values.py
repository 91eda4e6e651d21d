"""JSON text whose named keys hold objects, arrays or null, and Authorization headers
with a short Bearer token: a security review found each left in clear or the JSON
broken. A secret key's object or array becomes one string tag, null stays null, and
the output of valid JSON is valid JSON with no secret leaf left (a property)."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.json_keys import JSON_NESTING
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run


def _redact(level: str, texts: list[str]) -> list[str]:
    out, _ = run(pl.DataFrame({"text": texts}), RedactionSpec(level=level))
    return [str(value) for value in out["text"].to_list()]


@pytest.mark.parametrize(
    ("level", "text", "expected"),
    [
        ("basic", '{"password": {"value": "hunter2"}}', '{"password": "[SECRET]"}'),
        (
            "basic",
            '{"credentials": {"user": "bob", "pass": "hunter2"}, "id": 1}',
            '{"credentials": "[SECRET]", "id": 1}',
        ),
        ("basic", '{"password":null}', '{"password":null}'),
        ("basic", '{"a": {"api_key": null}, "b": 2}', '{"a": {"api_key": null}, "b": 2}'),
        ("basic", '{"passwords": [], "x": 1}', '{"passwords": [], "x": 1}'),
        ("basic", '{"credentials": { }}', '{"credentials": "[SECRET]"}'),
        ("basic", '{"token": [[]]}', '{"token": "[SECRET]"}'),
        ("basic", '{"token": [ "a" ]}', '{"token": "[SECRET]"}'),
        ("basic", '{"token": ["a", {"b": ["c"]}]}', '{"token": "[SECRET]"}'),
        ("basic", '{"password": {"v": "x}{]["}}', '{"password": "[SECRET]"}'),
        ("basic", '{"password": {"v": "a\\"}b"}}', '{"password": "[SECRET]"}'),
        ("strict", '{"name": ["Alice","Bob"]}', '{"name": "[NAME]"}'),
        ("strict", '{"email": ["a@b.co", "c@d.co"], "n": 1}', '{"email": "[EMAIL]", "n": 1}'),
    ],
)
def test_named_keys_with_containers_or_null(level: str, text: str, expected: str) -> None:
    (out,) = _redact(level, [text])
    assert out == expected
    json.loads(out)


@pytest.mark.parametrize(
    ("level", "text", "expected"),
    [
        # json.dumps escapes a non-ASCII key: the glob's "*" must read through escapes.
        (
            "moderate",
            '{"t\\u00e9l\\u00e9phone": "0612345678"}',
            '{"t\\u00e9l\\u00e9phone": "[PHONE]"}',
        ),
        (
            "strict",
            '{"\\u00e9tudiant_full_name": "Jean Dupont"}',
            '{"\\u00e9tudiant_full_name": "[NAME]"}',
        ),
        ("strict", '{"k\\u00e4ufer_email": "x at y"}', '{"k\\u00e4ufer_email": "[EMAIL]"}'),
        ("basic", '{"\\u00fcber_password": 12345}', '{"\\u00fcber_password": "[SECRET]"}'),
        ("basic", '{"a\\/b_api_key": 77}', '{"a\\/b_api_key": "[SECRET]"}'),
        ("basic", '{"db\\\\user_password": "x"}', '{"db\\\\user_password": "[SECRET]"}'),
    ],
)
def test_keys_holding_json_escapes_match_their_rule(level: str, text: str, expected: str) -> None:
    (out,) = _redact(level, [text])
    assert out == expected
    json.loads(out)


def test_escaped_json_inside_a_string_is_no_key() -> None:
    # The key rule does not read `\"db_password\"` as a key: its quoted tag would end
    # the string. (The keyword entity takes the value inside the string.)
    (out,) = _redact("basic", ['{"msg": "{\\"db_password\\": 5}"}'])
    assert json.loads(out)["msg"] != '{"db_password": 5}'
    assert '"[SECRET]"' not in out


def test_a_value_nested_as_deep_as_promised_is_taken_whole() -> None:
    value: Any = "hunter2"
    for _ in range(JSON_NESTING):
        value = [value] if isinstance(value, dict) else {"v": value}
    text = json.dumps({"password": value})
    assert text.count("[") + text.count("{") == JSON_NESTING + 1
    assert _redact("basic", [text]) == ['{"password": "[SECRET]"}']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456", "Authorization: Bearer [SECRET_VALUE]"),
        (
            "curl -H 'Authorization: Bearer abc123def456'",
            "curl -H 'Authorization: Bearer [SECRET_VALUE]'",
        ),
        (
            'headers={"Authorization": "Bearer abc123def456"}',
            'headers={"Authorization": "Bearer [SECRET_VALUE]"}',
        ),
        ("authorization: bearer x1", "authorization: bearer [SECRET_VALUE]"),
    ],
)
def test_short_bearer_tokens_after_the_header(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "password=n",  # not null, but too short to be spelt as "not null" without look-ahead
        "password=null",
        'password: null, "x": 1',
        "bearer bonds and a bearer of news",  # no header: prose stays
        "Authorization: Bearer\nnext line",  # no token on the header's line
    ],
)
def test_null_and_prose_stay(text: str) -> None:
    assert _redact("basic", [text]) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=nullx", "password=[SECRET_VALUE]"),
        ("password=null}x", "password=[SECRET_VALUE]"),
        ("password=nope", "password=[SECRET_VALUE]"),
        ("password=Null", "password=[SECRET_VALUE]"),
    ],
)
def test_values_starting_like_null_are_secrets(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


# -- property: valid JSON stays valid and no secret leaf survives ---------------------

# Non-ASCII keys too: json.dumps (ensure_ascii) writes them with escapes (`\u00fc`).
_SECRET_KEYS = (
    "password",
    "api_key",
    "credentials",
    "DB_PASSWORD",
    "clientSecret",
    "token",
    "\u00fcber_password",
    "cl\u00e9_api_key",
)
_PII_KEYS = ("name", "email", "phone", "address", "t\u00e9l\u00e9phone", "pr\u00e9nom_last_name")
_PLAIN_KEYS = ("id", "items", "meta", "note", "user", "x", "caf\u00e9")
# Plain text with JSON's own characters in it (json.dumps escapes the quotes), never
# "hunter" (the secret leaves' marker) nor a secret's name.
_PLAIN_TEXT = st.text(alphabet=st.sampled_from(list('abcxyz 01-_.:,{}[]"\\')), max_size=8)


@st.composite
def _secret_leaf(draw: st.DrawFn) -> str:
    return f"hunter{draw(st.integers(0, 10**6))}x"


def _values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(leaf, st.integers(0, 999), st.booleans(), st.none())
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(_PLAIN_KEYS), inner, max_size=3),
        ),
        max_leaves=8,
    )


@st.composite
def _document(draw: st.DrawFn, keys: tuple[str, ...]) -> tuple[Any, list[str]]:
    """A JSON document with named keys at various depths; the secret leaves under them."""
    secrets: list[str] = []

    def secret_value() -> Any:
        value = draw(_values(_secret_leaf()))
        secrets.extend(_strings(value))
        return value

    def node(depth: int) -> Any:
        entries: dict[str, Any] = {}
        for _ in range(draw(st.integers(1, 3))):
            if depth < 4 and draw(st.booleans()):
                entries[draw(st.sampled_from(_PLAIN_KEYS))] = (
                    [node(depth + 1)] if draw(st.booleans()) else node(depth + 1)
                )
            elif draw(st.booleans()):
                entries[draw(st.sampled_from(keys))] = secret_value()
            else:
                entries[draw(st.sampled_from(_PLAIN_KEYS))] = draw(_values(_PLAIN_TEXT))
        return entries

    return node(0), secrets


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(
    docs=st.lists(_document(_SECRET_KEYS), min_size=1, max_size=4),
    indent=st.sampled_from([None, 2]),
)
def test_secret_keys_at_any_depth_keep_json_valid_at_basic(
    docs: list[tuple[Any, list[str]]], indent: int | None
) -> None:
    _check(docs, indent, "basic")


@_SETTINGS
@given(
    docs=st.lists(_document(_SECRET_KEYS + _PII_KEYS), min_size=1, max_size=4),
    indent=st.sampled_from([None, 2]),
)
def test_named_keys_at_any_depth_keep_json_valid_at_strict(
    docs: list[tuple[Any, list[str]]], indent: int | None
) -> None:
    _check(docs, indent, "strict")


def _check(docs: list[tuple[Any, list[str]]], indent: int | None, level: str) -> None:
    texts = [json.dumps(doc, indent=indent) for doc, _ in docs]
    for text, out, (_, secrets) in zip(texts, _redact(level, texts), docs, strict=True):
        json.loads(out)
        for secret in secrets:
            assert secret not in out, (text, out)


# -- YAML block scalars and empty .env values ----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password: >-\n  hunter2\nother: 1", "password: [SECRET_VALUE]\nother: 1"),
        ("password: |\n  hunter2\n  more\n\n  again\nx: 1", "password: [SECRET_VALUE]\nx: 1"),
        ("password: |2-\r\n  hunter2\r\nx: 1", "password: [SECRET_VALUE]\r\nx: 1"),
        ("- api_key: >\n    s3cr3t\n", "- api_key: [SECRET_VALUE]\n"),
        # Under an indented key, its siblings go with it (over-redaction).
        (
            "db:\n  password: |\n    hunter2\n  host: x\ntop: 1",
            "db:\n  password: [SECRET_VALUE]\ntop: 1",
        ),
        # A plain value on the next, indented line.
        ("password:\n  hunter2\nx: 1", "password:\n  [SECRET_VALUE]\nx: 1"),
        # A comment after the indicator; a blank line before the first indented line.
        ("password: |  # comment\n  hunter2\nx: 1", "password: [SECRET_VALUE]\nx: 1"),
        ("password: >\n\n  hunter2\nx: 1", "password: [SECRET_VALUE]\nx: 1"),
    ],
)
def test_yaml_block_scalars_under_a_secret_name(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "DB_PASSWORD=\nDB_HOST=db.internal",
        "API_TOKEN=\r\nDEBUG=1",
        "password:\nhost: db.internal",
        "token: >\n\nnext: 1",
    ],
)
def test_an_empty_value_leaves_the_next_line_alone(text: str) -> None:
    assert _redact("basic", [text]) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Blank lines before the indented value.
        ("password:\n  \n  hunter2", "password:\n  \n  [SECRET_VALUE]"),
        ("password: \n\n    hunter2", "password: \n\n    [SECRET_VALUE]"),
        # A quoted value on the next line, indented or not (JSON one token a line).
        ('{\n"passphrase":\n"hunter2"\n}', '{\n"passphrase":\n"[SECRET_VALUE]"\n}'),
        ('{"passphrase":\r\n"hunter2"}', '{"passphrase":\r\n"[SECRET_VALUE]"}'),
        ('pwd:\n"hunter2"', 'pwd:\n"[SECRET_VALUE]"'),
        # A lone CR and a no-break space are spaces.
        ("password:\rhunter2", "password:\r[SECRET_VALUE]"),
        ("password:\n\xa0hunter2", "password:\n\xa0[SECRET_VALUE]"),
    ],
)
def test_a_value_after_the_line_break_of_its_name(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<add key="Password" value="hunter2"/>', '<add key="Password" value="[SECRET_VALUE]"/>'),
        (
            "<add key='DbPassword' value='a b c' />",
            "<add key='DbPassword' value='[SECRET_VALUE]' />",
        ),
        (
            '<appSettings>\n  <add key="ApiKey" value="k-123" />\n</appSettings>',
            '<appSettings>\n  <add key="ApiKey" value="[SECRET_VALUE]" />\n</appSettings>',
        ),
        # A backslash, the other quote, the value first, escaped in JSON.
        ('<add key="Password" value="ab\\cd3fg"/>', '<add key="Password" value="[SECRET_VALUE]"/>'),
        (
            '<add key="Password" value="it\'s-s3cret-long"/>',
            '<add key="Password" value="[SECRET_VALUE]"/>',
        ),
        ('<add value="hunter2" key="Password"/>', '<add value="[SECRET_VALUE]" key="Password"/>'),
        (
            '{"c": "<add key=\\"Password\\" value=\\"hunter2\\"/>"}',
            '{"c": "<add key=\\"Password\\" value=\\"[SECRET_VALUE]\\"/>"}',
        ),
    ],
)
def test_config_settings_named_as_secrets(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    "text", ['<add key="Timeout" value="30"/>', '<add key="ApiKey" value=""/>']
)
def test_other_config_settings_stay(text: str) -> None:
    assert _redact("basic", [text]) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("curl -u admin:s3cret https://x", "curl -u admin:[SECRET_VALUE] https://x"),
        ("curl -s --user 'bob:pa ss' https://x", "curl -s --user 'bob:[SECRET_VALUE]' https://x"),
        ("curl --user=bob:hunter2 x", "curl --user=bob:[SECRET_VALUE] x"),
        ("curl -uadmin:hunter2 x", "curl -uadmin:[SECRET_VALUE] x"),
        ("curl -u admin:'hunter2' x", "curl -u admin:'[SECRET_VALUE]' x"),
        ("curl -u admin:s3cret https://x | jq .", "curl -u admin:[SECRET_VALUE] https://x | jq ."),
    ],
)
def test_curl_user_passwords(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "docker run -u 1000:1000 img",
        "curl -u admin https://x",
        # Another command on curl's line.
        "curl -s https://api/x | jq -r .a; docker run -u 1000:1000 img",
        "curl -s x && docker run -u 1000:1000 img",
    ],
)
def test_other_user_flags_stay(text: str) -> None:
    assert _redact("basic", [text]) == [text]
