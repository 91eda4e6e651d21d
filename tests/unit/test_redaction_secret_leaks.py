"""Secrets the keyword entity SECRET_VALUE left in clear or wrote over JSON it broke
(session 26's hunt): a JSON value under a secret's key that is no string, a
passphrase of several words after `password:`, names with a word after the secret's
(`SECRET_KEY_BASE`, `API_KEY_V2`, `password_hash`), Cookie headers and Digest
credentials. Each must-redact case has its nearest look-alikes kept beside it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys


def _redact(level: str, texts: list[str]) -> list[str]:
    out, _ = run(pl.DataFrame({"text": texts}), RedactionSpec(level=level))
    return [str(value) for value in out["text"].to_list()]


@pytest.mark.parametrize("level", ["basic", "moderate", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"passphrase": {"v": "x"}}', '{"passphrase": "[SECRET_VALUE]"}'),
        ('{"db_pass": 5}', '{"db_pass": "[SECRET_VALUE]"}'),
        ('{"db_pass": -1.5e3, "a": 1}', '{"db_pass": "[SECRET_VALUE]", "a": 1}'),
        ('{"db_pass": true}', '{"db_pass": "[SECRET_VALUE]"}'),
        ('{"a": {"db_pass": false}}', '{"a": {"db_pass": "[SECRET_VALUE]"}}'),
        ('{"db_pass": [1, 2], "b": 2}', '{"db_pass": "[SECRET_VALUE]", "b": 2}'),
        ('{"db_pass": ["a", {"b": "c"}]}', '{"db_pass": "[SECRET_VALUE]"}'),
        ('{"db_pass": {}}', '{"db_pass": "[SECRET_VALUE]"}'),
        ('{\n  "db_pass": {\n    "v": 1\n  }\n}', '{\n  "db_pass": "[SECRET_VALUE]"\n}'),
        # JSON escaped inside a string: a number or boolean, written escaped.
        (
            '{"m": "{\\"db_pass\\": 5, \\"a\\": true}"}',
            '{"m": "{\\"db_pass\\": \\"[SECRET_VALUE]\\", \\"a\\": true}"}',
        ),
        # Look-alikes: null and an empty array stay, as under a column rule's key; a
        # list of strings keeps its shape; a number that is no JSON is the keyword's.
        ('{"db_pass": null}', '{"db_pass": null}'),
        ('{"db_pass": []}', '{"db_pass": []}'),
        ('{"db_pass": ["a", "b"]}', '{"db_pass": ["[SECRET_VALUE]"]}'),
        ('{"bypass": 5, "pass": true}', '{"bypass": 5, "pass": true}'),
    ],
)
def test_json_values_under_a_secret_key_are_json_strings(
    level: str, text: str, expected: str
) -> None:
    assert _redact(level, [text]) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        '{"passphrase": {"v": "x"}}',
        '{"db_pass": 5, "n": null}',
        '{"x": [{"db_pass": [1, {"k": true}]}], "y": "z"}',
        '{"m": "{\\"db_pass\\": 12345}"}',
    ],
)
@pytest.mark.parametrize(
    "spec_rule",
    [
        "pattern=SECRET_VALUE:redact",
        "pattern=SECRET_VALUE:mask:2",
        "pattern=SECRET_VALUE:mask",
        "pattern=SECRET_VALUE:hash:k",
    ],
)
def test_json_stays_json_under_every_action(text: str, spec_rule: str, tmp_path: Path) -> None:
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec, settings_with_keys(tmp_path, k=b"k" * 32))
    written = json.loads(out["text"][0])
    assert written != json.loads(text)
    if isinstance(written.get("m"), str):
        assert json.loads(written["m"]) != json.loads(json.loads(text)["m"])
    assert '"x"' not in json.dumps(written.get("passphrase", ""))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password: correct horse battery staple", "password: [SECRET_VALUE]"),
        ("Password : correct horse", "Password : [SECRET_VALUE]"),
        (
            "db:\n  password: correct horse\n  user: bob",
            "db:\n  password: [SECRET_VALUE]\n  user: bob",
        ),
        ("password: correct horse\r\nuser: bob", "password: [SECRET_VALUE]\r\nuser: bob"),
        ("password:\n  correct horse\nx: 1", "password:\n  [SECRET_VALUE]\nx: 1"),
        # Look-alikes: other pairs after the value keep their words.
        ("password=x user=bob", "password=[SECRET_VALUE] user=bob"),
        ("password: x, user: bob", "password: [SECRET_VALUE], user: bob"),
        ("password: x user: bob", "password: [SECRET_VALUE] user: bob"),
        ("password = x AND user = bob", "password = [SECRET_VALUE] AND user = bob"),
        ("login with password=hunter2 failed", "login with password=[SECRET_VALUE] failed"),
        ("mysql --password : hunter2 db", "mysql --password : [SECRET_VALUE] db"),
        ("db-password: a b", "db-password: [SECRET_VALUE]"),
        ("password:a b", "password:[SECRET_VALUE] b"),
        ("PASSWORD: \nNEXT a b", "PASSWORD: \nNEXT a b"),
        (
            'level=info password=x msg="login ok"',
            'level=info password=[SECRET_VALUE] msg="login ok"',
        ),
        ("PASSWORD=\nNEXT=1 two", "PASSWORD=\nNEXT=1 two"),
        ("forgot password? reset it here", "forgot password? reset it here"),
    ],
)
def test_an_unquoted_value_of_several_words_runs_to_its_line_end(text: str, expected: str) -> None:
    assert _redact("moderate", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SECRET_KEY_BASE=abcdef0123456789abcdef", "SECRET_KEY_BASE=[SECRET_VALUE]"),
        ("API_KEY_V2=abcdefgh12345678", "API_KEY_V2=[SECRET_VALUE]"),
        ("token_2: abcdefgh12345678", "token_2: [SECRET_VALUE]"),
        ("password_digest=pbkdf2_sha256$600000$abc$def=", "password_digest=[SECRET_VALUE]"),
        ("token_hash=" + "ab" * 32, "token_hash=[SECRET_VALUE]"),
        # Look-alikes: a hash name holding no hash; a digit glued to a name (code).
        ("password_hash=abc", "password_hash=abc"),
        ("if password != password2: x = 1", "if password != password2: x = 1"),
        ("password_hash: $2b$12$abcdefghijklmnopqrstuv", "password_hash: [SECRET_VALUE]"),
        ('{"passphrase_v2": "ab12cd"}', '{"passphrase_v2": "[SECRET_VALUE]"}'),
        ("PASSWORD_OLD=hunter2", "PASSWORD_OLD=[SECRET_VALUE]"),
        # Look-alikes: a name about the secret, not holding it.
        ("password_reset_url=https://example.com/r", "password_reset_url=https://example.com/r"),
        ("token_count=5 password_length=12", "token_count=5 password_length=12"),
        ("secret_santa=bob", "secret_santa=bob"),
        ("hash=abcdef0123", "hash=abcdef0123"),
    ],
)
def test_a_secret_name_with_a_word_after_it(text: str, expected: str) -> None:
    assert _redact("moderate", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cookie: session=abcdef0123456789", "Cookie: session=[SECRET_VALUE]"),
        ("Cookie: a=1; session=abcdef0123", "Cookie: a=[SECRET_VALUE]"),
        (
            "Set-Cookie: sid=abcdef0123456789; Path=/; HttpOnly\nVary: x",
            "Set-Cookie: sid=[SECRET_VALUE]\nVary: x",
        ),
        ('{"Cookie": "sid=abc123; x=1", "a": 2}', '{"Cookie": "sid=[SECRET_VALUE]", "a": 2}'),
        (
            'Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1"',
            "Authorization: Digest [SECRET_VALUE]",
        ),
        (
            '{"Authorization": "Digest username=\\"bob\\", nonce=\\"dcd98b\\", nc=00000001"}',
            '{"Authorization": "Digest [SECRET_VALUE]"}',
        ),
        # Look-alikes: no cookie's name and "=", a challenge (no credentials).
        ("cookie recipe: flour", "cookie recipe: flour"),
        ("Favourite cookie: chocolate chip", "Favourite cookie: chocolate chip"),
        ("cookies: 3", "cookies: 3"),
        (
            'WWW-Authenticate: Digest realm="x", nonce="abc"',
            'WWW-Authenticate: Digest realm="x", nonce="abc"',
        ),
        ("a digest of the week: news", "a digest of the week: news"),
    ],
)
def test_cookie_headers_and_digest_credentials(text: str, expected: str) -> None:
    assert _redact("basic", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"dateOfBirth": "1990-05-06"}', '{"dateOfBirth": "[DOB]"}'),
        ('{"Date of Birth": "1990-05-06"}', '{"Date of Birth": "[DOB]"}'),
        ('{"date-of-birth": "1990-05-06", "id": 1}', '{"date-of-birth": "[DOB]", "id": 1}'),
        ('{"homeTel": "12"}', '{"homeTel": "[PHONE]"}'),
        ('{"firstName": "Ann"}', '{"firstName": "[NAME]"}'),
        # Look-alikes: no word boundary where the glob has one.
        ('{"hotel": "Hilton", "HOTEL": "Ritz"}', '{"hotel": "Hilton", "HOTEL": "Ritz"}'),
        (
            '{"filename": "a.txt", "hostName": "h", "userName": "bob"}',
            '{"filename": "a.txt", "hostName": "h", "userName": "bob"}',
        ),
    ],
)
def test_json_keys_are_read_in_snake_case_as_column_names_are(text: str, expected: str) -> None:
    assert _redact("strict", [text]) == [expected]


def test_a_request_rule_matches_a_json_key_as_spelled() -> None:
    spec = RedactionSpec(level="custom", rules=(rule("column=date_of_birth:redact"),))
    frame = pl.DataFrame(
        {"date_of_birth": ["x"], "text": ['{"dateOfBirth": "1990-05-06", "date_of_birth": 1}']}
    )
    out, _ = run(frame, spec)
    assert out["text"].to_list() == ['{"dateOfBirth": "1990-05-06", "date_of_birth": "[REDACTED]"}']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Argon2 and scrypt parameters hold "," and "=": the salt and hash after them
        # were left in clear.
        (
            "password_hash=$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            "password_hash=[SECRET_VALUE]",
        ),
        (
            "password_hash: $scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaGhhc2g",
            "password_hash: [SECRET_VALUE]",
        ),
        (
            '{"password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "a": 1}',
            '{"password_hash": "[SECRET]", "a": 1}',
        ),
        ("password_hash: sha256:" + "ab" * 32, "password_hash: [SECRET_VALUE]"),
        ("password_hash: {SSHA}c2FsdGVkaGFzaA==", "password_hash: [SECRET_VALUE]"),
        # A comma after the hash is the line's, not the hash's.
        (
            "password_hash=$2b$12$abcdefghijklmnopqrstuv, user=bob",
            "password_hash=[SECRET_VALUE], user=bob",
        ),
        # Look-alikes: still no hash's shape.
        ("password_hash=abc", "password_hash=abc"),
        ("password_hash: sha256:abc", "password_hash: sha256:abc"),
    ],
)
def test_a_hash_with_parameters_is_taken_whole(text: str, expected: str) -> None:
    assert _redact("moderate", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('{"passphrase": {"value": "hunter2"}}', "r2"),
        ('{"db_pass": [7, "hunter2"]}', "r2"),
        ('{"db_pass": 12}', "12"),
        ('{"db_pass": 1234}', "1234"),
    ],
)
def test_a_mask_hides_a_json_container_or_short_number_whole(text: str, hidden: str) -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=SECRET_VALUE:mask:4"),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec)
    written = out["text"][0]
    value = next(iter(json.loads(written).values()))
    assert isinstance(value, str)
    assert set(value) == {"*"}
    assert hidden not in written


def test_a_mask_keeps_the_last_characters_of_a_long_number() -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=SECRET_VALUE:mask:4"),))
    out, _ = run(pl.DataFrame({"text": ['{"db_pass": 123456}']}), spec)
    # 6 digits: mask:4 shows 3 (a mask never shows more than it hides).
    assert out["text"].to_list() == ['{"db_pass": "***456"}']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Words up to the first one that looks like another pair.
        ("password: a b; user=x", "password: [SECRET_VALUE] user=x"),
        (
            "secret: my secret phrase goes here user=bob",
            "secret: [SECRET_VALUE] user=bob",
        ),
        ("password: correct horse next: 1", "password: [SECRET_VALUE] next: 1"),
        # Any space but a line break parts words; U+2028 and U+2029 end the line.
        ("password: abc def\xa0ghi", "password: [SECRET_VALUE]"),
        ("password: abc def\u2028next line", "password: [SECRET_VALUE]\u2028next line"),
        ("password: abc def\u2029next line", "password: [SECRET_VALUE]\u2029next line"),
        # Latin and Cyrillic names in other languages too.
        ("Passwort: richtiges Pferd Batterie", "Passwort: [SECRET_VALUE]"),
        ("contraseña: caballo correcto bateria", "contraseña: [SECRET_VALUE]"),
        ("mot de passe: cheval correct", "mot de passe: [SECRET_VALUE]"),
        ("пароль: правильная лошадь", "пароль: [SECRET_VALUE]"),
        # Look-alikes: a name in a script written without spaces keeps the prose after
        # its value; after "=" the value is one word.
        ("パスワード\uff1ahunter2 次へ", "パスワード\uff1a[SECRET_VALUE] 次へ"),
        ("login with password=hunter2 failed", "login with password=[SECRET_VALUE] failed"),
        ("Passwort=a b", "Passwort=[SECRET_VALUE] b"),
    ],
)
def test_a_passphrase_runs_to_the_next_pair_or_line_end(text: str, expected: str) -> None:
    assert _redact("moderate", [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Cookie: sid="abc123"; csrftoken=xyz', "Cookie: sid=[SECRET_VALUE]"),
        ("Cookie: sid=; x=secret", "Cookie: sid=[SECRET_VALUE]"),
        ('Cookie: sid=abc"def; x=secret2', "Cookie: sid=[SECRET_VALUE]"),
        ("Cookie: sid=abc\nx=secret", "Cookie: sid=[SECRET_VALUE]\nx=secret"),
        (
            'Authorization: Digest username="b\\"ob", response="6629fae4"',
            "Authorization: Digest [SECRET_VALUE]",
        ),
        (
            'Authorization: Digest username="bob" response="6629fae4"\nnext',
            "Authorization: Digest [SECRET_VALUE]\nnext",
        ),
        (
            '{"Authorization": "Digest username=\\"b\\\\\\"ob\\" response=\\"66\\"", "a": 1}',
            '{"Authorization": "Digest [SECRET_VALUE]", "a": 1}',
        ),
        (
            '{"Cookie": "sid=\\"abc\\"; x=1", "a": 2}',
            '{"Cookie": "sid=[SECRET_VALUE]", "a": 2}',
        ),
    ],
)
def test_a_cookie_or_digest_header_is_taken_to_its_end(text: str, expected: str) -> None:
    out = _redact("basic", [text])
    assert out == [expected]
    if text.startswith("{"):
        json.loads(out[0])


@pytest.mark.parametrize(
    "key",
    [
        "dateOfBirthVerified",
        "birthdayCount",
        "latitudeUpdatedAt",
        "dateOfBirth",
        # A flag or count about a card, id, account or address is taken as a column
        # of its name is (those categories have no not_values): the same verdict.
        "cardNumberLength",
        "serverAddress",
        "nationalIdType",
        "bankAccountType",
    ],
)
def test_a_json_key_gets_the_verdict_of_a_column_of_its_name(key: str) -> None:
    from sluice.server.pipeline.redaction.column_names import normalised

    column = normalised(key)
    value = "abcdefghij"
    frame = pl.DataFrame({column: [value], "text": [json.dumps({key: value})]})
    out, _ = run(frame, RedactionSpec(level="strict"))
    column_kept = out[column].to_list() == [value]
    key_kept = json.loads(out["text"][0]) == {key: value}
    assert key_kept == column_kept


@pytest.mark.parametrize(
    "text",
    [
        '{"Cookie": "sid=v; t=\\"xyz"}',
        '{"Cookie": "sid=\\"abc"}',
        '{"Cookie": "path=C:\\\\abc"}',
        '{"m": "{\\"Cookie\\": \\"sid=a\\\\\\"xyz\\"}"}',
        '{"m": "Cookie: sid=a\\\\xyz"}',
    ],
)
def test_a_mask_never_keeps_a_tail_starting_inside_an_escape(text: str) -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=SECRET_VALUE:mask:4"),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec)
    written = out["text"][0]
    assert written != text
    json.loads(written)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"m": "password: correct horse battery staple"}',
            '{"m": "password: [SECRET_VALUE]"}',
        ),
        ('{"m": "Passwort: mein geheimes Wort"}', '{"m": "Passwort: [SECRET_VALUE]"}'),
        ('{"m": "mot de passe: mon secret ici"}', '{"m": "mot de passe: [SECRET_VALUE]"}'),
        (
            '{"m": "password: correct horse staple", "a": 1}',
            '{"m": "password: [SECRET_VALUE]", "a": 1}',
        ),
        (
            '{"m": "{\\"x\\": \\"password: correct horse staple\\"}"}',
            '{"m": "{\\"x\\": \\"password: [SECRET_VALUE]\\"}"}',
        ),
    ],
)
def test_a_passphrase_in_a_json_string_ends_at_its_closing_quote(text: str, expected: str) -> None:
    out = _redact("strict", [text])
    assert out == [expected]
    json.loads(out[0])


def test_a_cookie_holding_json_is_taken_to_the_header_end() -> None:
    out = _redact("basic", ['Cookie: prefs={"a":"b"}; sid=SECRETW'])
    assert out == ["Cookie: prefs=[SECRET_VALUE]"]
    out = _redact("basic", ['{"m": "Cookie: sid=abc", "a": 1}'])
    assert out == ['{"m": "Cookie: sid=[SECRET_VALUE]", "a": 1}']
    out = _redact("basic", ['{"m": "{\\"x\\": \\"Cookie: sid=abc\\"}"}'])
    assert out == ['{"m": "{\\"x\\": \\"Cookie: sid=[SECRET_VALUE]\\"}"}']


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A second pair after a passphrase: its value was left to the keyword pattern,
        # which took its first word only (`d` in clear).
        ("password: a b token: c d", "password: [SECRET_VALUE] token: [SECRET_VALUE]"),
        (
            "password: a b token: c d e secret: f g",
            "password: [SECRET_VALUE] token: [SECRET_VALUE] secret: [SECRET_VALUE]",
        ),
        (
            "password: a b token: c d api_key: e f passwd: g h",
            "password: [SECRET_VALUE] token: [SECRET_VALUE] api_key: [SECRET_VALUE]"
            " passwd: [SECRET_VALUE]",
        ),
        (
            '["password: a b", "token: c d"]',
            '["password: [SECRET_VALUE]", "token: [SECRET_VALUE]"]',
        ),
        # Look-alikes: a pair that names no secret keeps its words.
        ("password: a b user: c d", "password: [SECRET_VALUE] user: c d"),
        ("password: a b token: c", "password: [SECRET_VALUE] token: [SECRET_VALUE]"),
    ],
)
def test_every_passphrase_of_a_line_is_taken(level: str, text: str, expected: str) -> None:
    assert _redact(level, [text]) == [expected]


@pytest.mark.parametrize(
    "spec_rule", ["pattern=SECRET_VALUE:mask:2", "pattern=SECRET_VALUE:hash:k"]
)
def test_every_passphrase_of_a_line_is_taken_by_a_mask_or_hash(
    spec_rule: str, tmp_path: Path
) -> None:
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    text = "password: alpha bravo token: charlie delta secret: echo foxtrot"
    out, _ = run(pl.DataFrame({"text": [text]}), spec, settings_with_keys(tmp_path, k=b"k" * 32))
    written = out["text"][0]
    for word in ("alpha", "bravo", "charlie", "delt", "echo", "foxtr"):
        assert word not in written
    assert "token:" in written and "secret:" in written


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A Python dict's repr (single quotes): the keyword pattern took the number with
        # the closing brace after it.
        ("{'db_pass': 5}", "{'db_pass': '[SECRET_VALUE]'}"),
        ("{'db_pass': -1.5e3, 'a': 1}", "{'db_pass': '[SECRET_VALUE]', 'a': 1}"),
        ("{'a': {'db_pass': True}}", "{'a': {'db_pass': '[SECRET_VALUE]'}}"),
        ("{'db_pass': False}", "{'db_pass': '[SECRET_VALUE]'}"),
        ("{'db_pass': None}", "{'db_pass': '[SECRET_VALUE]'}"),
        ("{'db_pass': {'v': 'x}'}, 'b': 2}", "{'db_pass': '[SECRET_VALUE]', 'b': 2}"),
        ("{'db_pass': [1, 'x'], 'b': 2}", "{'db_pass': '[SECRET_VALUE]', 'b': 2}"),
        ("[{'token': 12345}]", "[{'token': '[SECRET_VALUE]'}]"),
        ("{'db_pass': b'hunter2'}", "{'db_pass': '[SECRET_VALUE]'}"),
        ("{'db_pass': B\"it's\", 'a': 1}", "{'db_pass': '[SECRET_VALUE]', 'a': 1}"),
        # Look-alikes: a string is the quoted layout's; no secret's key.
        ("{'db_pass': 'x'}", "{'db_pass': '[SECRET_VALUE]'}"),
        ("{'bypass': 5, 'pass': True}", "{'bypass': 5, 'pass': True}"),
    ],
)
def test_a_python_dict_keeps_its_braces_and_quotes(level: str, text: str, expected: str) -> None:
    out = _redact(level, [text])
    assert out == [expected]
    ast.literal_eval(out[0])


@pytest.mark.parametrize(
    "text", ["{'db_pass': 123456}", "{'db_pass': {'v': 'hunter2'}}", "{'db_pass': True, 'a': 1}"]
)
@pytest.mark.parametrize(
    "spec_rule",
    ["pattern=SECRET_VALUE:mask:2", "pattern=SECRET_VALUE:mask", "pattern=SECRET_VALUE:hash:k"],
)
def test_a_python_dict_stays_a_literal_under_every_action(
    text: str, spec_rule: str, tmp_path: Path
) -> None:
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec, settings_with_keys(tmp_path, k=b"k" * 32))
    written = ast.literal_eval(out["text"][0])
    assert isinstance(written["db_pass"], str)
    assert "hunter2" not in out["text"][0] and "1234" not in out["text"][0]


_ESCAPED_SECRETS = [
    '{"passphrase": "c\\\\d"}',
    '{"passphrase": "abc\\u00e9"}',
    '{"passphrase": "ab\\u00e9cd\\u00e9"}',
    '{"m": "password: \\u00e9\\u00e9x"}',
    '{"m": "password=\\u00e9b\\u00e9"}',
    '{"m": "api_key: \\u00e9\\u00e9 \\u00e9\\u00e9"}',
    '{"m": "{\\"passphrase\\": \\"ab\\\\u00e9\\"}"}',
]


@pytest.mark.parametrize("text", _ESCAPED_SECRETS)
@pytest.mark.parametrize("keep_last", [0, 1, 2, 3, 4, 5, 6])
def test_a_mask_of_an_escaped_secret_keeps_whole_characters(text: str, keep_last: int) -> None:
    """The JSON still parses, and what it holds where the secret was is stars and at
    most the secret's last `keep_last` characters (an escape is one character): a value
    starting with an escape lost its backslash to the lead (`password: \\u00e9`), and
    a tail starting inside `\\u00e9` kept its hex digits."""
    spec = RedactionSpec(level="custom", rules=(rule(f"pattern=SECRET_VALUE:mask:{keep_last}"),))
    out, _ = run(pl.DataFrame({"text": [text]}), spec)
    written = json.loads(out["text"][0])
    inner = next(iter(written.values()))
    if text.startswith('{"m": "{'):
        inner = next(iter(json.loads(inner).values()))
    secret = next(iter(json.loads(text).values()))
    if text.startswith('{"m": "{'):
        secret = next(iter(json.loads(secret).values()))
    if ": " in secret or "=" in secret:
        secret = secret.split("=", 1)[-1].split(": ", 1)[-1]
        inner = inner.split("=", 1)[-1].split(": ", 1)[-1]
    kept = inner.lstrip("*")
    assert set(inner[: len(inner) - len(kept)]) <= {"*"}
    assert len(kept) <= keep_last
    assert secret.endswith(kept)


@pytest.mark.parametrize("text", _ESCAPED_SECRETS)
@pytest.mark.parametrize("level", ["basic", "strict"])
def test_an_escaped_secret_is_tagged_inside_valid_json(text: str, level: str) -> None:
    out = _redact(level, [text])
    assert "SECRET" in out[0]
    json.loads(out[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A boolean holds no birth date, as a Boolean column named so is never one.
        ('{"dob": true, "b": 1}', '{"dob": true, "b": 1}'),
        ('{"dateOfBirth": false}', '{"dateOfBirth": false}'),
        ('{"dob": null}', '{"dob": null}'),
        # The dates are still taken.
        ('{"dob": "1990-01-02", "x": true}', '{"dob": "[DOB]", "x": true}'),
        ('{"dob": 19900102}', '{"dob": "[DOB]"}'),
    ],
)
def test_a_boolean_under_a_dob_key_stays(text: str, expected: str) -> None:
    assert _redact("strict", [text]) == [expected]
    frame = pl.DataFrame({"dob": [True]})
    out, _ = run(frame, RedactionSpec(level="strict"))
    assert out["dob"].to_list() == [True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A "}" then ", x=1" is no JSON string's end: the cookie after it (`x=1`) was
        # left in clear.
        ('Cookie: prefs={"a":"b"}, x=1', "Cookie: prefs=[SECRET_VALUE]"),
        (
            '{"h": "Cookie: prefs={\\"a\\":\\"b\\"}, x=1"}',
            '{"h": "Cookie: prefs=[SECRET_VALUE]"}',
        ),
        # A Set-Cookie header as a JSON array of its cookies.
        (
            '{"Set-Cookie": ["sid=abc; Path=/", "t=xyz"], "a": 1}',
            '{"Set-Cookie": ["sid=[SECRET_VALUE]"], "a": 1}',
        ),
        # Look-alikes: the JSON string holding the line still ends where it does.
        (
            '[{"m": "Cookie: sid=abc"}, {"n": 1}]',
            '[{"m": "Cookie: sid=[SECRET_VALUE]"}, {"n": 1}]',
        ),
        (
            '{"a": {"m": "Cookie: sid=abc"}, "b": 2}',
            '{"a": {"m": "Cookie: sid=[SECRET_VALUE]"}, "b": 2}',
        ),
        ('{"Set-Cookie": []}', '{"Set-Cookie": []}'),
    ],
)
def test_a_cookie_holding_json_before_a_comma_is_taken(text: str, expected: str) -> None:
    out = _redact("basic", [text])
    assert out == [expected]
    if text.startswith(("{", "[")):
        json.loads(out[0])


@pytest.mark.parametrize(
    "key", ["date·of·birth", "date—of—birth", "date\u00a0of\u00a0birth", "date\uff1aof\uff1abirth"]
)
def test_a_json_key_parted_by_punctuation_beyond_ascii_is_read_in_snake_case(key: str) -> None:
    """json_keys._WORD_SEPARATOR names the separators beyond ASCII block by block (the
    class of all of them was slow to scan): the usual ones still part a key's words."""
    text = json.dumps({key: "1990-05-06"}, ensure_ascii=False)
    assert _redact("strict", [text]) == [json.dumps({key: "[DOB]"}, ensure_ascii=False)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"m": "--password \\u00e9abc"}', '{"m": "--password [SECRET_VALUE]"}'),
        ('{"m": "--password \\\\x"}', '{"m": "--password [SECRET_VALUE]"}'),
        ('{"m": "--api-key \\u00e9\\u00e9 next"}', '{"m": "--api-key [SECRET_VALUE] next"}'),
        # Look-alike: an escaped quote still opens the quoted value.
        ('{"m": "--password \\"x y\\""}', '{"m": "--password \\"[SECRET_VALUE]\\""}'),
    ],
)
def test_a_flag_value_starting_with_an_escape_is_taken_whole(text: str, expected: str) -> None:
    """The flag's lead took the escape's backslash (`--password \\[SECRET_VALUE]`: no
    JSON escape)."""
    out = _redact("strict", [text])
    assert out == [expected]
    json.loads(out[0])


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[{"m": "password: correct horse battery"}, 42]',
            '[{"m": "password: [SECRET_VALUE]"}, 42]',
        ),
        ('[{"m": "password: a b"}, null]', '[{"m": "password: [SECRET_VALUE]"}, null]'),
        ('[{"m": "password: a b"}, true]', '[{"m": "password: [SECRET_VALUE]"}, true]'),
        ('[{"m": "password: a b"},\n 1]', '[{"m": "password: [SECRET_VALUE]"},\n 1]'),
        ('[["password: a b"], 5]', '[["password: [SECRET_VALUE]"], 5]'),
        ('[{"m": "api_key: a b c"},\t1]', '[{"m": "api_key: [SECRET_VALUE]"},\t1]'),
        ('[{"m": "password: a b"}, -1.5e3]', '[{"m": "password: [SECRET_VALUE]"}, -1.5e3]'),
        ('[{"m": "password: a b"}, 1\n]', '[{"m": "password: [SECRET_VALUE]"}, 1\n]'),
        # A header ending where its JSON string does: the rest of the JSON stays.
        ('[{"m": "Cookie: sid=abc"}, 1]', '[{"m": "Cookie: sid=[SECRET_VALUE]"}, 1]'),
        (
            '{"logs": [{"m": "Cookie: sid=abc"}, 7], "email": "bob@example.com"}',
            '{"logs": [{"m": "Cookie: sid=[SECRET_VALUE]"}, 7], "email": "bob@example.com"}',
        ),
        (
            '[{"m": "Cookie: sid=abc"}, 1, {"user": "bob"}]',
            '[{"m": "Cookie: sid=[SECRET_VALUE]"}, 1, {"user": "bob"}]',
        ),
        (
            '[{"m": "Authorization: Digest username=bob, response=abc"}, 1]',
            '[{"m": "Authorization: Digest [SECRET_VALUE]"}, 1]',
        ),
        # Look-alike: a cookie's pair after a comma is no JSON literal, still the header's.
        ('Cookie: prefs={"a":"b"}, x=1', "Cookie: prefs=[SECRET_VALUE]"),
    ],
)
def test_a_json_string_ends_before_a_comma_and_a_literal(
    level: str, text: str, expected: str
) -> None:
    """After `"}` or `"]` and a comma, a number, null, true or false ends the string as
    a quote or bracket does (the passphrase's last word was left in clear; a header ran
    on over the rest of the JSON, eating it)."""
    out = _redact(level, [text])
    if level == "basic" or "email" not in text:
        assert out == [expected]
    if text.startswith(("{", "[")):
        json.loads(out[0])


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"m": "{\'db_pass\': {\'a\': \\"x\\"}}"}',
            "{\"m\": \"{'db_pass': '[SECRET_VALUE]'}\"}",
        ),
        (
            '{"msg": "config={\'password\': {\'note\': \\"it\'s\\"}}", "user": "bob", '
            '"level": "info"}',
            '{"msg": "config={\'password\': \'[SECRET_VALUE]\'}", "user": "bob", "level": "info"}',
        ),
        (
            '{"m": "{\'db_pass\': {\'a\': \\"x\\", \'b\': 1}}", "n": {"c": 1}}',
            '{"m": "{\'db_pass\': \'[SECRET_VALUE]\'}", "n": {"c": 1}}',
        ),
        (
            '{"m": "{\'db_pass\': [\\"a\\\\\\"b\\", 1]}", "u": "bob"}',
            '{"m": "{\'db_pass\': \'[SECRET_VALUE]\'}", "u": "bob"}',
        ),
        # Look-alike: outside JSON a double-quoted string of the repr is still one.
        ("{'db_pass': {'a': \"it's\"}, 'b': 2}", "{'db_pass': '[SECRET_VALUE]', 'b': 2}"),
    ],
)
def test_a_python_repr_inside_a_json_string_ends_inside_it(
    level: str, text: str, expected: str
) -> None:
    """An escaped quote is a quote of the repr's (`\\"x\\"`), never the start of a
    string running on past the JSON string's closing quote (the rest of the record was
    taken, the JSON broken)."""
    out = _redact(level, [text])
    assert out == [expected]
    if text.startswith('{"'):
        json.loads(out[0])


def test_the_passphrase_layout_runs_twice_in_a_row() -> None:
    """SECRET_TO_LINE_END_AFTER_ANOTHER is SECRET_TO_LINE_END itself: the second pass
    takes the pairs the first skipped (`password: a b token: c d`). Dropping either
    entry, or moving one apart, leaves every other passphrase's last word in clear."""
    from sluice.server.pipeline.redaction import secret_layouts, secret_passphrases

    layouts = list(secret_layouts.SECRET_VALUE_LAYOUTS)
    first = layouts.index(secret_passphrases.SECRET_TO_LINE_END)
    assert layouts.count(secret_passphrases.SECRET_TO_LINE_END) == 2
    assert layouts[first + 1] is secret_passphrases.SECRET_TO_LINE_END


_PASSPHRASE_TAKEN = '[{"m": "password: [SECRET_VALUE]"}'


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected_basic", "expected_strict"),
    [
        # A Python float literal after the comma (json.dumps writes NaN and Infinity).
        (
            '{"stats": [{"m": "Cookie: sid=abc"}, NaN], "email": "bob@example.com"}',
            '{"stats": [{"m": "Cookie: sid=[SECRET_VALUE]"}, NaN], "email": "bob@example.com"}',
            '{"stats": [{"m": "Cookie: sid=[SECRET_VALUE]"}, NaN], "email": "[EMAIL]"}',
        ),
        (
            '[{"m": "Cookie: sid=abc"}, Infinity, {"email": "bob@example.com"}]',
            '[{"m": "Cookie: sid=[SECRET_VALUE]"}, Infinity, {"email": "bob@example.com"}]',
            '[{"m": "Cookie: sid=[SECRET_VALUE]"}, Infinity, {"email": "[EMAIL]"}]',
        ),
        (
            '[{"m": "Cookie: sid=abc"}, -Infinity]',
            '[{"m": "Cookie: sid=[SECRET_VALUE]"}, -Infinity]',
            None,
        ),
        # An escaped JSON's line break after the literal.
        (
            '{"m": "[{\\"m\\": \\"Cookie: sid=abc\\"}, NaN\\n]", "email": "bob@example.com"}',
            '{"m": "[{\\"m\\": \\"Cookie: sid=[SECRET_VALUE]\\"}, NaN\\n]", '
            '"email": "bob@example.com"}',
            '{"m": "[{\\"m\\": \\"Cookie: sid=[SECRET_VALUE]\\"}, NaN\\n]", "email": "[EMAIL]"}',
        ),
        # A passphrase's string ends at `"}` or `"]` and a comma, whatever follows.
        ('[{"m": "password: correct horse battery"}, NaN]', f"{_PASSPHRASE_TAKEN}, NaN]", None),
        (
            '[{"m": "password: correct horse battery"}, Infinity]',
            f"{_PASSPHRASE_TAKEN}, Infinity]",
            None,
        ),
        (
            '[{"m": "password: correct horse battery"}, -Infinity, 1]',
            f"{_PASSPHRASE_TAKEN}, -Infinity, 1]",
            None,
        ),
        ('[{"m": "password: correct horse battery"}, True]', f"{_PASSPHRASE_TAKEN}, True]", None),
        (
            'log: {"m": "password: correct horse battery"}, 3 retries',
            'log: {"m": "password: [SECRET_VALUE]"}, 3 retries',
            None,
        ),
        (
            'password: correct horse battery"}, 42 more words',
            'password: [SECRET_VALUE]"}, 42 more words',
            None,
        ),
        (
            '{"m": "[{\\"m\\": \\"password: correct horse battery\\"}, 42\\n]"}',
            '{"m": "[{\\"m\\": \\"password: [SECRET_VALUE]\\"}, 42\\n]"}',
            None,
        ),
    ],
)
def test_a_json_string_ends_before_a_comma_and_any_value(
    level: str, text: str, expected_basic: str, expected_strict: str | None
) -> None:
    """After `"}` or `"]` and a comma, a passphrase's string ends whatever follows (its
    last word was left in clear before NaN, `True` or a log's `3 retries`), and a
    header's before NaN or -?Infinity too (it ran on over the rest of the JSON)."""
    out = _redact(level, [text])
    expected = expected_basic if level == "basic" else expected_strict or expected_basic
    assert out == [expected]
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return
    json.loads(out[0])


_PRETTY_DOCUMENTS = [
    {"m": "password: a b c"},
    [{"m": "password: a b c"}, 1, {"user": "bob"}],
    ["password: a b c", "x"],
    [{"m": "Cookie: sid=abc"}, 1, {"user": "bob"}],
    {"m": "Cookie: sid=abc"},
    ["Cookie: sid=abc", 2],
    {"a": {"m": "Authorization: Digest username=bob, response=abc"}, "b": None},
]
_PRETTY_FORMS = [
    {"indent": 2},
    {"indent": 4},
    {"indent": "\t"},
    {"indent": 2, "separators": (",", ": ")},
    {"indent": 2, "ensure_ascii": False},
]


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize("form", _PRETTY_FORMS, ids=repr)
@pytest.mark.parametrize("document", _PRETTY_DOCUMENTS, ids=repr)
@pytest.mark.parametrize("wrap", ["plain", "windows", "escaped"])
def test_a_pretty_printed_json_string_ends_at_its_line_end(
    level: str, form: dict[str, object], document: object, wrap: str
) -> None:
    """In `json.dumps(..., indent=2)` a string's closing quote ends its line (`"`, then
    a line break and `}`, or `",` and the next item's line): the passphrase's last word
    was left in clear, a header's value ate the closing quote (invalid JSON). Also
    with Windows line ends and escaped in a JSON string (`\\"\\n}`)."""
    text = json.dumps(document, **form)  # type: ignore[arg-type]
    if wrap == "windows":
        text = text.replace("\n", "\r\n")
    elif wrap == "escaped":
        text = json.dumps({"doc": text})
    out = _redact(level, [text])[0]
    parsed = json.loads(out)
    if wrap == "escaped":
        parsed = json.loads(parsed["doc"])
    flat = json.dumps(parsed)
    assert "[SECRET_VALUE]" in flat
    for word in ("abc", " a b", ' c"', "response", "username"):
        assert word not in flat
    assert ("bob" in flat) == ("user" in json.dumps(document) and "Digest" not in flat)


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Look-alikes: a quote ending a plain line is the value's, not a JSON string's.
        ('Cookie: sid="abc"\nVary: x', "Cookie: sid=[SECRET_VALUE]\nVary: x"),
        (
            'Authorization: Digest username="bob", response="abc"\nHost: x',
            "Authorization: Digest [SECRET_VALUE]\nHost: x",
        ),
        ('password: "a b" c\nuser: bob', 'password: "[SECRET_VALUE]" c\nuser: bob'),
    ],
)
def test_a_quote_ending_a_plain_line_stays_the_value_s(
    level: str, text: str, expected: str
) -> None:
    out = _redact(level, [text])
    assert out == [expected]


@pytest.mark.parametrize("level", ["basic", "strict"])
@pytest.mark.parametrize(
    "text",
    [
        # Look-alikes: an escaped `\"` then a line break and a bracket or a literal that
        # real JSON would not follow this way; the header runs on (main took it all).
        '{"log": "Cookie: a=\\"b\\"\\n}; sid=zqsecret"}',
        '{"log": "Cookie: a=\\"b\\"\\n]; sid=zqsecret"}',
        '{"log": "Cookie: a=\\"b\\",\\n1; sid=zqsecret"}',
        '{"log": "Authorization: Digest username=\\"u\\"\\n}, response=\\"zqresp\\""}',
    ],
)
def test_a_bracket_after_an_escaped_quote_that_json_would_not_follow_ends_no_header(
    level: str, text: str
) -> None:
    out = _redact(level, [text])[0]
    assert "[SECRET_VALUE]" in out
    assert "zqsecret" not in out and "zqresp" not in out
