"""Layouts an entity's own pattern leaves (an e-mail whose "@" a URL escaped, a quoted
secret holding spaces) are handled by the rule's action whatever it is: masked, hashed
or nulled as whole values, never left in clear because the action is not `redact`."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.actions import TEXT_PSEUDONYM_HEX
from sluice.server.pipeline.redaction.pseudonyms import SEAL, SEAL_IN_MATCH
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import masked, rule, run, settings_with_keys

KEY = b"k" * 32

#: (entity, text, the sensitive value, the text around it), each rule alone: another
#: entity's pattern may read a mask as a value of its own (a secret after `--...-key`).
LAYOUTS = [
    (
        "EMAIL",
        "GET /unsubscribe?email=ann.lee%40example.com&t=1",
        "ann.lee%40example.com",
        ("GET /unsubscribe?email=", "&t=1"),
    ),
    ("EMAIL", "ann%40example.com and more", "ann%40example.com", ("", " and more")),
    ("EMAIL", 'to "ann lee"@example.com now', '"ann lee"@example.com', ("to ", " now")),
    ("EMAIL", "to ann@[192.168.1.1], now", "ann@[192.168.1.1]", ("to ", ", now")),
    ("EMAIL", "to ann@x.com%40y.org now", "ann@x.com%40y.org", ("to ", " now")),
    ("EMAIL", "to josé@münchen.de now", "josé@münchen.de", ("to ", " now")),
    ("EMAIL", "to nguyễn@ví-dụ.vn now", "nguyễn@ví-dụ.vn", ("to ", " now")),
    # An escaped "@" inside a local part: the address is whole, not cut at its "@".
    (
        "EMAIL",
        "from bounce+ann%40example.com@mail.service.com now",
        "bounce+ann%40example.com@mail.service.com",
        ("from ", " now"),
    ),
    (
        "SECRET_VALUE",
        'password="correct horse battery" next',
        "correct horse battery",
        ('password="', '" next'),
    ),
    (
        "SECRET_VALUE",
        "{'password': 'correct horse', 'x': 'a b'}",
        "correct horse",
        ("{'password': '", "', 'x': 'a b'}"),
    ),
    (
        "SECRET_VALUE",
        'password=\\"correct horse\\" x',
        "correct horse",
        ('password=\\"', '\\" x'),
    ),
    # Assignments of two characters: the pattern must not reread them as one and a value.
    (
        "SECRET_VALUE",
        'password := "correct horse"',
        "correct horse",
        ('password := "', '"'),
    ),
    ("SECRET_VALUE", "{password => 'abcdef'}", "abcdef", ("{password => '", "'}")),
    # CJK corner brackets quote a value as quotes do.
    (
        "SECRET_VALUE",
        "パスワード\uff1a「correct horse」です",
        "correct horse",
        ("パスワード\uff1a「", "」です"),
    ),
    ("SECRET_VALUE", "password: 『ab cd ef』 x", "ab cd ef", ("password: 『", "』 x")),
    ("SECRET_VALUE", "password==x1y2 z", "=x1y2", ("password=", " z")),
    # Comparisons: the operator is context, the value after it is the secret.
    ("SECRET_VALUE", 'if password == "x1y2z3": z', "x1y2z3", ('if password == "', '": z')),
    ("SECRET_VALUE", "password !== 'abcdef' z", "abcdef", ("password !== '", "' z")),
    # Square brackets right after "=" and backticks after a setting quote a value too;
    # an element may have a namespace and attributes.
    ("SECRET_VALUE", "password=[ab cd] z", "[ab cd]", ("password=", " z")),
    # Parentheses around a quoted value (a Python argument or tuple) keep its quotes and
    # the code's closing parentheses.
    (
        "SECRET_VALUE",
        'connect(host, password=("hunter2"))',
        "hunter2",
        ('connect(host, password=("', '"))'),
    ),
    ("SECRET_VALUE", "f(password=( 'ab cd' ), x=1)", "ab cd", ("f(password=( '", "' ), x=1)")),
    (
        "SECRET_VALUE",
        'Client(host, tokens=("a1", "b2"))',
        'a1", "b2',
        ('Client(host, tokens=("', '"))'),
    ),
    ("SECRET_VALUE", "password = `ab cd` z", "ab cd", ("password = `", "` z")),
    ("SECRET_VALUE", "password = ``ab`cd`` z", "ab`cd", ("password = ``", "`` z")),
    # An element running on past its 64 lines: the first 64.
    (
        "SECRET_VALUE",
        "<password>a\n" + "b\n" * 70 + "</password>",
        "a" + "\nb" * 63,
        ("<password>", "\nb" * 7 + "\n</password>"),
    ),
    (
        "SECRET_VALUE",
        '<db:password type="x">correct horse</db:password>',
        "correct horse",
        ('<db:password type="x">', "</db:password>"),
    ),
    (
        "SECRET_VALUE",
        "<password>correct horse</password>",
        "correct horse",
        ("<password>", "</password>"),
    ),
    (
        "SECRET_VALUE",
        "<password>\n  correct horse\n</password>",
        "correct horse",
        ("<password>\n  ", "\n</password>"),
    ),
    (
        "SECRET_VALUE",
        "<password><![CDATA[correct horse]]></password>",
        "correct horse",
        ("<password><![CDATA[", "]]></password>"),
    ),
    ("SECRET_VALUE", "run --password hunter2 -v", "hunter2", ("run --password ", " -v")),
    # ">" alone is no assignment; after an opening quote no closing one follows, "=" is
    # the value's own.
    ("SECRET_VALUE", "--password >hunter2 x", ">hunter2", ("--password ", " x")),
    ("SECRET_VALUE", '--password "=x1y2', "=x1y2", ('--password "', "")),
    # A flag and then an assignment: the value is after the assignment, not the "=" itself.
    ("SECRET_VALUE", "mysql --password = hunter2 db", "hunter2", ("mysql --password = ", " db")),
    ("SECRET_VALUE", "mysql --password =hunter2 db", "hunter2", ("mysql --password =", " db")),
    ("SECRET_VALUE", "tool --token => abc123 x", "abc123", ("tool --token => ", " x")),
    ("SECRET_VALUE", "--db-password : s3cret x", "s3cret", ("--db-password : ", " x")),
    # Quoted values starting with what an unquoted one may not: the quotes say where.
    ("SECRET_VALUE", 'password="= correct horse"', "= correct horse", ('password="', '"')),
    ("SECRET_VALUE", "secret='> a b' x", "> a b", ("secret='", "' x")),
    ("SECRET_VALUE", "api_key=',abcdef'", ",abcdef", ("api_key='", "'")),
    (
        "SECRET_VALUE",
        "run --password 'correct horse' -v",
        "correct horse",
        ("run --password '", "' -v"),
    ),
    # A coordinate pair under one key: the pair is one value.
    (
        "GEO_COORDINATES",
        "lat_lon=40.416775,-3.703790 x",
        "40.416775,-3.703790",
        ("lat_lon=", " x"),
    ),
    (
        "GEO_COORDINATES",
        '"lat,lng": "40.416775, -3.703790"',
        "40.416775, -3.703790",
        ('"lat,lng": "', '"'),
    ),
    (
        "AWS_SECRET_KEY",
        "--aws-secret-access-key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ("--aws-secret-access-key ", ""),
    ),
]


def _redacted(text: str, spec_rule: str, tmp_path: Path) -> str | None:
    """`text` redacted as a column, a list's element and a struct's field: the three
    must agree (one rewrite serves every text leaf)."""
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    spec = RedactionSpec(level="custom", rules=(rule(spec_rule),))
    out, counts = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    column, element, field = out["text"][0], out["items"][0][0], out["record"][0]["note"]
    assert column == element == field, (column, element, field)
    assert out["items"][0][1] == "plain"
    assert sum(counts.values()) == 3, counts
    return column


_FIRST_WORD_READ_AGAIN = {"f(password=( 'ab cd' ), x=1)", "password = `ab cd` z"}


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_masked(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, f"pattern={entity}:mask:4", tmp_path)
    before, after = around
    # A mask never shows more than it hides: the last min(4, len // 2) characters.
    written = masked(value, 4)
    if text in _FIRST_WORD_READ_AGAIN:
        # The keyword pattern reads the mask's first word (`*b`) again: no longer than
        # the characters kept, it is masked whole (it was kept as it was).
        written = "**" + written[2:]
    assert out == before + written + after


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_hashed_whole(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    out = _redacted(text, f"pattern={entity}:hash:crm", tmp_path)
    digest = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:TEXT_PSEUDONYM_HEX]
    before, after = around
    assert out == f"{before}[{entity}:{digest}]{after}"


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_nulled(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    assert _redacted(text, f"pattern={entity}:null", tmp_path) is None


@pytest.mark.parametrize(("entity", "text", "value", "around"), LAYOUTS)
def test_tagged(
    entity: str, text: str, value: str, around: tuple[str, str], tmp_path: Path
) -> None:
    before, after = around
    assert _redacted(text, f"pattern={entity}:redact", tmp_path) == f"{before}[{entity}]{after}"


#: Look-alikes of the layouts: the extra patterns find nothing in them, whatever the action.
LOOK_ALIKES = [
    ("EMAIL", "discount 50%40 items, npm i %40scope%2Fpkg, user@localhost"),
    ("EMAIL", 'say "hi"@ noon; {"a":"b"}@3 "q"@x.c'),
    ("SECRET_VALUE", 'a "quoted [SECRET_VALUE] note" and "more text"'),
    ("SECRET_VALUE", 'the "password" field, x="a b"'),
    ("SECRET_VALUE", "題名\uff1a「hello world」 and 「password」"),
    ("SECRET_VALUE", "--password-file /etc/pw -- password reset <li>password</li>"),
    ("SECRET_VALUE", "if (password == null || token != expected_token) x"),
    ("SECRET_VALUE", 'f(tokens=("the", "cat")) x = ("password", "token")'),
    ("SECRET_VALUE", "if (token !== `abc`) x; password=[SECRET_VALUE] <password/>x</b>"),
    ("AWS_SECRET_KEY", "--aws-secret-access-key tooShort <aws-secret-access-key>"),
]


@pytest.mark.parametrize("action", ["mask:4", "hash:crm", "null", "redact"])
@pytest.mark.parametrize(("entity", "text"), LOOK_ALIKES)
def test_look_alikes_stay(entity: str, text: str, action: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": [text]})
    spec = RedactionSpec(level="custom", rules=(rule(f"pattern={entity}:{action}"),))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == text
    assert not re.search(r"\[[A-Z_]+[:\]]", out["text"][0].replace("[SECRET_VALUE]", ""))


def _pseudonym(label: str, value: str) -> str:
    digest = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:TEXT_PSEUDONYM_HEX]
    return f"[{label}:{digest}]"


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_" + "a" * 36
#: (level, hash rules, text, (label, hashed value) per pseudonym, the text around them,
#: the rules counted). Each row also holds what a later rule looks for (a secret's name
#: and ':', a card), so that rule runs on it: an earlier rule's pseudonym must come out
#: as written (hashed exports join on it), not be read as a name, ':' and a value, or
#: have its digest's digits masked as a card.
PSEUDONYMS_BESIDE_LATER_RULES = [
    (
        "basic",
        ("AWS_SECRET_KEY",),
        f"aws_secret_access_key={AWS_SECRET}",
        [("AWS_SECRET_KEY", AWS_SECRET)],
        ("aws_secret_access_key=", ""),
        {"AWS_SECRET_KEY"},
    ),
    (
        "basic",
        ("GITHUB_TOKEN",),
        f"password=x token: {GITHUB_TOKEN}",
        [("GITHUB_TOKEN", GITHUB_TOKEN)],
        ("password=[SECRET_VALUE] token: ", ""),
        {"GITHUB_TOKEN", "SECRET_VALUE"},
    ),
    (
        "basic",
        ("URL_PASSWORD",),
        "api_key=k1 redis://u:secretpw@host",
        [("URL_PASSWORD", "secretpw")],
        ("api_key=[SECRET_VALUE] redis://u:", "@host"),
        {"URL_PASSWORD", "SECRET_VALUE"},
    ),
    # This address's digest ends in 13 digits passing Luhn ("…0567" with KEY).
    (
        "strict",
        ("EMAIL",),
        "mail user243641@example.com now, card 4111111111111111",
        [("EMAIL", "user243641@example.com")],
        ("mail ", " now, card ************1111"),
        {"EMAIL", "CARD"},
    ),
    # The card rule's own second step (cards beside digit groups) runs after its first.
    (
        "strict",
        ("CARD",),
        "ref 1234 4111111111111111",
        [("CARD", "4111111111111111")],
        ("ref 1234 ", ""),
        {"CARD"},
    ),
]


@pytest.mark.parametrize(
    ("level", "hashed", "text", "pseudonyms", "around", "counted"), PSEUDONYMS_BESIDE_LATER_RULES
)
def test_pseudonyms_stay_beside_later_rules(
    level: str,
    hashed: tuple[str, ...],
    text: str,
    pseudonyms: list[tuple[str, str]],
    around: tuple[str, str],
    counted: set[str],
    tmp_path: Path,
) -> None:
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    rules = tuple(rule(f"pattern={entity}:hash:crm") for entity in hashed)
    spec = RedactionSpec(level=level, rules=rules)
    out, counts = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    before, after = around
    expected = before + "".join(_pseudonym(*p) for p in pseudonyms) + after
    assert (out["text"][0], out["items"][0][0], out["record"][0]["note"]) == (expected,) * 3
    assert {key.split("/")[0] for key in counts} == counted


def test_pseudonyms_stay_beside_names_kept_last(tmp_path: Path) -> None:
    """Names run after every other text rule when the row's own name is kept: the
    e-mail rule's pseudonyms are in their own form after them too."""
    frame = pl.DataFrame({"name": ["Ann Lee"], "text": ["Ann Lee met John Smith, ann@x.com"]})
    rules = (
        rule("pattern=EMAIL:hash:crm"),
        rule("pattern=PERSON_NAME:hash:crm"),
        rule("column=name:keep"),
    )
    out, _ = run(
        frame, RedactionSpec(level="moderate", rules=rules), settings_with_keys(tmp_path, crm=KEY)
    )
    name, email = _pseudonym("PERSON_NAME", "John Smith"), _pseudonym("EMAIL", "ann@x.com")
    assert out["text"][0] == f"Ann Lee met {name}, {email}"


def test_source_text_shaped_like_a_pseudonym_is_no_pseudonym(tmp_path: Path) -> None:
    """Only pseudonyms this export wrote are left to themselves: the same characters in
    the source are text like any other (a bracketed key name, ':', and a hex value)."""
    frame = pl.DataFrame({"text": ["[API_KEY:0123456789abcdef] and [EMAIL:0123456789abcdef]"]})
    spec = RedactionSpec(level="basic", rules=(rule("pattern=GITHUB_TOKEN:hash:crm"),))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == "[API_KEY:[SECRET_VALUE] and [EMAIL:0123456789abcdef]"


@pytest.mark.parametrize(
    ("custom", "expected"),
    [
        (r"pattern=\b[A-Za-z0-9_]{17,40}\b:redact", "key [REGEX_1] {email}"),
        (r"pattern=\w{17,}:mask", "key ********************* {email}"),
    ],
)
def test_custom_patterns_see_pseudonyms_in_their_own_form(
    custom: str, expected: str, tmp_path: Path
) -> None:
    """Custom patterns run after the built-in entities and after their pseudonyms are
    unsealed: one matching a seal's digest (17 word characters with the seal's "_")
    left it unsealable (`[EMAIL:[REGEX_1]\x1a]`)."""
    frame = pl.DataFrame({"text": ["key abcdefghijklmnopq1234 ann@x.com"]})
    spec = RedactionSpec(level="moderate", rules=(rule("pattern=EMAIL:hash:crm"), rule(custom)))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == expected.format(email=_pseudonym("EMAIL", "ann@x.com"))


#: (level, mask rule, text, expected): a secret's mask beside what a later rule looks
#: for (a secret's name and ':'), as masked, not read as a value and written over with
#: that rule's tag.
MASKS_BESIDE_LATER_RULES = [
    (
        "basic",
        "GITHUB_TOKEN",
        f"password=x token: {GITHUB_TOKEN}",
        "password=[SECRET_VALUE] token: " + "*" * 36 + "aaaa",
    ),
    (
        "basic",
        "AWS_SECRET_KEY",
        f"aws_secret_access_key={AWS_SECRET}",
        "aws_secret_access_key=" + "*" * 36 + "EKEY",
    ),
    # A mask of the keyword rule's own layout, and an e-mail rule after it.
    (
        "moderate",
        "SECRET_VALUE",
        'password="correct horse" mail ann@x.com',
        'password="*********orse" mail [EMAIL]',
    ),
    # Masks of numbers stay as the card rule's own steps read them.
    ("strict", "CARD", "ref 1234 4111111111111111", "ref 1234 ************1111"),
]


@pytest.mark.parametrize(("level", "masked", "text", "expected"), MASKS_BESIDE_LATER_RULES)
def test_masks_stay_beside_later_rules(level: str, masked: str, text: str, expected: str) -> None:
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    spec = RedactionSpec(level=level, rules=(rule(f"pattern={masked}:mask:4"),))
    out, _ = run(frame, spec)
    assert (out["text"][0], out["items"][0][0], out["record"][0]["note"]) == (expected,) * 3


#: Secrets running into a token an earlier rule masked or hashed (sealed while the pass
#: runs): a later rule's value ends before the seal, never cuts it.
SEALS_IN_LATER_VALUES = [
    f"password=abcdef:{GITHUB_TOKEN} x",
    f"password={GITHUB_TOKEN}",
    f'password="abc {GITHUB_TOKEN} def" x',
    f"<password>a {GITHUB_TOKEN}</password>",
    f"token: x/{GITHUB_TOKEN} y",
    f"password=ann@x.com:{GITHUB_TOKEN}",
    f"--password a{GITHUB_TOKEN} password=「a {GITHUB_TOKEN}」",
    f"https://u:p{GITHUB_TOKEN}@h.com secret=x{AWS_SECRET}",
    f'password="hunter2 {GITHUB_TOKEN} tailsecret99" x',
    f"password=hunter2:{GITHUB_TOKEN}:tailsecret99 x",
    f"password=пароль:{GITHUB_TOKEN}:tail x",
    # A value starting at the seal, running on after it on its line (or the next ones
    # of an element).
    f"password={GITHUB_TOKEN}:hunter2",
    f'password="{GITHUB_TOKEN} tail" x',
    # A seal in the middle of a bracketed value.
    f"token=[x {GITHUB_TOKEN} tail]",
    f"<password>{GITHUB_TOKEN}\n  tail\n</password>",
    f"password = `{GITHUB_TOKEN} tail`",
    f"--password {GITHUB_TOKEN}:tail password=「{GITHUB_TOKEN} tail」",
    f"<password><![CDATA[{GITHUB_TOKEN}\ntail]]></password> token=[{GITHUB_TOKEN} tail]",
]
#: What of the secrets above must not be left in clear beside the seals.
_SECRETS_BESIDE_SEALS = ("hunter2", "tailsecret99", "пароль", "tail")


@pytest.mark.parametrize("then", ["mask:4", "mask:0", "hash:crm", "redact", "null"])
@pytest.mark.parametrize(
    "first",
    [
        "GITHUB_TOKEN:mask:4",
        "GITHUB_TOKEN:mask:0",
        "GITHUB_TOKEN:hash:crm",
        "AWS_SECRET_KEY:hash:crm",
    ],
)
def test_no_seal_reaches_the_output(first: str, then: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": SEALS_IN_LATER_VALUES})
    rules = (f"pattern={first}", f"pattern=SECRET_VALUE:{then}", "pattern=URL_PASSWORD:mask:2")
    spec = RedactionSpec(level="basic", rules=tuple(rule(r) for r in rules))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert [v for v in out["text"] if v is not None and SEAL in v] == []


@pytest.mark.parametrize(
    ("first", "written"),
    [
        ("mask:4", "*" * 36 + "aaaa"),
        ("hash:crm", _pseudonym("GITHUB_TOKEN", GITHUB_TOKEN)),
    ],
)
def test_a_later_value_ends_before_a_seal(first: str, written: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": [f"password=abcdef:{GITHUB_TOKEN} x"]})
    rules = (f"pattern=GITHUB_TOKEN:{first}", "pattern=SECRET_VALUE:mask:4")
    spec = RedactionSpec(level="basic", rules=tuple(rule(r) for r in rules))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    # `abcdef:` is 7 characters: mask:4 shows 3 of them (never more than it hides).
    assert out["text"][0] == f"password=****ef:{written} x"


_MASKED_TOKEN = "*" * 36 + "aaaa"
_HASHED_TOKEN = _pseudonym("GITHUB_TOKEN", GITHUB_TOKEN)


@pytest.mark.parametrize(
    ("first", "then", "text", "expected"),
    [
        (
            "mask:4",
            "mask:0",
            f"password=hunter2:{GITHUB_TOKEN}:tailsecret99 x",
            f"password=********{_MASKED_TOKEN}************* x",
        ),
        (
            "mask:4",
            "mask:0",
            f'password="hunter2 {GITHUB_TOKEN} tailsecret99" x',
            f'password="********{_MASKED_TOKEN}*************" x',
        ),
        (
            "mask:4",
            "mask:0",
            f"password=пароль:{GITHUB_TOKEN}:tail x",
            f"password=*******{_MASKED_TOKEN}***** x",
        ),
        (
            "hash:crm",
            "mask:2",
            f'password="hunter2 {GITHUB_TOKEN} tailsecret99" x',
            f'password="********{_HASHED_TOKEN}***********99" x',
        ),
        (
            "hash:crm",
            "mask:2",
            f"password=пароль:{GITHUB_TOKEN}:tail x",
            f"password=*******{_HASHED_TOKEN}***il x",
        ),
        (
            "mask:4",
            "mask:4",
            f'password="abc {GITHUB_TOKEN} def" x',
            # The last part no longer than the characters kept is masked whole.
            f'password="****{_MASKED_TOKEN}****" x',
        ),
    ],
)
def test_a_later_value_is_replaced_around_seals(
    first: str, then: str, text: str, expected: str, tmp_path: Path
) -> None:
    # Every part of the value outside the seal is replaced (a mask keeps at most its
    # last characters, of the last part), counted in characters, the seal kept whole.
    frame = pl.DataFrame({"text": [text]})
    rules = (f"pattern=GITHUB_TOKEN:{first}", f"pattern=SECRET_VALUE:{then}")
    spec = RedactionSpec(level="basic", rules=tuple(rule(r) for r in rules))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    assert out["text"][0] == expected


@pytest.mark.parametrize("then", ["mask:0", "mask:2", "hash:crm", "redact"])
@pytest.mark.parametrize("first", ["GITHUB_TOKEN:mask:4", "GITHUB_TOKEN:hash:crm"])
def test_no_secret_beside_a_seal_is_left(first: str, then: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"text": SEALS_IN_LATER_VALUES})
    rules = (f"pattern={first}", f"pattern=SECRET_VALUE:{then}")
    spec = RedactionSpec(level="basic", rules=tuple(rule(r) for r in rules))
    out, _ = run(frame, spec, settings_with_keys(tmp_path, crm=KEY))
    left = [(v, s) for v in out["text"] for s in _SECRETS_BESIDE_SEALS if s in v]
    assert left == []


@pytest.mark.parametrize(
    ("match", "outside"),
    [
        # Whole seals of a pseudonym and of a mask, with text before, between and after.
        (f"ab[GITHUB_TOKEN{SEAL}0123_{SEAL}]c:d[{SEAL}{SEAL}**aa_{SEAL}{SEAL}]e", "abc:de"),
        # A match starting inside a seal (its end first), or ending inside one.
        (f"0123_{SEAL}]:tail", ":tail"),
        (f"{SEAL}**aa_{SEAL}{SEAL}]пароль", "пароль"),
        (f"пароль:[GITHUB_TOKEN{SEAL}01", "пароль:"),
        (f"x[{SEAL}{SEAL}**", "x"),
        # Text before a seal whose mask starts with "]" is no seal's end; a match ending
        # inside a seal that holds a line break.
        (f"abc[{SEAL}{SEAL}]**a_{SEAL}{SEAL}]d", "abcd"),
        (f"x[{SEAL}{SEAL}**\n**", "x"),
        ("no [seal] here", "no [seal] here"),
    ],
)
def test_seals_in_a_match_are_told_from_its_text(match: str, outside: str) -> None:
    found = pl.Series([match]).str.replace_all(SEAL_IN_MATCH, "")
    assert found.to_list() == [outside]
