"""How secrets are written beside their names, for the keyword entity SECRET_VALUE
(entities.py): the keyword pattern's own lead, value and gate after a name
(secret_names.py, the value's grammar secret_values.py's), and the layouts that pattern
leaves or takes only in part, each a pattern of its own run before it (Entity.layouts),
in the order SECRET_VALUE_LAYOUTS runs them: quoted values, lists and tuples
(secret_quoted_values.py), in brackets or backticks (secret_bracketed_values.py), after
a command-line flag (secret_flags.py), passphrases and YAML blocks
(secret_passphrases.py), an Authorization header's credentials
(secret_authorization.py), other HTTP headers (secret_headers.py), Python and JSON
literals (secret_literals.py), shell arrays (secret_shell_values.py), .NET config
settings and curl's password (secret_config_values.py), an XML element's text
(secret_elements.py); and a password's hash.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_authorization import (
    AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS,
    AUTH_CREDENTIALS_TO_ESCAPED_BREAK,
    AUTH_SCHEME_CREDENTIALS,
    AUTH_SCHEME_HEADER,
)
from sluice.server.pipeline.redaction.secret_bracketed_values import (
    BACKTICK_SECRET,
    BRACKETED_SECRET,
    DOUBLE_BACKTICK_SECRET,
    SQUARE_BRACKETED_SECRET,
)
from sluice.server.pipeline.redaction.secret_config_values import (
    CURL_QUOTED_USER_SECRET,
    CURL_USER_SECRET,
    config_setting_secret,
    config_setting_secret_reversed,
)
from sluice.server.pipeline.redaction.secret_elements import SECRET_ELEMENT_LAYOUTS
from sluice.server.pipeline.redaction.secret_flags import (
    SECRET_FLAG,
    SECRET_FLAG_OPEN_QUOTE,
    quoted_flag,
    quoted_flag_either_quote,
)
from sluice.server.pipeline.redaction.secret_headers import (
    AUTHORIZATION_PAIR_GATE,
    AUTHORIZATION_TOKEN_AFTER_WORD,
    AUTHORIZATION_TOKEN_ALONE,
    COOKIE_HEADER_SECRETS,
    COOKIE_JSON_ARRAY,
    COOKIE_PAIR_GATE,
    COOKIE_PAIR_SECRETS,
    COOKIE_PYTHON_LIST,
    DIGEST_AUTH_SECRETS,
    DIGEST_PAIR_SECRETS,
    NAMELESS_COOKIE_SECRETS,
)
from sluice.server.pipeline.redaction.secret_literals import (
    ESCAPED_JSON_NOT_A_STRING,
    JSON_NOT_A_STRING,
    PYTHON_NOT_A_STRING,
    PYTHON_STRING_LIST,
)
from sluice.server.pipeline.redaction.secret_names import (
    ASSIGNMENT,
    COMPARISON_OVER_LINES,
    CREDENTIAL_NAMES,
    HASHED_CREDENTIAL_NAMES,
    OTHER_LANGUAGE_PW,
    PLURAL_NAMES,
    SECRET_NAME,
    SETTING,
    SETTING_OVER_LINES,
    STRING_PREFIX,
)
from sluice.server.pipeline.redaction.secret_passphrases import (
    SECRET_TO_LINE_END,
    SECRET_TO_LINE_END_AFTER_ANOTHER,
    YAML_BLOCK_SECRET,
)
from sluice.server.pipeline.redaction.secret_quoted_values import (
    TWICE_ESCAPED_SECRET,
    escaped_quoted_secret,
    multiline_quoted_secret,
    parenthesised_quoted,
    quoted_list,
    quoted_secret,
    quoted_secret_either_quote,
)
from sluice.server.pipeline.redaction.secret_shell_values import (
    SHELL_ARRAY_ITEMS_BEFORE_MORE,
    SHELL_ARRAY_SECRET,
)
from sluice.server.pipeline.redaction.secret_values import (
    ASSIGNED_START,
    NOT_NULL_VALUE,
    UNQUOTED_REST,
)

# ("main" in this module's comments: the keyword pattern as it was before the
# parenthesised layouts, which read a "(" after the assignment alone as the value.)
#
# The assignment and an opening quote or CJK corner bracket (`パスワード「x`), if any; a
# comparison only with one (a backslash only before a quote: the one before a JSON
# escape, `password: \u00e9x`, is the value's first character, and a lead that took it
# wrote `\[SECRET_VALUE]`, no JSON escape). After a setting a backtick too (`password =
# \`x\``): the value is what BACKTICK_SECRET wrote, not the backtick and its tag. A
# comparison with a template literal is code, as one with a name is. After a setting
# also a "(" that a quote or spaces (a line break too) follow, with them (`password=("x"
# + salt)`, `password=( x )`): the value may no longer be the "(" alone
# (ASSIGNED_START), which left the secret after it in clear anyway. A "(" before any
# other character is the value's (`password=(x)`), as before. Not bounded to one line:
# main read the "(" alone as the value, so under null it hid every row; a lead that
# stops at a line break matches nothing in `password=(\n\nx` and keeps it. Those spaces
# are read 64 at most: a match whose lead runs over 2000 no-break spaces cost ~8x main's
# CPU (the engine resolves the groups over the whole match, slowly); past 64 the value
# is the "(" with the spaces ASSIGNED_START reads, as main's value was the "(".
#
# A Python string's prefix before the quote is the lead's (`password = r'x'`, `b"x"`,
# `rb'x'`, `u'x'`, `f'x'`): the value was the prefix alone, and the string after it
# was left in clear (STRING_PREFIX; the quoted layouts read it likewise).
_ASSIGNED_VALUE = (
    rf"(?:{SETTING}(?:\((?:\s{{1,64}}\\?[\"']?|\\?[\"'])|(?:{STRING_PREFIX}?\\?[\"'「『`])?)"
    rf"|{SETTING_OVER_LINES}{STRING_PREFIX}?\\?[\"'「『`]"
    rf"|{COMPARISON_OVER_LINES}{STRING_PREFIX}?\\?[\"'「『])"
)
# What the keyword gate looks for after a name: any assignment, a quote or not (one
# pattern for the entity and its layouts).
_ANY_ASSIGNED_VALUE = rf"(?:\\\\)?{ASSIGNMENT}\\?[\"'「『]?"

# The secret ending a Slack webhook URL: folded into the keyword entity's lead and gate
# as an Authorization header's scheme is (secret_authorization.AUTH_SCHEME_HEADER).
_SLACK_WEBHOOK = r"://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/"


#: A password hash under a name saying so (`password_hash: $2b$12$…`, `"passwordDigest":
#: "pbkdf2_sha256$…"`, `token_hash=<64 hex>`): a crypt string (`$2b$`, `$argon2id$`,
#: `$6$`; its Argon2/scrypt parameters hold "," and "=": `$argon2id$v=19$m=65536,t=3,p=4$…`,
#: all taken, a "," at its end not), Django's `algorithm$…`, 32 hex digits or more (also
#: after a scheme: `sha256:<hex>`), or LDAP's `{SSHA}<base64>`; any other value stays
#: (`password_hash=abc`, `password_hash == x`: a flag, a placeholder or code). Only
#: values holding "$", 32 hex digits or a `{SCHEME}` are looked at, among those the name picked
#: (KEYWORD_SECRET_GATE).
_HASHED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"(?i:\b[a-z0-9_-]*?{HASHED_CREDENTIAL_NAMES})\\?[\"']?\s*(?:[:=\uff1a]|=>)\s*\\?[\"']?",
    r"(?:\$[0-9a-z-]{1,16}|[a-z0-9_-]{2,32})\$[^\s\"';\\]*[^\s\"';\\,]"
    r"|(?i:[a-z][a-z0-9-]{1,15}:)?[0-9a-fA-F]{32,}|\{[A-Za-z0-9.-]{2,16}\}[A-Za-z0-9+/]{8,}=*",
    "",
    gate_pattern=r"\$|[0-9a-fA-F]{32}|\{[A-Za-z0-9.-]{2,16}\}",
)


#: What leads a secret the keyword entity (SECRET_VALUE) finds: the secret's name and its
#: assignment, or a Slack webhook's path (an Authorization header's scheme leads
#: AUTH_SCHEME_CREDENTIALS, a layout of the same value).
KEYWORD_SECRET_LEAD: Final = rf"{SECRET_NAME}{_ASSIGNED_VALUE}|{_SLACK_WEBHOOK}"


KEYWORD_SECRET_VALUE: Final = rf"{ASSIGNED_START}{UNQUOTED_REST}|{NOT_NULL_VALUE}"
#: A value ending in escaped backslashes (`{"m": "password=hunter2\\\\"}`, `C:\\\\temp\\\\`,
#: plain `password=abc\\\\ next`): the keyword pattern's value takes them only before
#: more of it (_ESCAPED_BACKSLASHES; no look-ahead tells it what follows), and the last
#: ones, or the whole value when it was only backslashes, were left in clear. Here they
#: are the value's where the trail (written back) is what ends a value (a space, quote,
#: separator or the line's end; not a character of the value, or a value's first
#: backslashes alone took that: `password=\\\\abc` under mask:4 showed `abc`), so not
#: before `\\"`,
#: the closing quote of a string escaped twice (`\\\\\\"`, three backslashes), whose
#: first two would have been taken and the JSON broken. Run before the keyword pattern,
#: which leaves the tag it writes. Only values holding an escaped backslash.
_VALUE_TO_ESCAPED_BACKSLASHES: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{SECRET_NAME}{_ASSIGNED_VALUE}",
    rf"(?:{ASSIGNED_START}{UNQUOTED_REST})?(?:\\\\)+",
    r"[\s\"',;&」』]|(?m:$)",
    gate_pattern=r"\\\\",
)


#: A secret's name, its assignment and a "(": main's keyword pattern read the "(" alone
#: as the value, so under null it dropped every such row. The layouts above and the
#: value's "(" forms (_ASSIGNED_VALUE, ASSIGNED_START) find the secret in most, but
#: not all (`password=(\xa0"[x] pw")`, `password=( [pw`): under null a row is dropped
#: where this matches too (Entity.null_also), so null hides at least what main hid; what
#: the other actions write is still only what those find. Its lead is main's, as it was.
KEYWORD_BEFORE_PARENTHESIS: Final = (
    rf"(?:{SECRET_NAME}(?:{SETTING_OVER_LINES}\\?[\"'「『`]?|{COMPARISON_OVER_LINES}\\?[\"'「『])"
    rf"|{AUTH_SCHEME_HEADER}|{_SLACK_WEBHOOK})\("
)
#: The keyword and what follows it: every match holds it, and a gate starting with a
#: literal keeps its prefilter (a name's first words are not one). No literal search for
#: its names in front of it: on text-heavy at moderate the gate adds nothing to the joined
#: scans it is in (the other gates there already make the engine read every byte), and a
#: case-insensitive `contains_any` of its names costs what the gate does alone (0.016
#: against 0.018 CPU s per 1M rows on the messages holding a separator; 0.024 for both
#: on `request.referrer`): benchmarks.keyword_gate_costs.
KEYWORD_SECRET_GATE: Final = (
    rf"(?:(?i:{CREDENTIAL_NAMES}|{HASHED_CREDENTIAL_NAMES}|{PLURAL_NAMES}|pass\b)|{OTHER_LANGUAGE_PW})"
    # An element's attribute too (`<password type="x">`).
    rf"(?:{_ANY_ASSIGNED_VALUE}|>|\s+[A-Za-z_:][A-Za-z0-9_:.-]*\s*=|\\?[\"']\s+(?i:value)\s*=|\\?[\"']\s*/?>)"
    rf"|--(?i:[a-z0-9_-]*?(?:{CREDENTIAL_NAMES}|pass\b))\s"
    # An Authorization header's scheme, or a credential's word alone after it
    # (secret_headers.AUTHORIZATION_TOKEN_ALONE: 12 characters or more).
    rf"|(?i:authorization\\?[\"']?\s*[:=]\s*(?:{STRING_PREFIX}?\\?[\"']|\\)?"
    r"(?:(?:token|basic|bearer|digest)\s|[a-z0-9._~+/-]{12}))"
    # A Cookie, Set-Cookie or Cookie2 header (COOKIE_HEADER_SECRETS), or a Cookie or
    # Authorization header written as a (name, value) pair (COOKIE_PAIR_SECRETS,
    # DIGEST_PAIR_SECRETS).
    r"|(?i:cookie)2?\\?[\"']?[ \t]*:"
    rf"|{COOKIE_PAIR_GATE}|{AUTHORIZATION_PAIR_GATE}"
    r"|://hooks\.slack\.com/services/"
    # curl's user and password (secret_config_values.CURL_USER_SECRET).
    r"|(?:-u[\s=]?|--user[\s=])\\?[\"']?[^\s:\"'\\]+:"
    # A shell array named by a plural no other name covers (SHELL_ARRAY_SECRET).
    r"|(?i:tokens|secrets)\+?=\("
)
#: The keyword entity's layouts, in the order they run, all before its own pattern: the
#: order matters where two could match the same text (each layout says which goes first).
SECRET_VALUE_LAYOUTS: Final = (
    JSON_NOT_A_STRING,
    ESCAPED_JSON_NOT_A_STRING,
    PYTHON_NOT_A_STRING,
    PYTHON_STRING_LIST,
    YAML_BLOCK_SECRET,
    quoted_list('"'),
    quoted_list("'"),
    multiline_quoted_secret('"'),
    quoted_secret('"'),
    escaped_quoted_secret('"'),
    quoted_secret_either_quote('"'),
    TWICE_ESCAPED_SECRET,
    multiline_quoted_secret("'"),
    quoted_secret("'"),
    escaped_quoted_secret("'"),
    quoted_secret_either_quote("'"),
    BRACKETED_SECRET,
    SQUARE_BRACKETED_SECRET,
    SHELL_ARRAY_SECRET,
    SHELL_ARRAY_ITEMS_BEFORE_MORE,
    parenthesised_quoted('"'),
    parenthesised_quoted("'"),
    DOUBLE_BACKTICK_SECRET,
    BACKTICK_SECRET,
    config_setting_secret('"'),
    config_setting_secret("'"),
    config_setting_secret_reversed('"'),
    config_setting_secret_reversed("'"),
    CURL_QUOTED_USER_SECRET,
    CURL_USER_SECRET,
    *SECRET_ELEMENT_LAYOUTS,
    quoted_flag('"', escaped=False),
    quoted_flag('"', escaped=True),
    quoted_flag_either_quote('"'),
    quoted_flag("'", escaped=False),
    quoted_flag("'", escaped=True),
    quoted_flag_either_quote("'"),
    SECRET_FLAG_OPEN_QUOTE,
    SECRET_FLAG,
    SECRET_TO_LINE_END,
    SECRET_TO_LINE_END_AFTER_ANOTHER,
    *COOKIE_HEADER_SECRETS,
    COOKIE_JSON_ARRAY,
    COOKIE_PYTHON_LIST,
    *NAMELESS_COOKIE_SECRETS,
    *COOKIE_PAIR_SECRETS,
    *DIGEST_AUTH_SECRETS,
    *DIGEST_PAIR_SECRETS,
    AUTHORIZATION_TOKEN_ALONE,
    AUTHORIZATION_TOKEN_AFTER_WORD,
    AUTH_CREDENTIALS_OVER_ESCAPED_BREAKS,
    AUTH_CREDENTIALS_TO_ESCAPED_BREAK,
    _HASHED_SECRET,
    _VALUE_TO_ESCAPED_BACKSLASHES,
    AUTH_SCHEME_CREDENTIALS,
)
