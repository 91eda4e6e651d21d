"""What each level looks for inside text: content entities, found by pattern (the column
categories, found by column or field name, are in column_categories.py). What an entity
is, and the named groups every pattern has, is in entity.py; how secrets are written
beside their names (the keyword entity's pattern and layouts), in secret_layouts.py.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.number_separators import CARD_SEPARATOR, DASHES, ID_SPACES
from sluice.server.pipeline.redaction.person_names import name_value_regex
from sluice.server.pipeline.redaction.phone_gate import phone_gate
from sluice.server.pipeline.redaction.phone_other_forms import OTHER_FORMS_GATE, PHONE_OTHER_FORMS
from sluice.server.pipeline.redaction.phone_runs import JOINER
from sluice.server.pipeline.redaction.pseudonyms import SEAL
from sluice.server.pipeline.redaction.secret_flags import AWS_SECRET_FLAG
from sluice.server.pipeline.redaction.secret_headers import AUTHORIZATION_PAIR_SECRETS
from sluice.server.pipeline.redaction.secret_layouts import (
    KEYWORD_BEFORE_PARENTHESIS,
    KEYWORD_SECRET_GATE,
    KEYWORD_SECRET_LEAD,
    KEYWORD_SECRET_VALUE,
    SECRET_VALUE_LAYOUTS,
)

LEVELS: Final = ("none", "basic", "moderate", "strict")
LEVEL_RANK: Final = {name: rank for rank, name in enumerate(LEVELS)}


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
# A word led by digits ("5pm", "3DS", "2nd", "18h30") ends a run as a word of letters
# does: the greedy run took its digits, failed on its letter, and the number before it
# stayed in clear. It is the only trail holding digits (phone_values.glued_word_values
# decides which of them are the value's).
# Its letter is one of any script, or "_", as `\s+[^\W\d]` reads a word of letters
# ("2ème", "3º", "5_pm"): read as ASCII, the digit was taken into the number
# ("[PHONE]ème") or the number stayed in clear. These patterns run in Polars' (Rust)
# engine only, where "\W" and "\d" are Unicode's (a digit beyond ASCII is no letter).
_DIGIT_LED_WORD = r"\s+[0-9]+[^\W\d]"
_END = rf"$|[^{_ASCII_WORD}\s.\-]|[\s.\-]+(?:[^{_ASCII_WORD}]|$)|\s+[^\W\d]|{_DIGIT_LED_WORD}"
# For cards a tab or line break ends a run too (one card per line): it is taken alone,
# so the next line's card finds its lead (text_markers.py puts a joiner after it). The
# joiner text_markers.py puts where this trail would take the next card's lead is never
# taken after separators ("4111…. <joiner>5500…").
# Dashes beyond ASCII count as "-" does (number_separators.py): a card is no piece of a
# longer run parted by them either.
_CARD_START = rf"^|[^{_ASCII_WORD}.\-/#$€£+*{DASHES}]|(?:^|[^*])\*{{1,3}}"
# A dash and a word of letters, or "_", end a card too ("pay 4111…-x", "4111…\u2013x",
# "order 4111…_", "5500 0000 0000 0004-_"): the Luhn check and the issuer ranges tell a
# card so glued from an id's piece, and the card stayed in clear. Not a "_" before a
# digit (a longer run; "4111…_5500…" gets its joiners: text_markers.py), nor before a
# seal's SUB: "_" ends a sealed pseudonym's digest so that no digit run ends there
# (pseudonyms.py), and a digest may end in a card's digits.
_CARD_END = (
    rf"$|[^{_ASCII_WORD}\s.\-{DASHES}]|[\t\n\r]"
    rf"|[\s.\-{DASHES}]+(?:[^{_ASCII_WORD}{JOINER}]|$)|\s+[^\W\d]|{_DIGIT_LED_WORD}"
    rf"|[\-{DASHES}]+[^\W\d]|_+(?:[^0-9{SEAL}]|$)"
)
# Between a card's, an IBAN's or an SSN's digit groups: beside a space and a dash, those
# beyond ASCII (no-break, narrow, thin and ideographic spaces; en dash, non-breaking
# hyphen, ...: number_separators.py), which hid them in clear.
_ID_SPACE = f"[ {ID_SPACES}]"
_ID_DASH = f"[\\-{DASHES}]"

# An apostrophe inside a local part is valid (RFC 5322 atext) and common in Irish and
# French names (`sean.o'neil@…`, `l'equipe@…`): without it the address's tail was taken
# and the name before the apostrophe left in clear. Not as its first character, so a
# quote before an address stays (`'ann@example.com'`). In the class, so the regex
# engine still finds the "@" first (EMAIL's run on 1M text-heavy messages, with its new
# layouts: 0.046/0.047 against 0.040/0.038 CPU s).
_EMAIL_LOCAL = r"\b[A-Za-z0-9_][A-Za-z0-9._%+'-]{0,63}"
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

#: E-mail addresses with their "@" written as an escape: in JSON or JavaScript text
#: (`"bob\u0040example.com"`, also escaped twice in JSON inside JSON) or in HTML
#: (`ann&#64;example.com`, `ann&#x40;example.com`, zero-padded, `&commat;`). EMAIL's
#: gate holds the escapes, so its rows are the ones holding either an "@" or one of them.
_HTML_AT = r"&#0*64;|&#[xX]0*40;|&commat;"
_EMAIL_ESCAPED_AT: Final = Entity(
    "EMAIL",
    "moderate",
    "",
    # An apostrophe escaped too (`o\\u0027neil\\u0040…` left `o\\` in clear).
    rf"\b[A-Za-z0-9_](?:[A-Za-z0-9._%+'-]|\\{{1,2}}u0027){{0,63}}"
    rf"(?:\\{{1,2}}u0040|{_HTML_AT}){_EMAIL_DOMAIN}",
    "",
    gate_pattern=rf"\\u0040|{_HTML_AT}",
)

# A JSON (or JavaScript) escape right before an address: a newline, return or tab
# (`"Hi\nann@example.com"`) or a \u escape, also escaped twice (`\u0027ann@…`). Not
# `\b` or `\f`, which lead names in paths (`C:\users\bob@…`). A \u escape after a
# local part's character is in it (`o\u0027neil\u0040…`: _EMAIL_ESCAPED_AT), so
# only after another one: after none or what is no local part's, or after the four hex
# digits of another escape, in a row (`\u8054\u7cfbann@…`, CJK escaped: the second
# escape's "u" led the address, a bare backslash was left). One escape, not the whole
# row: a lead over a row of escapes from its start (`^` or the character before it)
# made every match that long, and a run of them costs the capture engine ~1.5 CPU s
# per MB (`"\u00e9" * 166_000 + "@example.com"`); after a greedy row the local part
# started at its last escape (`\u00ab\u00e9ric@…` left `\u00e9` in clear). An escape
# that is a letter starts the local part: after a local part's character the lead is the
# "u" and the four hex digits of the escape before it (`x\u00ab\u00e9ric@…`: a lead of
# two escapes or of the hex digits and one wrote `\u00e9` back in clear).
_EMAIL_ESCAPE = (
    r"\\[nrt]|(?:^|[^A-Za-z0-9._%+'\-]|[0-9a-fA-F]{4})\\{1,2}u[0-9a-fA-F]{4}|u[0-9a-fA-F]{4}"
)
# A letter beyond ASCII JSON-escaped (`jos\u00e9`), also twice (JSON inside JSON):
# Latin-1's and Latin Extended's, combining marks, Greek, Cyrillic, Latin Extended
# Additional (as _NON_ASCII_LETTERS). Not CJK: text in scripts without spaces writes an
# address right beside its words (`\u8054\u7cfbann@…`).
_LETTER_ESCAPE = r"\\{1,2}u(?:00[c-fC-F][0-9a-fA-F]|0[1-4][0-9a-fA-F]{2}|1[eE][0-9a-fA-F]{2})"
# A JSON-escaped character inside a local part: such a letter, or an apostrophe
# (`ann\u0027s@…`, typographic: `\u2019`), escaped twice only beside an escaped "@"
# (_EMAIL_ESCAPED_AT): `x\\u0027ann@…` is text before an address.
_LOCAL_ESCAPE = rf"{_LETTER_ESCAPE}|\\u(?:0027|2019)"
# After an escape, an apostrophe escaped twice too (`\\nann\\u0027s@…`, as before).
_LOCAL_ESCAPE_AFTER_ESCAPE = rf"{_LOCAL_ESCAPE}|\\{{1,2}}u0027"


def _escaped_local(escape: str) -> str:
    """A local part led by a character of one or a letter escaped, holding `escape`s."""
    return rf"(?:[A-Za-z0-9_]|{_LETTER_ESCAPE})(?:[A-Za-z0-9._%+'-]|{escape}){{0,63}}"


# An escape glued to what can be a local part and an "@" (or its escapes): the values
# the layouts below look at, one scan for both.
_ESCAPE_BESIDE_AT = r"\\(?:[nrt]|u[0-9a-fA-F]{4})[A-Za-z0-9._%+'-]*(?:@|%40|\\|&)"
#: An address whose local part holds JSON escapes (`jos\u00e9@example.com`,
#: `ann\u0027s@x.com`): EMAIL's pattern starts a local part at a word boundary, the
#: escape's "u", and left `jos\` in clear, a bare backslash that made the text invalid
#: JSON. A layout of its own, first: its lead is one character that is no part of a local
#: part nor a backslash (that of an escape before the address, _EMAIL_AFTER_ESCAPE's).
_EMAIL_ESCAPED_LOCAL: Final = Entity(
    "EMAIL",
    "moderate",
    r"^|[^A-Za-z0-9._%+'\\-]",
    rf"{_escaped_local(_LOCAL_ESCAPE)}(?:@|%40|\\{{1,2}}u0040|{_HTML_AT}){_EMAIL_DOMAIN}",
    "",
    gate_pattern=_ESCAPE_BESIDE_AT,
)
#: An address right after a JSON escape, the escape taken by the lead and written back:
#: the local part's word boundary fell between the escape's letter and the address, so a
#: match took `nann@…` (or `u0027ann\u0040…`) and left a bare backslash, and the text was
#: no longer valid JSON. A layout of its own, before EMAIL's pattern: there a lead would
#: cost its tag-only replacement (text.tag_replacement). Only values where an escape is
#: glued to what can be a local part and an "@" (or its escapes) are looked at.
_EMAIL_AFTER_ESCAPE: Final = Entity(
    "EMAIL",
    "moderate",
    _EMAIL_ESCAPE,
    rf"{_escaped_local(_LOCAL_ESCAPE_AFTER_ESCAPE)}"
    rf"(?:@|%40|\\{{1,2}}u0040|{_HTML_AT}){_EMAIL_DOMAIN}",
    "",
    gate_pattern=_ESCAPE_BESIDE_AT,
)

# Full-width forms (U+FF01-FF5E), as East Asian input methods type them: digits, Latin
# letters, the full stop (U+FF0E) and the commercial at (U+FF20).
_FULL_WIDTH_WORD = r"A-Za-z0-9\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A"
# A local part's characters beyond those: Latin-1 letters (`jos\u00e9\uff20…`), the
# full-width low line, hyphen-minus and plus sign (U+FF3F, U+FF0D, U+FF0B: an all
# full-width `john_doe` left `john_` in clear), a typographic apostrophe (U+2019).
_FULL_WIDTH_LOCAL = rf"{_FULL_WIDTH_WORD}\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u00FF"
#: E-mail addresses written with a full-width "@" (U+FF20: `user\uff20example.com`,
#: also all full-width), which users type to get past scrapers
#: and input methods type by default. No "\b" before the local part (an ASCII word
#: boundary is none beside a full-width letter): a match starts at the first character
#: of the run anyway. Only values holding a character beyond ASCII are searched for it.
_EMAIL_FULL_WIDTH_AT: Final = Entity(
    "EMAIL",
    "moderate",
    rf"(?:{_EMAIL_ESCAPE})?",
    rf"[{_FULL_WIDTH_LOCAL}_\uFF3F][{_FULL_WIDTH_LOCAL}._%+'\-\uFF0E\uFF3F\uFF0D\uFF0B\u2019]{{0,63}}\uFF20"
    rf"(?:[{_FULL_WIDTH_WORD}](?:[{_FULL_WIDTH_WORD}\-\uFF0D]{{0,61}}[{_FULL_WIDTH_WORD}])?[.\uFF0E])+"
    r"[A-Za-z\uFF21-\uFF3A\uFF41-\uFF5A]{2,24}",
    "",
    gate_pattern=r"\uFF20",
    gate_non_ascii=True,
)

# Letters of scripts written with spaces beyond ASCII (Latin, with combining marks and
# Latin Extended Additional, as Vietnamese writes "ễ"; Greek, Cyrillic), as
# internationalised addresses hold them (RFC 6531). Not CJK: text
# in scripts without spaces writes an address right beside its words ("联系ann@x.com谢谢").
# Ranges rather than `\p{Latin}`, which Python's `re` lacks. A top-level domain is
# written in these (`.рф`).
_NON_ASCII_LETTERS = (
    r"\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u0300-\u036F\u0370-\u03FF\u0400-\u04FF"
    r"\u1E00-\u1EFF"
)
# Other scripts written with spaces, with their marks: Armenian, Hebrew, Arabic (not its
# punctuation), the Indic scripts from Devanagari to Sinhala (not the danda), Georgian,
# Hangul syllables (`मोहन@example.com`, `홍길동@example.kr`).
_SPACED_SCRIPTS = (
    r"\u0531-\u0587\u0591-\u05C7\u05D0-\u05EA\u0620-\u065F\u066E-\u06D3\u06D5-\u06FF"
    r"\u0900-\u0963\u0966-\u0DFF\u10A0-\u10FF\uAC00-\uD7A3"
)
_INTL_WORD = rf"A-Za-z0-9{_NON_ASCII_LETTERS}{_SPACED_SCRIPTS}"
# A domain's label may be CJK too (`user@例え.jp`), CJK from its start to its dot: CJK
# glued after ASCII letters is the text written right after an address
# (`联系ann@x.com或者访问site.org` took `或者访问site.org` as more labels). The top-level
# domain is not CJK, so an address still ends before the words written after it.
_CJK_LABEL = r"[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF]{1,63}"
# Invisible characters inside an address, which hid it from the pattern while a reader
# or a mail client sees the address whole: the soft hyphen, zero-width spaces and
# joiners, the word joiner. Not first in a part nor last in a label.
_INVISIBLE = r"\u00AD\u200B-\u200D\u2060"
#: E-mail addresses with letters beyond ASCII in the local part or the domain
#: (`josé@example.com`, `jose@münchen.de`), or invisible characters inside
#: (`us\u00aded@exam\u00adple.com`): EMAIL's pattern left them whole in clear (its
#: classes are ASCII). Only values holding a character beyond ASCII beside an "@" (no
#: space between) are looked at, among those EMAIL's gate picked; an ASCII address in
#: such a value is taken whole all the same. A typographic apostrophe (U+2019) is
#: read as the ASCII one.
_EMAIL_NON_ASCII: Final = Entity(
    "EMAIL",
    "moderate",
    rf"(?:{_EMAIL_ESCAPE})?",
    rf"[{_INTL_WORD}_][{_INTL_WORD}{_INVISIBLE}._%+'\u2019-]{{0,63}}@"
    rf"(?:(?:[{_INTL_WORD}](?:[{_INTL_WORD}{_INVISIBLE}-]{{0,61}}[{_INTL_WORD}])?|{_CJK_LABEL})\.)+"
    rf"[A-Za-z{_NON_ASCII_LETTERS}]{{2,24}}",
    "",
    gate_pattern=r"[^\x00-\x7F][^\s@]*@|@[^\s@]*[^\x00-\x7F]",
    gate_non_ascii=True,
)


# A coordinate's name, as a key (`lat=`, `"lng": `, `geo_latitude: `), and its assignment.
_COORDINATE_KEY = r"\\?[\"']?\s*[:=]\s*\\?[\"']?"
_LATITUDE = r"[-+]?(?:[1-8]?[0-9]\.[0-9]{4,}|90\.0{4,})"
_LONGITUDE = r"[-+]?(?:1[0-7][0-9]|[0-9]{1,2})\.[0-9]{4,}"
# Where a coordinate's decimals end (a version's next dot and digit does not).
_COORDINATE_END = rf"$|[^{_ASCII_WORD}.]|\.(?:[^{_ASCII_WORD}]|$)"


_COMMA = r"\s*,\s*"
# Before a coordinate, a JSON-escaped newline, return or tab (`"a\n40.7128,-74.0060"`,
# `"a\nat 40.712784 -74.006015"`): the character before the number is the escape's
# letter, and no word boundary comes before a key or a keyword. Taken by the lead and
# written back.
_GEO_ESCAPE = r"\\[nrt]"
# Not a sign alone: it is the latitude's (`…,-74.0060,-30.2000,-78.5000`: after the
# first pair's trail took the comma, the second's lead took its sign and wrote it back,
# in clear). A sign after a character that leads no pair still leads one, as before
# (`x-40.7128,-74.0060`: the hyphen is read as a sign, kept), but not the letter of a
# JSON escape whose backslash a pair's trail took (`…,-74.0060\n-30.2000,…` left the
# sign in clear): the second round reads that pair from the escape, sign included.
_GEO_START = rf"^|[^{_ASCII_WORD}.+\-]|{_GEO_ESCAPE}|(?:^[nrt]?|[^+\-nrt]|[^\\][nrt])[-+]"
_GEO_WORD_START = rf"(?:\b|{_GEO_ESCAPE})"


def _coordinate_pair(separator: str, decimals: int) -> str:
    """Two numbers side by side read as a latitude and a longitude: the first in the
    latitude range, the second in the longitude one, each with `decimals` or more. Not
    both within 2 of zero: that is open sea in the Gulf of Guinea, and what exchange
    rates, ratios and scores look like (`EUR/USD 1.0823,1.0830`, `0.8523, 0.9134`)."""
    places = rf"\.[0-9]{{{decimals},}}"
    near_zero = rf"[-+]?[01]{places}"
    latitude = rf"[-+]?(?:(?:[2-9]|[1-8][0-9]){places}|90\.0{{{decimals},}})"
    longitude = rf"[-+]?(?:1[0-7][0-9]|[0-9]{{1,2}}){places}"
    longitude_beyond_2 = rf"[-+]?(?:1[0-7][0-9]|[1-9][0-9]|[2-9]){places}"
    return rf"{latitude}{separator}{longitude}|{near_zero}{separator}{longitude_beyond_2}"


_COORDINATE_PAIR = _coordinate_pair(_COMMA, 4)


# A number within 2 of zero with four decimals or more, as a pair of them kept as they
# are (a rate, a ratio) is written: consumed by the lead of a pair parted by a comma and
# written back, so the next pair in the same run is read from its first number
# (`fx 1.0823,1.0830,51.5074,-0.1278`): skipped, its second number was read as a
# latitude with the next one, and the real longitude was left in clear.
_NEAR_ZERO = r"[-+]?[01]\.[0-9]{4,}"
_NEAR_ZERO_PAIRS_KEPT = rf"(?:{_NEAR_ZERO}{_COMMA}{_NEAR_ZERO}{_COMMA})*"

_ODD_NEAR_ZERO = rf"(?:{_GEO_START}){_NEAR_ZERO_PAIRS_KEPT}{_NEAR_ZERO}{_COMMA}"
_LATITUDE_BEYOND_2 = r"[-+]?(?:(?:[2-9]|[1-8][0-9])\.[0-9]{4,}|90\.0{4,})"
# A number with fewer than four decimals (`5`, `12.5`): no half of a pair.
_SHORT_NUMBER = r"[-+]?[0-9]+(?:\.[0-9]{0,3})?(?:$|[^0-9.]|\.(?:$|[^0-9]))"
# The lead starts no run's count of near-zero values halfway (at the comma after a
# number), where the odd one would be the even one of a pair kept
# (`0.5000,1.5000,40.7128,-74.0060`: taken from the comma on, 1.5000 went with the pair):
# no comma, space nor sign leads, only what comes before them: a character no number's,
# or what cannot end a near-zero value, taken whole and parted from it by a comma or a
# space: a letter (`at 0.5000,…`, `row7,0.5000,…`) or a number with fewer than four
# decimals (`5, 0.5000,…`; without them the pair read the near-zero value as its
# latitude and left the longitude in clear). Not a number's last digits: `41.0823`.
_ODD_NEAR_ZERO_START = (
    rf"(?:(?:^|[^{_ASCII_WORD}.,\s+\-]|{_GEO_ESCAPE})[\s,]*"
    r"|(?:[A-Za-z_]|(?:^|[^0-9.])[0-9]+(?:\.[0-9]{0,3})?)[\s,]+)"
)
_ODD_NEAR_ZERO_GATE = r"[01]\.[0-9]{4}[0-9]*\s*,"
#: An odd number of near-zero values before a pair: the pattern read the last one as a
#: latitude with the pair's and left the pair's longitude in clear
#: (`1.0823,1.0830,1.0831,51.5074,-0.1278`; `0.5000,40.7128,-74.0060` on main too). The
#: last near-zero value goes with the pair, one tag for the three numbers: it pairs with
#: the next number too (a point near the equator, then a value under 2: hdop, speed), and
#: reading it as a rate wrote a latitude back (`-1.2921,36.8219,0.9000,8`, Nairobi); an
#: exchange rate redacted is the price. The near-zero pairs before it are kept. Only
#: where no number the longitude could pair with follows (the end, a word, a number with
#: fewer than four decimals: `…,51.5074,-0.1278,5` left -0.1278): in a longer run
#: (`-0.1807,-78.4678,-0.2000,-78.5000`, two points in Quito) the near-zero value is a
#: latitude, as the pattern reads it.
_ODD_NEAR_ZERO_LEAD: Final = Entity(
    "GEO_COORDINATES",
    "strict",
    rf"{_ODD_NEAR_ZERO_START}{_NEAR_ZERO_PAIRS_KEPT}",
    rf"{_NEAR_ZERO}{_COMMA}{_LATITUDE_BEYOND_2}{_COMMA}{_LONGITUDE}",
    rf"$|[^{_ASCII_WORD}.,]|\.(?:[^{_ASCII_WORD}]|$)|,\s*(?:$|[^-+0-9\s]|{_SHORT_NUMBER})",
    gate_pattern=_ODD_NEAR_ZERO_GATE,
)
#: ... and whatever follows where the pair's longitude is beyond 90, which no latitude is
#: (`0.5000,37.7749,-122.4194,1.2345,5.6789` left -122.4194 in clear): the near-zero
#: value before it is no latitude of a pair. Same gate: one scan for both. Its lead is
#: _ODD_NEAR_ZERO, not _ODD_NEAR_ZERO_START: the far longitude fixes which number is the
#: latitude, so the near-zero value is written back as it was (it tells nothing of the
#: point), and _GEO_START takes a comma or a space, so a word or a number before it leads
#: (`at 0.5000,37.7749,-122.4194`).
_ODD_NEAR_ZERO_BEFORE_FAR_LONGITUDE: Final = Entity(
    "GEO_COORDINATES",
    "strict",
    _ODD_NEAR_ZERO,
    rf"{_LATITUDE_BEYOND_2}{_COMMA}[-+]?(?:9[1-9]|1[0-7][0-9])\.[0-9]{{4,}}",
    _COORDINATE_END,
    gate_pattern=_ODD_NEAR_ZERO_GATE,
)

# A pair parted by one space, after what says it is a place: `at`, `@`, `near`, a GPS
# `fix`, `gps`, `loc[ation]`, `pos[ition]`, `coord[inate]s`, `lat/lon`. Alone, two
# numbers parted by a space are a table's cells (`x 12.345678 45.678901`) far more often.
_SPACED_PAIR_CONTEXT = (
    rf"{_GEO_WORD_START}(?i:(?:at|near|fix|gps|loc|location|pos|position|coords|coordinates"
    r"|lat(?:[/_ -]?(?:lon|lng|long))?)\b)\s*[:=]?\s*|@\s*"
)
#: A pair parted by one space with five decimals or more (GPS devices and maps write
#: five to seven; tables seldom more than four), after its context: `at 40.712784
#: -74.006015`. Not when a third number follows, parted by a space: a run of three or
#: more is a table row (`at 12.12345 12.12345 12.12345`).
_SPACED_PAIR: Final = Entity(
    "GEO_COORDINATES",
    "strict",
    _SPACED_PAIR_CONTEXT,
    _coordinate_pair(" ", 5),
    rf"$|[^{_ASCII_WORD}. ]|\.(?:[^{_ASCII_WORD}]|$)| (?:$|[^-+0-9])| [-+](?:$|[^0-9])",
    gate_pattern=r"[0-9]{5} [-+]?[0-9]{1,3}\.[0-9]{5}",
)

#: A geo URI (RFC 5870: `geo:0.512345,1.512345`): the scheme says it is a place, a pair
#: within 2 of zero too.
_GEO_URI: Final = Entity(
    "GEO_COORDINATES",
    "strict",
    rf"{_GEO_WORD_START}(?i:geo):",
    rf"{_LATITUDE}{_COMMA}{_LONGITUDE}",
    _COORDINATE_END,
    gate_pattern=r"(?i:geo:)",
)


#: A point in well-known text (`POINT(-74.006015 40.712784)`, `POINT Z (…)`, as PostGIS
#: and GeoJSON tools write it): longitude first, then latitude, parted by a space; the
#: keyword says it is a place, so any such pair with four decimals or more is one. A
#: third or fourth number (height, measure) stays.
_WKT_POINT: Final = Entity(
    "GEO_COORDINATES",
    "strict",
    rf"{_GEO_WORD_START}(?i:point)\s*(?:[ZzMm]{{1,2}}\s*)?\(\s*",
    rf"{_LONGITUDE}\s+{_LATITUDE}",
    r"[\s)]",
    gate_pattern=r"(?i:point)",
)


def _coordinate_by_key(names: str, value: str) -> Entity:
    """A latitude or longitude as the value of a key of its own (`lat=40.416775&lon=
    -3.703790`, `{"lat": 40.416775, "lng": -3.703790}`): GEO_COORDINATES's pattern reads
    the pair only as two numbers side by side. Only values naming one are looked at."""
    return Entity(
        "GEO_COORDINATES",
        "strict",
        rf"{_GEO_WORD_START}(?i:(?:[a-z0-9]*_)?(?:{names})){_COORDINATE_KEY}",
        value,
        _COORDINATE_END,
        gate_pattern=r"(?i:lat|lon|lng)",
    )


_SSN_VALUE = (
    rf"[0-9]{{3}}{_ID_DASH}[0-9]{{2}}{_ID_DASH}[0-9]{{4}}"
    rf"|[0-9]{{3}}{_ID_SPACE}[0-9]{{2}}{_ID_SPACE}[0-9]{{4}}"
)
_SSN_END = rf"$|[^{_ASCII_WORD}\-{DASHES}]|{_ID_DASH}(?:[^0-9]|$)"
# "SSN", "SS#", "Social Security Number", in any case, in the usual spellings.
_SSN_LABEL = "SSN|ssn|Ssn|SS#|ss#|[Ss]ocial [Ss]ecurity|SOCIAL SECURITY"
_SSN_LABEL_LEAD = rf"(?:{_SSN_LABEL})(?:[ _-]?(?i:number|num|no)\.?)?\s*"
# What US_SSN's own pattern leaves after the label: nine digits unparted, or a "#".
# Rows with a labelled SSN it finds (`SSN 078-05-1120`: every one of the text-heavy
# set's) are not the layout's: with the label alone for a gate, its rewrite ran on them
# all again.
_SSN_LABELLED_GATE = rf"{_SSN_LABEL_LEAD}(?:#|[:=]?\s*[0-9]{{9}})"
#: An SSN after its label: also as nine digits unparted (`SSN: 078051120`), which alone
#: is an id like any other (the US_SSN pattern rightly leaves those), and right after a
#: "#" (`SSN#078-05-1120`), which leads no SSN elsewhere (`order #123-45-6789`).
_SSN_LABELLED: Final = Entity(
    "US_SSN",
    "strict",
    # After a JSON-escaped newline, return or tab too (`"id 5\\nSSN: 078051120"`: no
    # word boundary between the escape's letter and the label); "#" and then ":" or "="
    # (`SSN #: 078051120`, `Social Security #: …`).
    rf"(?:\b|\\[nrt]){_SSN_LABEL_LEAD}#?\s*[:=]?\s*",
    rf"[0-9]{{9}}|{_SSN_VALUE}",
    _SSN_END,
    validator="us_ssn",
    gate_pattern=_SSN_LABELLED_GATE,
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
        layouts=(AWS_SECRET_FLAG,),
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
        # An Authorization header written as a (name, value) pair: the credentials
        # after its scheme, whatever their length (`(b'authorization', b'Bearer …')`).
        layouts=AUTHORIZATION_PAIR_SECRETS,
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
        KEYWORD_SECRET_LEAD,
        KEYWORD_SECRET_VALUE,
        "",
        gate_pattern=KEYWORD_SECRET_GATE,
        gate_assigns=True,
        layouts=SECRET_VALUE_LAYOUTS,
        null_also=KEYWORD_BEFORE_PARENTHESIS,
        null_also_needle="(",
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
        # (_EMAIL_OTHER_FORMS): one byte search for either costs the same. The escaped
        # and full-width "@" of its layouts too: on the text-heavy set's messages the
        # scan for the five costs what the one for "[@%]" did (0.020 against 0.019 CPU s
        # per 1M rows).
        gate_pattern=rf"[@%\uFF20]|\\u0040|{_HTML_AT}",
        layouts=(
            _EMAIL_ESCAPED_LOCAL,
            _EMAIL_AFTER_ESCAPE,
            _EMAIL_OTHER_FORMS,
            _EMAIL_ESCAPED_AT,
            _EMAIL_FULL_WIDTH_AT,
            _EMAIL_NON_ASCII,
        ),
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
        # Also dotted (`DE89.3704.0044.0532.0130.00`), which only a country's length
        # passes, as dashed ones (validators).
        rf"[A-Z]{{2}}[0-9]{{2}}(?:(?:{_ID_SPACE}?[A-Z0-9]{{4}}){{2,7}}(?:{_ID_SPACE}?[A-Z0-9]{{1,3}})?"
        rf"|(?:{_ID_DASH}[A-Z0-9]{{4}}){{2,7}}(?:{_ID_DASH}[A-Z0-9]{{1,3}})?"
        r"|(?:\.[A-Z0-9]{4}){2,7}(?:\.[A-Z0-9]{1,3})?)"
        rf"|[a-z]{{2}}[0-9]{{2}}(?:[a-z0-9]{{11,30}}"
        rf"|(?:{_ID_SPACE}[a-z0-9]{{4}}){{2,7}}(?:{_ID_SPACE}[a-z0-9]{{1,3}})?)",
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
        # In fours dotted (`4111.1111.1111.1111`: MAC_ADDRESS took its first three) or
        # parted by two spaces, beyond ASCII too (`4111  1111  1111  1111`,
        # `4111\u00a0\u00a01111 …`: text_markers.SPACED_CARD), as is Amex's 4-6-5
        # (`3782  822463  10005`), or groups parted by one separator. That one last:
        # card_groups.py makes it lazy with a "?" after the pattern.
        rf"[0-9]{{4}}(?:\.[0-9]{{4}}){{3}}(?:\.[0-9]{{3}})?|[0-9]{{4}}(?:{_ID_SPACE}{{2}}[0-9]{{4}}){{3}}"
        rf"|[0-9]{{4}}{_ID_SPACE}{{2}}[0-9]{{6}}{_ID_SPACE}{{2}}[0-9]{{5}}"
        rf"|[0-9](?:{CARD_SEPARATOR}?[0-9]){{12,}}",
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
        _SSN_VALUE,
        _SSN_END,
        validator="us_ssn",
        second_round=True,
        layouts=(_SSN_LABELLED,),
        # The label its layout needs, scanned apart (Entity.label_gate).
        label_gate=_SSN_LABELLED_GATE,
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
        # Near-zero pairs before a pair, kept as they are (_NEAR_ZERO_PAIRS_KEPT).
        rf"(?:{_GEO_START}){_NEAR_ZERO_PAIRS_KEPT}",
        # Parted by a comma; by one space only after a place's context (_SPACED_PAIR).
        # A run of pairs at once, one tag for all (a polyline, a bounding box): pair by
        # pair, each pair's trail took the comma the next one's lead needed, the first
        # round read the third pair from its second number on
        # (`40.1111,74.1111,41.2222,75.2222,42.3333,76.3333` left 41.2222 and 76.3333 in
        # clear on main), and a sign the lead took was written back.
        rf"(?:{_COORDINATE_PAIR})(?:{_COMMA}(?:{_COORDINATE_PAIR}))*",
        # Near-zero pairs after a pair too, written back: the next round reads the pair
        # after them from its first number (`40.7128,-74.0060,0.5000,1.5000,51.5074,
        # -0.1278` left -0.1278 in clear, as on main).
        rf"(?:{_COMMA}{_NEAR_ZERO}{_COMMA}{_NEAR_ZERO})*(?:{_COORDINATE_END})",
        # A dot and four decimals: every match holds them, its layouts' too. Scanned
        # alone it costs what the whole pattern did (a byte class with no literal
        # either way: 0.033 against 0.030 CPU s per 1M text-heavy messages).
        gate_pattern=r"\.[0-9]{4}",
        second_round=True,
        # A pair under a key (`lat_lon=40.4,-3.7`, `"lat,lng": "40.4,-3.7"`, `lon_lat=…`)
        # is taken whole: the key's own number alone left the other in clear. Its second
        # number in the longitude range, which holds the latitude one, whichever the order.
        layouts=(
            _ODD_NEAR_ZERO_LEAD,
            _ODD_NEAR_ZERO_BEFORE_FAR_LONGITUDE,
            _WKT_POINT,
            _GEO_URI,
            _SPACED_PAIR,
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
        # Also a digit before a separator beyond ASCII (phone_other_forms.py).
        gate_pattern=f"{phone_gate(_PHONE_VALUE)}|{OTHER_FORMS_GATE}",
        phone_steps=True,
        layouts=PHONE_OTHER_FORMS,
    ),
)
ENTITY_BY_NAME: Final = {entity.name: entity for entity in ENTITIES}


def at_level(level: str, rank: int) -> bool:
    return LEVEL_RANK[level] <= rank
