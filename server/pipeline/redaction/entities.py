"""What each level looks for inside text: content entities, found by pattern (the column
categories, found by column or field name, are in column_categories.py).

Every entity pattern has three named groups, `sl_lead`, `sl_value` and `sl_trail`: only
`sl_value` is sensitive; lead and trail are context the pattern must see (the `password=`
before a secret, or the character that proves a phone number ends here) and are written
back unchanged. Rust's regex engine, which Polars uses, has no look-around, so context
has to be consumed and restored this way. Every pattern compiles under both Python `re`
(the benchmark baseline and the corpus tests) and Rust `regex`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sluice.server.pipeline.redaction.person_names import name_value_regex
from sluice.server.pipeline.redaction.phone_gate import phone_gate
from sluice.server.pipeline.redaction.phone_runs import JOINER

LEVELS: Final = ("none", "basic", "moderate", "strict")
LEVEL_RANK: Final = {name: rank for rank, name in enumerate(LEVELS)}


@dataclass(frozen=True)
class Entity:
    """A kind of sensitive value found by content."""

    name: str
    level: str
    lead: str
    value: str
    trail: str
    #: Name of a checksum/shape validator in validators.VALIDATORS, or "" for none.
    validator: str = ""
    default_action: str = "redact"
    default_keep_last: int = 0
    #: Applied only when a rule names it (GDPR packages do), never as a level default:
    #: its precision is below what a level promises (see person_names.py).
    opt_in: bool = False
    #: A pattern every match holds (`@`), when searching for it is a cheaper
    #: gate than the lead or value: a necessary condition, so it skips only rows without
    #: a match (the rows it lets through are matched with the full pattern).
    gate_pattern: str = ""
    # What the text rewrites do beyond the pattern, declared here: a rule carries the
    # entity only when it runs this entity's own pattern (a custom regex under the
    # same label, or a step derived from it, gets none of these).
    #: A second round over the first one's output: the trail takes the one separator
    #: ("A B", "A,B") the next value's lead needs, and a tag, mask or pseudonym written
    #: in place of the first is never part of a value. Strict entities only: the
    #: moderate level does not pay for it.
    second_round: bool = False
    #: Before the second round, a joiner after every candidate's trail: for values
    #: holding no separator whose trail is always a character their lead accepts, so a
    #: look-alike left unchanged by the first round still takes the next value's lead
    #: ("12345678A X1234567L"). The joiner only stands for a lead that was there before
    #: the look-alike's trail took it, so it finds nothing a lookahead trail would not.
    joins_after_candidates: bool = False
    #: Cards beside digit groups are looked for again (card_groups.py).
    cards_beside_groups: bool = False
    #: Phone numbers side by side are parted (phone_bounds.py, phone_runs.py), values
    #: are read by trimming whole matches (phone_values.py), and the rule may rewrite
    #: in one pass (phone_one_pass.py).
    phone_steps: bool = False
    #: Neither the pattern nor its layouts match text without one of the separators
    #: compaction.SEPARATORS (`password=`, `scheme://user:`, a full-width colon,
    #: `<password>`, `--password x`): compaction scans the gate only on rows holding one.
    gate_assigns: bool = False
    #: Layouts of the same entity its pattern leaves or takes only in part, each a
    #: pattern of its own run before it, with the rule's action, on the values holding
    #: a match of the layout's `gate_pattern` (a byte search, on the rows the entity's
    #: gate picked: a layout's matches hold the entity's gate). For entities without
    #: a validator (their rows are not narrowed by a check of the main candidates).
    layouts: tuple[Entity, ...] = ()
    #: For a layout: every match holds a character beyond ASCII, so its gate is looked
    #: for only in the values holding one (a length check, bytes against characters:
    #: a regex scan of every value the entity's gate picked costs ~5x more).
    gate_non_ascii: bool = False

    def __post_init__(self) -> None:
        if self.layouts and self.validator:
            raise ValueError(f"{self.name}: layouts are for entities without a validator")
        if any(layout.name != self.name for layout in self.layouts):
            raise ValueError(f"{self.name}: a layout is of its own entity")

    @property
    def keyword_gate(self) -> bool:
        """Secrets (the basic level) are found by keywords and token prefixes: their
        gates start with a literal, and are joined into one scan (compaction.py)."""
        return self.level == "basic"

    @property
    def python_regex(self) -> str:
        return compose(self.lead, self.value, self.trail)

    @property
    def gate(self) -> str:
        """A cheap necessary condition for a match, used to pick the rows worth the full
        pattern: a pattern every match holds (`@`), the keyword context when there is
        one (`password=`, `Bearer `, `://`), otherwise the value itself without its
        boundary context."""
        if self.gate_pattern:
            return self.gate_pattern.replace(r"\b", r"(?-u:\b)")
        part = self.lead if self.lead and not self.lead.startswith("^|") else self.value
        return part.replace(r"\b", r"(?-u:\b)")

    @property
    def regex(self) -> str:
        """The pattern for Polars. Rust's fast engines cannot decide a Unicode word
        boundary once the text holds non-ASCII characters (it falls back to a much
        slower one), and every boundary here is between ASCII characters anyway."""
        return self.python_regex.replace(r"\b", r"(?-u:\b)")


def compose(lead: str, value: str, trail: str) -> str:
    return f"(?P<sl_lead>{lead})(?P<sl_value>{value})(?P<sl_trail>{trail})"


def without_names(regex: str) -> str:
    """The pattern with its named groups made non-capturing, so several can be joined
    into one alternation (names may not repeat)."""
    return re.sub(r"\(\?P<sl_(?:lead|value|trail)>", "(?:", regex)


# Word characters read as ASCII in the leads and trails of numbers, ids and addresses:
# text in scripts without spaces writes them right beside its words ("卡号4111111111111111
# 谢谢", "电话555-123-4567谢谢", "IP地址192.168.1.10谢谢"), which a Unicode "\w" takes
# for part of a longer word.
_ASCII_WORD = "0-9A-Za-z_"
# Context that marks where a token starts when \b is not strict enough: a phone number or
# card must not be the tail of an order id ("ORD-2025-001234") or of a price, nor the
# kept last digits of a masked card ("************1111 123 456"); one to three stars of
# emphasis do lead one ("**4111111111111111**", "*555-123-4567").
_START = rf"^|[^{_ASCII_WORD}.\-/#$€£+*]|(?:^|[^*])\*{{1,3}}"
# ... and where a digit run ends: at the end, at punctuation, or at separators/spaces
# followed by something that is not a word ("0123. ", "0123 if"). Runs are taken whole
# (greedy), and no shorter piece of a run satisfies this, so a long number (an IBAN's
# tail, a tracking number, a UUID's first group) never yields a phone- or card-sized part.
_END = rf"$|[^{_ASCII_WORD}\s.\-]|[\s.\-]+(?:[^{_ASCII_WORD}]|$)|\s+[^\W\d]"
# For cards a tab or line break ends a run too (one card per line): it is taken alone,
# so the next line's card finds its lead (text_markers.py puts a joiner after it). The
# joiner text_markers.py puts where this trail would take the next card's lead is never
# taken after separators ("4111…. <joiner>5500…").
_CARD_START = _START
_CARD_END = rf"$|[^{_ASCII_WORD}\s.\-]|[\t\n\r]|[\s.\-]+(?:[^{_ASCII_WORD}{JOINER}]|$)|\s+[^\W\d]"
# The last word of a name that holds a secret (`DB_PASSWORD`, `clientSecret`), and how
# its value is assigned (`=`, `: `, `":"`, `=>`, `:=`, with escaped quotes in JSON held
# inside a string).
_CREDENTIAL_NAMES = (
    r"(?:password|passwd|passphrase|pwd|secret|client_secret|api[_-]?key|apikey|access[_-]?token"
    r"|auth[_-]?token|refresh[_-]?token|token|secret[_-]?key|private[_-]?key|access[_-]?key)\b"
)
# A full-width colon (U+FF1A) too, as CJK text writes it after a name.
_SETTING_OPERATORS = r":=|=>|[:=\uff1a]"
# A comparison holds the secret as well, as a quoted literal (`if password == "hunter2"`,
# `password !== 'x'`): unquoted, what it compares with is code (`password == null`,
# `token != expected_token`, `api_key == os.environ['KEY']`).
_COMPARISON_OPERATORS = r"===?|!==?"


def _after_name(operators: str) -> str:
    """An operator after a secret's name, with the name's closing quote and spaces."""
    return rf"\\?[\"']?\s*(?:{operators})\s*"


_SETTING = _after_name(_SETTING_OPERATORS)
_COMPARISON = _after_name(_COMPARISON_OPERATORS)
# Either, where a quote or bracket follows (the quoted layouts). Comparisons after the
# one-character settings, so `password==x1` still reads "=x1".
_ASSIGNMENT = _after_name(f"{_SETTING_OPERATORS}|{_COMPARISON_OPERATORS}")
# The assignment and an opening quote or CJK corner bracket (`パスワード「x`), if any; a
# comparison only with one. After a setting a backtick too (`password = \`x\``): the
# value is what _BACKTICK_SECRET wrote, not the backtick and its tag. A comparison with
# a template literal is code, as one with a name is.
_ASSIGNED_VALUE = rf"(?:{_SETTING}\\?[\"'「『`]?|{_COMPARISON}\\?[\"'「『])"
# What the keyword gate looks for after a name: any assignment, a quote or not (one
# pattern for the entity and its layouts).
_ANY_ASSIGNED_VALUE = rf"{_ASSIGNMENT}\\?[\"'「『]?"
# "pass" ends a name only after "_" or "-" (`db_pass=`, `SMTP-PASS:`): alone or inside a
# word it is no credential ("bypass=on", "pass=3 fail=0").
_PW_SUFFIXED_NAME = r"\b[a-z0-9_-]*[_-]pass\b"
# Secrets after a fixed context that also holds a ':': `Authorization: Token …` (Django
# REST framework's scheme), Basic credentials too short for BEARER_TOKEN to tell from
# prose without the header (`Authorization: Basic YTpi`), and the secret ending a Slack
# webhook URL. Folded into the
# keyword entity's lead and gate, whose scan only rows holding ':' or '=' pay for: a gate
# of their own would be one more scan of every leaf where any keyword is found.
_AUTH_SCHEME_HEADER = r"(?i:\bauthorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?:token|basic)\s+)"
_SLACK_WEBHOOK = r"://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/"
# "Password" in a few other languages, as a whole name (a word boundary read as ASCII
# does not hold beside "ñ" or CJK): in the same gate, they cost its scan +0.003 s per
# 1M text-heavy messages.
_OTHER_LANGUAGE_PW = (
    r"(?:(?i:contrase[ñn]a|passwort|senha|mot[ _-]de[ _-]passe|пароль)|密码|パスワード|비밀번호)"
)
# The same as a name: the Latin-script words start a word or follow "_"/"-" ("DB_SENHA",
# not "Resenha", a review).
_OTHER_LANGUAGE_PW_NAME = (
    r"(?:(?i:\b(?:[a-z0-9_-]*[_-])?(?:contrase[ñn]a|passwort|senha|mot[ _-]de[ _-]passe)"
    r"|пароль)|密码|パスワード|비밀번호)"
)

_EMAIL_LOCAL = r"\b[A-Za-z0-9_][A-Za-z0-9._%+-]{0,63}"
_EMAIL_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
#: E-mail addresses the EMAIL pattern leaves: with the "@" escaped in a URL
#: (`?email=ann%40example.com`), with a quoted local part, quotes included, which may
#: hold spaces (`"ann lee"@example.com`, RFC 5321), or with an IP address literal for a
#: domain (`ann@[192.168.1.1]`, `ann@[IPv6:2001:db8::1]`). A layout of its own, on the
#: values holding "%40", `"@` or "@[" among the rows EMAIL's gate picked: one scan for
#: the three needles costs what one for "%40" did (0.012 CPU s per 1M text-heavy
#: messages). An escaped "@" inside an address (`bounce+ann%40x.com@mail.org`,
#: `ann@x.com%40y.org`) is EMAIL's own: the layout runs first, so it takes it whole.
#: In the EMAIL pattern as "(?:@|%40)" the escaped "@" cost moderate +0.04
#: CPU s per 1M text-heavy rows (the regex engine no longer finds the "@" first).
_EMAIL_OTHER_FORMS: Final = Entity(
    "EMAIL",
    "moderate",
    "",
    rf"(?:{_EMAIL_LOCAL}@)?{_EMAIL_LOCAL}%40{_EMAIL_DOMAIN}(?:@{_EMAIL_DOMAIN})*"
    rf"|\"[^\"\n@\\]{{1,64}}\"@{_EMAIL_DOMAIN}"
    rf"|{_EMAIL_LOCAL}@\[(?:[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}|IPv6:[0-9A-Fa-f:.]{{2,45}})\]",
    "",
    gate_pattern=r'%40|"@|@\[',
)

# Letters of scripts written with spaces beyond ASCII (Latin, with combining marks and
# Latin Extended Additional, as Vietnamese writes "ễ"; Greek, Cyrillic), as
# internationalised addresses hold them (RFC 6531). Not CJK: text
# in scripts without spaces writes an address right beside its words ("联系ann@x.com谢谢").
# Ranges rather than `\p{Latin}`, which Python's `re` lacks.
_NON_ASCII_LETTERS = (
    r"\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u0300-\u036F\u0370-\u03FF\u0400-\u04FF"
    r"\u1E00-\u1EFF"
)
_INTL_WORD = rf"A-Za-z0-9{_NON_ASCII_LETTERS}"
#: E-mail addresses with letters beyond ASCII in the local part or the domain
#: (`josé@example.com`, `jose@münchen.de`): EMAIL's pattern left them whole in clear (its
#: classes are ASCII). Only values holding a character beyond ASCII beside an "@" (no
#: space between) are looked at, among those EMAIL's gate picked; an ASCII address in
#: such a value is taken whole all the same.
_EMAIL_NON_ASCII: Final = Entity(
    "EMAIL",
    "moderate",
    "",
    rf"[{_INTL_WORD}_][{_INTL_WORD}._%+-]{{0,63}}@"
    rf"(?:[{_INTL_WORD}](?:[{_INTL_WORD}-]{{0,61}}[{_INTL_WORD}])?\.)+[A-Za-z{_NON_ASCII_LETTERS}]{{2,24}}",
    "",
    gate_pattern=r"[^\x00-\x7F][^\s@]*@|@[^\s@]*[^\x00-\x7F]",
    gate_non_ascii=True,
)

# The name of a secret, as the keyword entity's lead has it before the assignment.
_SECRET_NAME = (
    rf"(?:(?i:\b[a-z0-9_-]*?{_CREDENTIAL_NAMES}|{_PW_SUFFIXED_NAME})|{_OTHER_LANGUAGE_PW_NAME})"
)
# A secret's value: it may not start with an earlier rule's tag alone (left as it is),
# "[" (a tag's or a list's; _SQUARE_BRACKETED_SECRET takes the few bracketed values),
# an opening corner bracket or a backtick (the lead takes one; _BRACKETED_SECRET or
# _BACKTICK_SECRET wrote its value), and ends at a space, a quote, a list separator or
# an escaped quote. An "=" or ">" starts one only before another character of it, not
# all "=": after a quoted secret's layout wrote its value (`password :=
# "[SECRET_VALUE]"`, `password === "[SECRET_VALUE]"`), the pattern would otherwise read
# the ":=" as ":" and a value "=" (the "===" as "=" and a value "==").
# What an earlier rule wrote starts one when more of the value follows it
# (`password=ghp_…:hunter2`, once GITHUB_TOKEN wrote its tag, left `:hunter2` in clear).
#: What an earlier rule wrote: a tag (`[GITHUB_TOKEN]`, upper case) or a seal
#: (pseudonyms.py: `[LABEL` or `[`, then a SUB). Not any word in brackets: `token=[0]*2`
#: and `token=[masked]x` are code and log text.
_WRITTEN = r"\[(?:[A-Z][A-Z0-9_]*|[A-Z0-9_]*\x1a[^\[\]\s]*)\]"
#: ... and the first character of the value's rest after it.
_WRITTEN_THEN_MORE = rf"{_WRITTEN}(?:[^\s\"',;&\[\\」』`]|\\[^\s\"'])"
_ASSIGNED_START = (
    r"(?:[^\s\"',;&\[\\=>「『」』`]|[=>]=*(?:[^\s\"',;&\[\\=]|\\[^\s\"'])|\\[^\s\"']"
    rf"|{_WRITTEN_THEN_MORE})"
)
_ASSIGNED_REST = r"(?:[^\s\"',;&\\」』]|\\[^\s\"'])*"
# A quoted secret's value starts at any character but a space, its own quote, a backslash
# or "[" (a tag): the quotes, not the characters, say where it is (`password="= a b"`,
# `api_key=',x'`); `=`, `>` and list separators start one here.


def _quoted_start(quote: str) -> str:
    return rf"(?:[^\s{quote}\[\\]|\\[^\s\"'])"


def _quoted_value(quote: str) -> str:
    """A quoted secret's value, up to its closing quote (the trail's) on its line. Also
    one starting with what an earlier rule wrote, when more of the value follows it
    (`"ghp_… tail"` after GITHUB_TOKEN wrote its tag), ending at the last character
    before the quote that is no space. Not over a line break: a prompt's closing quote
    (`input('Password: ')`) then read as an opening one, and the value ran on to the
    next line's quote, taking a secret's name and leaving its value (`api_key =
    'Hunter2'`) in clear; and a quote no line closes took the rest of the text."""
    return (
        rf"{_quoted_start(quote)}{_ASSIGNED_REST}[^{quote}\n\\]*"
        rf"|{_WRITTEN}[^{quote}\n\\]*[^\s{quote}\\]"
    )


def _quoted_secret(quote: str) -> Entity:
    """A secret quoted with `quote` (and escaped or not), whole up to the closing quote
    of the same kind on its line (`password="correct horse battery"`): the keyword
    entity's value ends at a space, as an unquoted value does. One layout per kind of
    quote: Rust's regex has no back-reference to find the closing one. Before the
    keyword pattern, which then finds the value written in its place (a tag or a
    pseudonym starts with "[", a mask reads as the same mask). Spaces after the opening
    quote are not the value's start (`password=" hunter2"`: the keyword pattern's value
    may not start with one, and left it whole in clear). Only values holding a quote
    right after an assignment are looked at (a scan of the rows the keyword gate
    picked)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_SECRET_NAME}{_ASSIGNMENT}\\?{quote}[ \t]*",
        _quoted_value(quote),
        rf"\\?{quote}",
        gate_pattern=rf"[:=>\uff1a]\s*\\?{quote}",
    )


#: A secret in CJK corner brackets (`password=「correct horse」`, `『…』`), whole up to
#: the closing bracket on its line, as _quoted_secret takes a quoted one: the keyword
#: pattern's value ended at the first space and left the words after it in clear. One
#: layout for both kinds (a value holds neither closing bracket). Only values holding
#: an opening bracket right after an assignment are looked at.
_BRACKETED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_NAME}{_ASSIGNMENT}[「『][ \t\u3000]*",
    rf"[^\s」』\[\\][^」』\n]*|{_WRITTEN}[^」』\n]*[^\s」』]",
    "[」』]",
    gate_pattern=r"[:=>\uff1a]\s*[「『]",
)


# Inside a secret's square brackets: no bracket or SUB but what an earlier rule wrote
# (a tag or seal, pseudonyms.py), no line break, and nothing code, a list or Markdown
# holds there (`[t.strip() for t in x]`, `[u8; 32]`, `[str]) -> None`, `[string,
# number]) {}`, `['a', 'b']`, `[1, 2]`, `[<hidden>]`).
_IN_BRACKETS = rf"(?:[^\[\]\n\x1a(){{}},;:'\"`<>]|{_WRITTEN})"
# A word of letters, digits, "_" and the characters of placeholders ("*", ".", "/", "-");
# lower case and placeholder characters alone (`masked`, `n/a`, `***`) are a placeholder,
# upper case, digits and "_" alone a tag or an index (`REDACTED`, `0`).
_PLACEHOLDER_CHAR = r"[a-z*./-]"
_TAG_OR_INDEX_CHAR = r"[A-Z0-9_]"
_WORD_CHAR = r"[a-zA-Z0-9_*./-]"
# Anything else: a space (not first), a sign, a letter beyond ASCII or what an earlier
# rule wrote.
_VALUE_MARK = rf"(?:[^a-zA-Z0-9_*./\-\[\]\n\x1a(){{}},;:'\"`<>]|{_WRITTEN})"
_VALUE_MARK_FIRST = rf"(?:[^\sa-zA-Z0-9_*./\-\[\]\x1a(){{}},;:'\"`<>]|{_WRITTEN})"

#: A secret in square brackets right after "=" (`password=[x y]`, `secret=[Hunter2]`),
#: whole up to the closing bracket on its line, brackets and what an earlier rule wrote
#: inside them included: the keyword pattern's value ended at the first space and left
#: the words after it in clear. Only what is plainly a value: after "=" alone (after a
#: space or ":" it is code, YAML or Markdown: `token = [t for t in x]`, `let token:
#: [u8; 32]`, `- token: [x] done`), not a Markdown link (`token=[here](http://a.b)`,
#: `[link][1]`: the trail is no "(" or "["), and not a placeholder, tag or index alone
#: (`token=[masked]`, `secret=[none]`, `password=[***]`, `password=[SECRET_VALUE]`,
#: `token=[0]`): it holds a space or sign, or both kinds of word character
#: (`[hunter2]`). Only values holding "=[" are looked at.
_SQUARE_BRACKETED_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_NAME}=",
    rf"\[(?:(?:{_WORD_CHAR}+{_VALUE_MARK}|{_VALUE_MARK_FIRST}){_IN_BRACKETS}*"
    rf"|{_PLACEHOLDER_CHAR}+{_TAG_OR_INDEX_CHAR}{_WORD_CHAR}*"
    rf"|{_TAG_OR_INDEX_CHAR}+{_PLACEHOLDER_CHAR}{_WORD_CHAR}*)\]",
    r"$|[^(\[]",
    gate_pattern=r"=\[",
)
#: A secret in backticks after a setting (`password = \`x y\``, a template literal or
#: Markdown code), whole up to the closing backtick on its line. Not after a comparison:
#: a template literal compared with is code, and a comparison's value running on to the
#: next backtick (`token !== \`abc\`) { password = \`hunter2\``) took the code between
#: them for the value and left the next secret in clear. Not starting with a space or
#: punctuation: the backtick then closes Markdown code (`Run \`export API_TOKEN=\`, then
#: paste`), and the "value" is prose up to the next code span. Not over a line break: a
#: label's closing backtick (`log(\`token: \`, t);`) ran on to the next line's literal,
#: taking the name before it. A value holds no backtick, so each literal is one match.
#: Only values holding a backtick right after an assignment are looked at.
_BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_NAME}{_SETTING}`",
    rf"[^\s`\[\\,;.:)!?][^`\n]*|{_WRITTEN}[^`\n]*[^\s`\\]",
    "`",
    gate_pattern=r"[:=>\uff1a]\s*`",
)
#: The same in double backticks (`password = \`\`hunter2\`\``, a reStructuredText
#: inline literal): _BACKTICK_SECRET's value may not start with a backtick, so it left
#: these in clear. Whole up to the two closing backticks on its line; a single backtick
#: inside is the value's (`\`\`abc\`def\`\``). Same gate as _BACKTICK_SECRET, beside it:
#: one search serves both.
_DOUBLE_BACKTICK_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_NAME}{_SETTING}``",
    rf"[^\s`\[\\,;.:)!?](?:[^`\n]|`[^`\n])*|{_WRITTEN}(?:[^`\n]|`[^`\n])*[^\s`\\]",
    "``",
    gate_pattern=_BACKTICK_SECRET.gate_pattern,
)
# An XML element naming a secret: also with a namespace prefix (`<db:password>`) or
# attributes on its line (`<password type="x">`), not closed at once (`<password/>`).
_SECRET_ELEMENT_OPEN = (
    rf"<(?:[A-Za-z_][A-Za-z0-9_.-]*:)?{_SECRET_NAME}(?:[ \t](?:[^<>\n]*[^<>/\n])?)?>"
)
# Lines of an element's value after its first: enough for a pretty-printed key (a
# 4096-bit one's base64 takes 52 lines of 64), so an element no "</" closes near by
# does not take pages of text up to the next one (`<password>a` and a megabyte of
# lines before `</x>`). An element whose value runs on longer has as many of its lines
# redacted (_LONG_SECRET_ELEMENT).
_ELEMENT_MORE_LINES = 63
# An element's value: its first line (also one starting with what an earlier rule
# wrote, when more of the value follows it), then its further lines, each starting with
# its first non-space character.
_ELEMENT_FIRST_LINE = rf"(?:[^<\[\s]|{_WRITTEN}[ \t]*(?:[\r\n]\s*)?[^<\s])[^<\r\n]*"
_ELEMENT_NEXT_LINE = r"[\r\n]\s*[^<\s][^<\r\n]*"


#: A secret as an XML element's text (`<password>hunter2</password>`), whole up to the
#: next "<", also pretty-printed on lines of its own (`<password>\n  s3cr3t\n</password>`:
#: the line breaks and indent around it are context; its own lines are the value). Each
#: further line starts with its first non-space character, so the split between lines is
#: unambiguous (no backtracking blow-up under Python `re`). Only values holding "</"
#: are looked at.
_SECRET_ELEMENT: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*",
    rf"{_ELEMENT_FIRST_LINE}(?:{_ELEMENT_NEXT_LINE}){{0,{_ELEMENT_MORE_LINES}}}",
    r"\s*</",
    gate_pattern="</",
)
#: An element whose value runs on past _SECRET_ELEMENT's lines (a longer key, or an
#: element no "</" closes near by): its first lines, as many as _SECRET_ELEMENT takes,
#: up to the next line of the value. _SECRET_ELEMENT left all of it in clear, first
#: line included. After _SECRET_ELEMENT, with its gate (one search for "</" serves
#: both): it finds only the elements that one left, since what that one wrote is
#: followed by the "</" closing it, not by a further line.
_LONG_SECRET_ELEMENT: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*",
    rf"{_ELEMENT_FIRST_LINE}(?:{_ELEMENT_NEXT_LINE}){{{_ELEMENT_MORE_LINES}}}",
    r"[\r\n]\s*[^<\s]",
    gate_pattern="</",
)
#: The same in a CDATA section (`<password><![CDATA[s3cr3t]]></password>`): the value
#: is what the section holds (a "]" in it too, unless two close it), whole up to its
#: end; a value may not start with "<", so _SECRET_ELEMENT left it in clear. Same gate
#: as _SECRET_ELEMENT, before it: one search for "</" serves both.
_SECRET_CDATA: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*<!\[CDATA\[\s*",
    rf"[^\[\]\s](?:[^\]]|\][^\]])*|{_WRITTEN}(?:[^\]]|\][^\]])*[^\]\s]",
    r"\]\]>\s*</",
    gate_pattern="</",
)


# A command-line flag naming a secret, and the space before its value (`--password `,
# `--db-pass `, `--api-key `): a keyword and a space are prose too, so only after "--".
_FLAG_NAME = rf"--(?i:[a-z0-9_-]*?{_CREDENTIAL_NAMES}|{_PW_SUFFIXED_NAME})\s+"


def _quoted_flag(quote: str) -> Entity:
    """A quoted secret after a command-line flag (`--password "correct horse"`), whole up
    to the closing quote of the same kind on its line, as _quoted_secret takes one after
    an assignment: _SECRET_FLAG's value ends at a space and left the words after the
    first in clear. Inside quotes a value may start with "-" (`"-x y"`) or after
    spaces (`" a b"`): the quote, not the next flag, says where it starts. Before _SECRET_FLAG,
    which then finds the value written in its place. Only values holding "--"."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_FLAG_NAME}\\?{quote}[ \t]*",
        rf"{_quoted_start(quote)}{_ASSIGNED_REST}[^{quote}\n\\]*",
        rf"\\?{quote}",
        gate_pattern="--",
    )


#: A secret after a command-line flag and a space (`--password hunter2`, `--db-pass x`,
#: `--api-key x`). Not a value led by "-" (the next flag), nor by an assignment
#: (`--password = x`, `--token => x`, `--db-password : x`: the keyword pattern takes the
#: value after it, as it did before this layout). Only values holding "--".
_SECRET_FLAG: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_FLAG_NAME}\\?",
    rf"(?:[^\s\"',;&\[\\=:\uff1a-]|\\[^\s\"']|{_WRITTEN_THEN_MORE}){_ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The same after a quote no closing one follows (`--password "x`, a line cut short):
#: after a quote, "=" or ":" is the value's own (`--password "=x`).
_SECRET_FLAG_OPEN_QUOTE: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_FLAG_NAME}\\?[\"']",
    rf"(?:[^\s\"',;&\[\\-]|\\[^\s\"']|{_WRITTEN_THEN_MORE}){_ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The AWS secret key after the CLI's flag and a space (`--aws-secret-access-key …`).
_AWS_SECRET_FLAG: Final = Entity(
    "AWS_SECRET_KEY",
    "basic",
    r"--(?i:aws-secret-(?:access-)?key)\s+",
    r"[A-Za-z0-9/+=]{40}",
    "",
    gate_pattern="--",
)


# A coordinate's name, as a key (`lat=`, `"lng": `, `geo_latitude: `), and its assignment.
_COORDINATE_KEY = r"\\?[\"']?\s*[:=]\s*\\?[\"']?"
_LATITUDE = r"[-+]?(?:[1-8]?[0-9]\.[0-9]{4,}|90\.0{4,})"
_LONGITUDE = r"[-+]?(?:1[0-7][0-9]|[0-9]{1,2})\.[0-9]{4,}"
# Where a coordinate's decimals end (a version's next dot and digit does not).
_COORDINATE_END = rf"$|[^{_ASCII_WORD}.]|\.(?:[^{_ASCII_WORD}]|$)"


def _coordinate_by_key(names: str, value: str) -> Entity:
    """A latitude or longitude as the value of a key of its own (`lat=40.416775&lon=
    -3.703790`, `{"lat": 40.416775, "lng": -3.703790}`): GEO_COORDINATES's pattern reads
    the pair only as two numbers side by side. Only values naming one are looked at."""
    return Entity(
        "GEO_COORDINATES",
        "strict",
        rf"(?i:\b(?:[a-z0-9]*_)?(?:{names})){_COORDINATE_KEY}",
        value,
        _COORDINATE_END,
        gate_pattern=r"(?i:lat|lon|lng)",
    )


# With a "+" or an area code in parentheses any separators go; otherwise spaces and
# dashes, or dots only in the two usual dotted layouts (so IPv4 addresses and version
# numbers are not even candidates).
_PHONE_VALUE: Final = (
    r"(?:(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?|\([0-9]{1,4}\)[ .-]?)"
    r"[0-9](?:[ .-]?[0-9]){6,}"
    r"|[0-9]{3}\.[0-9]{3}\.[0-9]{4}|[0-9]{2}(?:\.[0-9]{2}){4}|[0-9](?:[ -]?[0-9]){6,})"
    r"(?:\s?(?:ext\.?|x|extension)\s?[0-9]{1,6})?"
)


ENTITIES: Final = (
    Entity(
        "PRIVATE_KEY",
        "basic",
        "",
        # PGP's armour ends its header with " BLOCK". The key is what can be a PEM body
        # (header lines such as "Proc-Type: ...", then base64 and line breaks, also
        # escaped: "\n" in JSON, "#012" by syslog, "%0A" in URLs, "<br>" in HTML) and its
        # END line if it has one: a key cut short (a truncated value, a log line limit)
        # ends at the first other character, so prose after a pasted header keeps its
        # own, finer redactions ("paste your -----BEGIN ...----- here. Mail bob@...").
        # One path, no lazy search for the END line, which made every header in a value
        # scan the rest of it (quadratic on crafted values).
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:\s*[A-Za-z-]+: [^\n]*)*"
        r"(?:[A-Za-z0-9+/=\s\\]|#0[0-9]{2}|%0[AaDd]|<br\s*/?>)*"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)?",
        "",
        # The header alone: every match starts with it, and it has no anchor (gates
        # are scanned over short values joined by newlines, see compaction.py).
        gate_pattern=r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY",
    ),
    Entity(
        "JWT", "basic", "", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ""
    ),
    Entity(
        "AWS_ACCESS_KEY",
        "basic",
        "",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b",
        "",
    ),
    Entity(
        "AWS_SECRET_KEY",
        "basic",
        # Also dashed, as a YAML key or CLI flag (`--aws-secret-access-key=VALUE`).
        r"(?i:aws[_-]?secret[_-]?(?:access[_-]?)?key)[\"']?\s*[:=]\s*[\"']?",
        r"[A-Za-z0-9/+=]{40}",
        "",
        # The name, then its assignment or the space after the CLI's flag.
        gate_pattern=r"(?i:aws[_-]?secret[_-]?(?:access[_-]?)?key)(?:[\"']?\s*[:=]|\s)",
        gate_assigns=True,
        layouts=(_AWS_SECRET_FLAG,),
    ),
    Entity(
        "GITHUB_TOKEN",
        "basic",
        "",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        "",
    ),
    # App-level tokens (`xapp-1-…`) and webhook secrets (`whsec_…`) are alternatives
    # inside the existing patterns: a gate of their own would add a literal to the
    # joined keyword scan every row pays for.
    Entity("SLACK_TOKEN", "basic", "", r"\bx(?:ox[abposr]-|app-[0-9]+-)[A-Za-z0-9-]{10,250}", ""),
    Entity("STRIPE_KEY", "basic", "", r"\b(?:[sr]k_(?:live|test)|whsec)_[A-Za-z0-9]{16,247}\b", ""),
    Entity("GOOGLE_API_KEY", "basic", "", r"\bAIza[0-9A-Za-z_-]{35}", ""),
    Entity(
        # Also the credentials of `Authorization: Basic ...` (user and password in
        # base64, often shorter than a token). The scheme alone is the lead: every
        # literal a keyword gate adds costs the joined scan of all of them (see
        # compaction.py), and "authorization:" would add more than the match needs.
        "BEARER_TOKEN",
        "basic",
        # Basic credentials wherever they are written (`"Authorization" => "Basic …"`,
        # `Header.Set("Authorization", "Basic …")`). "basic" is also a common word: a
        # word of 16 token characters after it is redacted too ("basic
        # understanding/knowledge"); over-redaction is the safe failure.
        r"\b(?i:bearer|basic)\s+",
        # Shorter than a token only when base64 padding says it is encoded
        # (`YWRtaW46YWRtaW4=`): "bearer bonds" in prose stays.
        r"[A-Za-z0-9._~+/-]{16,}=*|[A-Za-z0-9+/]{2,15}={1,2}",
        "",
    ),
    Entity(
        "URL_PASSWORD",
        "basic",
        # The user may be empty (`redis://:pw@host`); the password runs to the last "@"
        # before the host (an unescaped one in it is common).
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/@\"']*:",
        # A "/" in it too (`amqp://app:pa/ss@host`), unless the part before the first
        # "/" is all digits: that is a port, and the "@" further on is in a path
        # (`https://example.com:8443/users/@ann`). Such a value ends at its first "@":
        # it stops short of a path's "@" after the host.
        # Tried first without a "?" or "#", so that the "@" of an address in the query
        # is not read as the host's (`http://u:p@h?next=a@b.com`); then with them, since
        # passwords hold them unescaped (`postgres://u:Sup3r#Secret@db`).
        r"[^\s/?#\"']+|[^\s/?#\"']*[^\s/?#\"'0-9][^\s/?#\"']*/[^\s?#\"'@]*"
        r"|[^\s/\"']+",
        "@",
        gate_assigns=True,
    ),
    Entity(
        # `password=...`, `secret: ...`, `"api_key": "..."` in free text and config dumps,
        # also as the last word of a longer name (`DB_PASSWORD=`, `newPassword:`,
        # `X_API_KEY:`) and inside an escaped string (`\\"password\\":\\"...\\"`).
        # The value may not start with "[" so an earlier rule's tag is left alone, and
        # ends before an escaped quote.
        "SECRET_VALUE",
        "basic",
        rf"{_SECRET_NAME}{_ASSIGNED_VALUE}|{_AUTH_SCHEME_HEADER}|{_SLACK_WEBHOOK}",
        rf"{_ASSIGNED_START}{_ASSIGNED_REST}",
        "",
        # The keyword and what follows it: every match holds it, and a gate starting
        # with a literal keeps its prefilter (a name's first words are not one).
        gate_pattern=rf"(?:(?i:{_CREDENTIAL_NAMES}|pass\b)|{_OTHER_LANGUAGE_PW})"
        # An element's attribute too (`<password type="x">`).
        rf"(?:{_ANY_ASSIGNED_VALUE}|>|\s+[A-Za-z_:][A-Za-z0-9_:.-]*\s*=)"
        rf"|--(?i:[a-z0-9_-]*?(?:{_CREDENTIAL_NAMES}|pass\b))\s"
        r"|(?i:authorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?:token|basic)\s)"
        r"|://hooks\.slack\.com/services/",
        gate_assigns=True,
        layouts=(
            _quoted_secret('"'),
            _quoted_secret("'"),
            _BRACKETED_SECRET,
            _SQUARE_BRACKETED_SECRET,
            _DOUBLE_BACKTICK_SECRET,
            _BACKTICK_SECRET,
            _SECRET_CDATA,
            _SECRET_ELEMENT,
            _LONG_SECRET_ELEMENT,
            _quoted_flag('"'),
            _quoted_flag("'"),
            _SECRET_FLAG_OPEN_QUOTE,
            _SECRET_FLAG,
        ),
    ),
    Entity(
        "EMAIL",
        "moderate",
        "",
        # A local part may start with "_"; the domain may be followed by a digit or
        # "_" (`ann@x.com_old`): the greedy top-level domain ends it anyway.
        rf"{_EMAIL_LOCAL}@{_EMAIL_DOMAIN}",
        "",
        # Text rarely holds an "@" outside an address: on the text-heavy set the rows
        # holding one are exactly those holding an address, and a byte search for it
        # costs ~60% of the value pattern's scan. A "%" too, for an "@" escaped in a URL
        # (_EMAIL_OTHER_FORMS): one byte search for either costs the same.
        gate_pattern="[@%]",
        layouts=(_EMAIL_OTHER_FORMS, _EMAIL_NON_ASCII),
    ),
    Entity(
        "PERSON_NAME",
        "moderate",
        r"^|[^\w]",
        name_value_regex(),
        r"$|[^\w]",
        validator="person_name",
        opt_in=True,
    ),
    Entity(
        "IBAN",
        "strict",
        # ASCII word characters, as for cards (_CARD_START).
        rf"^|[^{_ASCII_WORD}]",
        # Groups of four parted by spaces or dashes (a dashed one must have its
        # country's length: see validators). In lower case unparted, as typed into a
        # form (`de89370400440532013000`), or in groups parted by spaces, as copied
        # from a statement (`de89 3704 …`), and only a country in the table counts
        # (validators). Not in dashed lower-case groups: that is how keys and ids are
        # written (`gb88-e2un-oqj7-…`), and of 20,000 random such keys with a listed
        # country's length, about 1 in 100 passes mod 97 (as any random string does).
        # One kind of separator throughout, so a dash after a spaced or unparted IBAN
        # (`BE68539007547034-2024`) ends it rather than failing its length.
        r"[A-Z]{2}[0-9]{2}(?:(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
        r"|(?:-[A-Z0-9]{4}){2,7}(?:-[A-Z0-9]{1,3})?)"
        r"|[a-z]{2}[0-9]{2}(?:[a-z0-9]{11,30}|(?: [a-z0-9]{4}){2,7}(?: [a-z0-9]{1,3})?)",
        rf"$|[^{_ASCII_WORD}]",
        validator="iban",
        default_action="mask",
        default_keep_last=4,
        second_round=True,
    ),
    Entity(
        "CARD",
        "strict",
        # A card is often numbered ("card #4111…") or follows a letter or "_" in a name
        # ("cc_4111…", "x4111…"): Luhn and the issuer ranges tell it from an order
        # number, which those rule out for phones and SSNs.
        rf"{_CARD_START}|[#A-Za-z_]",
        r"[0-9](?:[ -]?[0-9]){12,}",
        _CARD_END,
        validator="card",
        default_action="mask",
        default_keep_last=4,
        cards_beside_groups=True,
    ),
    Entity(
        "US_SSN",
        "strict",
        # Also after a "/" ("123-45-6789/234-56-7890": the second round finds the one
        # after the first's tag): the validator tells an SSN from an id in a path.
        rf"{_CARD_START}|/",
        r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}",
        rf"$|[^{_ASCII_WORD}\-]|-(?:[^0-9]|$)",
        validator="us_ssn",
        second_round=True,
    ),
    Entity(
        "ES_DNI",
        "strict",
        rf"^|[^{_ASCII_WORD}\-]",
        # Also with thousands dots ("12.345.678-Z"), as DNIs are often printed.
        r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}-?[A-Za-z]|[0-9]{8}-?[A-Za-z]|[XYZxyz]-?[0-9]{7}-?[A-Za-z]",
        rf"$|[^{_ASCII_WORD}\-]",
        validator="es_dni",
        second_round=True,
        joins_after_candidates=True,
    ),
    Entity(
        "UK_NINO",
        "strict",
        rf"^|[^{_ASCII_WORD}]",
        r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",
        rf"$|[^{_ASCII_WORD}]",
        validator="uk_nino",
        second_round=True,
    ),
    Entity(
        "MAC_ADDRESS",
        "strict",
        rf"^|[^{_ASCII_WORD}:.\-]",
        r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}"
        r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
        rf"$|[^{_ASCII_WORD}:\-]",
        second_round=True,
    ),
    Entity(
        "IPV6",
        "strict",
        rf"^|[^{_ASCII_WORD}:.]",
        # An IPv4-mapped address (`::ffff:192.168.1.10`) first: the groups alone end
        # at its first dot, and left its IPv4 tail to IPV4.
        r"(?:(?:0{1,4}:){5}|::)(?:[Ff]{4}:)?[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
        r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
        rf"$|[^{_ASCII_WORD}:]",
        validator="ipv6",
        second_round=True,
    ),
    Entity(
        "IPV4",
        "strict",
        rf"^|[^{_ASCII_WORD}.]",
        r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:\.[0-9]+)*",
        rf"$|[^{_ASCII_WORD}.]|\.(?:[^{_ASCII_WORD}]|$)",
        validator="ipv4",
        second_round=True,
    ),
    Entity(
        "GEO_COORDINATES",
        "strict",
        rf"^|[^{_ASCII_WORD}.]",
        rf"{_LATITUDE}\s*,\s*{_LONGITUDE}",
        _COORDINATE_END,
        # A dot and four decimals: every match holds them, its layouts' too. Scanned
        # alone it costs what the whole pattern did (a byte class with no literal
        # either way: 0.033 against 0.030 CPU s per 1M text-heavy messages).
        gate_pattern=r"\.[0-9]{4}",
        second_round=True,
        # A pair under a key (`lat_lon=40.4,-3.7`, `"lat,lng": "40.4,-3.7"`, `lon_lat=…`)
        # is taken whole: the key's own number alone left the other in clear. Its second
        # number in the longitude range, which holds the latitude one, whichever the order.
        layouts=(
            _coordinate_by_key("lat|latitude", rf"{_LATITUDE}(?:\s*,\s*{_LONGITUDE})?"),
            _coordinate_by_key("lon|lng|long|longitude", rf"{_LONGITUDE}(?:\s*,\s*{_LONGITUDE})?"),
        ),
    ),
    Entity(
        # Last: earlier entities (cards, ids, addresses) hold digit runs a phone candidate
        # could otherwise take a piece of.
        "PHONE",
        "moderate",
        _START,
        _PHONE_VALUE,
        _END,
        validator="phone",
        # Not the value pattern: dates, ids and card look-alikes pass that (phone_gate.py).
        gate_pattern=phone_gate(_PHONE_VALUE),
        phone_steps=True,
    ),
)
ENTITY_BY_NAME: Final = {entity.name: entity for entity in ENTITIES}


def at_level(level: str, rank: int) -> bool:
    return LEVEL_RANK[level] <= rank
