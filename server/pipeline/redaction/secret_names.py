"""The names a secret is written beside, for the keyword entity SECRET_VALUE and its
layouts (secret_layouts.py): the last words of names that hold a secret, their plurals
and other languages' "password", and the operators that assign a value to them.
"""

from __future__ import annotations

# The last word of a name that holds a secret (`DB_PASSWORD`, `clientSecret`), and how
# its value is assigned (`=`, `: `, `":"`, `=>`, `:=`, with escaped quotes in JSON held
# inside a string).
# Also with a word after it that keeps it a secret: a version or number (`API_KEY_V2`,
# `TOKEN_2`), Rails' `SECRET_KEY_BASE`, an encoding of it (`api_key_b64`), an old or new
# one (`PASSWORD_OLD`). Not any word: a name about the secret (`password_reset_url`,
# `token_count`, `password_length`) keeps its value; nor a digit glued to it
# (`password2` is code's second variable as often as a secret).
_NAME_SUFFIX = r"(?:[_-](?:v?[0-9]+|base|enc|encrypted|b64|base64|old|new|prev|previous|current))?"
_CREDENTIAL_WORDS = (
    r"(?:password|passwd|passphrase|pwd|secret|client_secret|api[_-]?key|apikey|access[_-]?token"
    r"|auth[_-]?token|refresh[_-]?token|token|secret[_-]?key|private[_-]?key|access[_-]?key)"
)
CREDENTIAL_NAMES = rf"{_CREDENTIAL_WORDS}{_NAME_SUFFIX}\b"
#: A secret's hash (`password_hash`, `passwordDigest`, `token_hashed`): a secret too
#: (an offline attack reads it), but the name is as often a flag or a placeholder
#: (`password_hash=abc`), so only a value with a hash's shape is taken
#: (secret_layouts._HASHED_SECRET).
HASHED_CREDENTIAL_NAMES = rf"{_CREDENTIAL_WORDS}[_-]?(?:hash|hashed|digest)\b"

#: A Python string's prefix before its quote (`r'x'`, `b"x"`, `rb'x'`, `u'x'`, `f'x'`,
#: any case): the layouts that read a quoted value read it before the quote.
STRING_PREFIX = r"(?:[rRuUfFbB]|[rR][bBfF]|[bBfF][rR])"

# A full-width colon (U+FF1A) too, as CJK text writes it after a name.
SETTING_OPERATORS = r":=|=>|[:=\uff1a]"
# A comparison holds the secret as well, as a quoted literal (`if password == "hunter2"`,
# `password !== 'x'`): unquoted, what it compares with is code (`password == null`,
# `token != expected_token`, `api_key == os.environ['KEY']`).
COMPARISON_OPERATORS = r"===?|!==?"


#: The spaces after an operator: on its line, or over blank lines to the next indented
#: line (YAML's `password:` then an indented value). Any space but a line feed, so a
#: lone CR (a terminal's carriage return, `password:\rhunter2`) and a no-break space
#: (`password:\n\xa0hunter2`) count as spaces, as they did before this rule.
_SPACES = r"[^\S\n]*(?:(?:\n[^\S\n]*)*\n[^\S\n]+)?"


def _after_name(operators: str) -> str:
    """An operator after a secret's name, with the name's closing quote and the spaces
    after it (_SPACES): an empty value (`DB_PASSWORD=` then `DB_HOST=db.internal` in a
    .env file) is no lead for an unindented next line, which was written over with a
    tag."""
    return rf"\\?[\"']?\s*(?:{operators}){_SPACES}"


def _after_name_over_lines(operators: str) -> str:
    """The same with any spaces and line breaks after the operator, for layouts where a
    quote must follow (`pwd:` then `"hunter2"` on the next line, JSON written one token
    a line): a quote at the next line's start opens the value."""
    return rf"\\?[\"']?\s*(?:{operators})\s*"


SETTING = _after_name(SETTING_OPERATORS)
# A colon alone and a space (a YAML, header or properties line: `password: x`), or line
# breaks and an indented line: not `:=`, which is code, nor `[API_KEY:0123]`. A
# full-width colon (U+FF1A) with no space after it too, as CJK text writes one (the
# keyword pattern took the first word alone of `password`, that colon and `a b`).
COLON_SETTING = (
    r"\\?[\"']?[^\S\n]*(?::(?:[^\S\n]+|(?:[^\S\n]*\n)+[^\S\n]+)"
    r"|\uff1a(?:[^\S\n]*|(?:[^\S\n]*\n)+[^\S\n]+))"
)
COMPARISON = _after_name(COMPARISON_OPERATORS)
# Either, where a quote or bracket follows (the quoted layouts). Comparisons after the
# one-character settings, so `password==x1` still reads "=x1".
ASSIGNMENT = _after_name(f"{SETTING_OPERATORS}|{COMPARISON_OPERATORS}")
SETTING_OVER_LINES = _after_name_over_lines(SETTING_OPERATORS)
COMPARISON_OVER_LINES = _after_name_over_lines(COMPARISON_OPERATORS)
ASSIGNMENT_OVER_LINES = _after_name_over_lines(f"{SETTING_OPERATORS}|{COMPARISON_OPERATORS}")
# "pass" ends a name only after "_" or "-" (`db_pass=`, `SMTP-PASS:`): alone or inside a
# word it is no credential ("bypass=on", "pass=3 fail=0").
PW_SUFFIXED_NAME = r"\b[a-z0-9_-]*[_-]pass\b"
# "Password" in a few other languages, as a whole name (a word boundary read as ASCII
# does not hold beside "ñ" or CJK): in the same gate, they cost its scan +0.003 s per
# 1M text-heavy messages.
_LATIN_PW = r"contrase[ñn]a|passwort|senha|mot[ _-]de[ _-]passe"
_CYRILLIC_PW = "пароль"
_CJK_PW = "密码|パスワード|비밀번호"
OTHER_LANGUAGE_PW = rf"(?:(?i:{_LATIN_PW}|{_CYRILLIC_PW})|{_CJK_PW})"
# The same as a name: the Latin-script words start a word or follow "_"/"-" ("DB_SENHA",
# not "Resenha", a review). Those and the Cyrillic one are written with spaces between
# words (SPACED_SECRET_NAME), the CJK ones not.
_SPACED_OTHER_LANGUAGE_PW_NAME = rf"\b(?:[a-z0-9_-]*[_-])?(?:{_LATIN_PW})|{_CYRILLIC_PW}"
OTHER_LANGUAGE_PW_NAME = rf"(?:(?i:{_SPACED_OTHER_LANGUAGE_PW_NAME})|{_CJK_PW})"

# The plural of a name that holds secrets (`passwords`, `api_keys`, `AUTH_TOKENS`), for
# lists of them; not `tokens` alone (a tokenizer's words) nor `secrets` alone (names of
# secrets, as Kubernetes lists them).
PLURAL_NAMES = (
    r"(?:passwords|passwds|passphrases|pwds|client[_-]?secrets|api[_-]?keys|apikeys"
    r"|access[_-]?tokens|auth[_-]?tokens|refresh[_-]?tokens|secret[_-]?keys|private[_-]?keys"
    r"|access[_-]?keys)\b"
)
PLURAL_SECRET_NAME = rf"(?i:\b[a-z0-9_-]*?{PLURAL_NAMES})"
# A secret's name in a script written with spaces between words: English, and the
# Latin and Cyrillic names of OTHER_LANGUAGE_PW_NAME (`Passwort`, `contraseña`, `пароль`);
# not the CJK ones, often followed by prose in a script without spaces (`パスワード` and a
# full-width colon, `hunter2 次へ`).
_ENGLISH_SECRET_NAME = rf"\b[a-z0-9_-]*?{CREDENTIAL_NAMES}|{PW_SUFFIXED_NAME}"
SPACED_SECRET_NAME = rf"(?i:{_ENGLISH_SECRET_NAME}|{_SPACED_OTHER_LANGUAGE_PW_NAME})"
# The name of a secret, as the keyword entity's lead has it before the assignment.
SECRET_NAME = rf"(?:(?i:{_ENGLISH_SECRET_NAME})|{OTHER_LANGUAGE_PW_NAME})"
# A shell array's name: a secret's name or its plural, `TOKENS` and `SECRETS` alone too (in
# a shell assignment no tokenizer's words; `MAX_TOKENS=(512)` is a number).
ARRAY_NAME = rf"(?:{SECRET_NAME}|{PLURAL_SECRET_NAME}|(?i:\b(?:tokens|secrets)\b))"
