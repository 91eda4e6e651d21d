"""Key/value pairs inside JSON text, for column rules whose glob names the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.policy import ColumnRule
from sluice.server.pipeline.redaction.text_markers import LEAD

JSON_STRING: Final = r"\"(?:[^\"\\]|\\.)*\""
#: How deep an object or array under a named key is taken whole, in levels of brackets,
#: its own included (`{"password": {"a": [{"b": "x"}]}}`: 3).
#: The engine has no recursion, so each level is the pattern of the one inside it again
#: (the pattern grows linearly). A value nested deeper is not taken by this rule.
JSON_NESTING: Final = 16


def json_container(depth: int, *, empty: bool = True) -> str:
    """An object or array holding at most `depth` levels of brackets: strings whole (a
    bracket in one is text), anything else but brackets and quotes between them. Which
    bracket closes which is not checked: in valid JSON they pair up. Not `empty`: no
    array holding nothing but spaces (an empty object is taken: the keyword entity would
    read its "{" as a value and break the JSON)."""
    item = JSON_STRING
    if depth > 1:
        item += "|" + json_container(depth - 1)
    inner = rf"[^\[\]{{}}\"]|{item}"
    if empty:
        return rf"[\[{{](?:{inner})*[\]}}]"
    return rf"\{{(?:{inner})*[\]}}]|\[\s*(?:[^\s\[\]{{}}\"]|{item})(?:{inner})*[\]}}]"


#: A value a named key's rule rewrites: a string, a number, a boolean, or an object or
#: array, taken whole, written as one string tag (`{"password": {"v": "x"}}` becomes
#: `{"password": "[SECRET]"}`), so the JSON stays JSON and no leaf inside is left. Not
#: null nor an empty array: there is nothing to hide, and they stay as they were
#: (`{"passwords": []}`, not a string tag a reader expecting a list would trip on).
_JSON_VALUE: Final = (
    rf"{JSON_STRING}|-?[0-9][0-9.eE+-]*|true|false"
    rf"|{json_container(JSON_NESTING, empty=False)}"
)
#: The same but a boolean, which stays: for the keys of a category no Boolean column
#: of its name is ever taken for (`{"dob": true}` holds no date, as a Boolean `dob`
#: column holds none: redactor._holds_a_value).
_JSON_VALUE_NOT_A_BOOLEAN: Final = (
    rf"{JSON_STRING}|-?[0-9][0-9.eE+-]*|{json_container(JSON_NESTING, empty=False)}"
)


def json_key_regex(rules: list[ColumnRule], *, booleans: bool = True, gate: bool = False) -> str:
    """Key/value pairs inside JSON text whose key matches one of the rules' globs; not
    `booleans`: a boolean value is no match. `gate`: a cheaper superset to scan for
    first (_GATE_SEPARATOR)."""
    separator = _GATE_SEPARATOR if gate else _WORD_SEPARATOR
    names = "|".join(
        _glob_regex(rule.selector, snake=not rule.field, separator=separator) for rule in rules
    )
    value = _JSON_VALUE if booleans else _JSON_VALUE_NOT_A_BOOLEAN
    return rf'(?P<sl_lead>"(?i:{names})"\s*:\s*)(?P<sl_value>{value})(?P<sl_trail>)'


def json_kept_key_regex(rules: list[ColumnRule], not_values: Mapping[str, frozenset[str]]) -> str:
    """The keys of JSON pairs a level default's glob names that end with a word making
    them a flag, counter or timestamp about the value (ColumnCategory.not_values:
    `dateOfBirthVerified`, `latitude_updated_at`), which a column of the same name keeps
    (redactor._holds_a_value); "" when no rule has such words. Only a glob ending in "*"
    can name a key with a word after its own."""
    # `dob_*`: the word may be the one after "dob" too (`dob_verified`, `dobVerified`).
    # One alternation of globs per set of words, then the words once (a regex with
    # each word after each glob cost ~3x more to scan).
    globs: dict[frozenset[str], list[str]] = {}
    for rule in rules:
        words = not_values.get(rule.label, frozenset())
        if rule.level_default and not rule.field and rule.selector.endswith("*") and words:
            selectors = sorted({rule.selector, rule.selector.removesuffix("_*")})
            globs.setdefault(words, []).extend(_glob_regex(g, snake=True) for g in selectors)
    keys = [
        f"(?:{'|'.join(dict.fromkeys(regexes))}){_last_word_regex(sorted(words))}"
        for words, regexes in globs.items()
    ]
    return rf'(?P<sl_key>"(?i:{"|".join(keys)})")' if keys else ""


def _last_word_regex(words: list[str]) -> str:
    """One of `words` (lower-case letters) as a key's last word: after a separator, or
    in camel case (`Verified`), as column_names.normalised parts it."""
    camel = "|".join(f"(?-i:{word[0].upper()}){word[1:]}" for word in words)
    return rf"(?:{_WORD_SEPARATOR}(?:{'|'.join(words)})|{camel})"


#: Written after a kept key's closing quote while the pairs are rewritten, so that no
#: rule's key pattern (a quote, then ":") reads it; removed after. A control character
#: valid JSON never holds raw; where a text holds one already it is escaped first
#: (`\x03` -> `\x03\x04`) and restored after, so the text is unchanged by the marks.
_MARK: Final = "\x03"
_KEPT_MARK: Final = _MARK + "\x05"
_ESCAPED_MARK: Final = _MARK + "\x04"


def rewrite_json_keys(text: pl.Expr, regex: str, label: str, kept: str = "") -> pl.Expr:
    written = f'{LEAD}"{tag(label)}"'
    if not kept:
        return text.str.replace_all(regex, written)
    escaped = text.str.replace_all(_MARK, _ESCAPED_MARK, literal=True)
    marked = escaped.str.replace_all(kept, "${sl_key}" + _KEPT_MARK)
    rewritten = marked.str.replace_all(regex, written)
    unmarked = rewritten.str.replace_all(_KEPT_MARK, "", literal=True)
    return unmarked.str.replace_all(_ESCAPED_MARK, _MARK, literal=True)


#: Between two words of a key read in snake case: a run of anything but letters and
#: digits (`date_of_birth`, `date-of-birth`, `Date of Birth`, `date・of・birth`), as
#: column_names.py reads a column's name; no quote or backslash (the key's end, an
#: escape). Unicode's `\W`, as main read it: this is the pattern that rewrites.
_WORD_SEPARATOR: Final = r'(?:[^"\\\w]|_)+'
#: The same as a gate, a superset: ASCII's separators as above, and every character
#: beyond ASCII (`dateéofébirth` passes the gate, the rewrite keeps it). The class of
#: Unicode's `\W`, repeated at each word boundary of every glob, made the joined scan
#: of the JSON-key gates (compaction.py) fall off the regex engine's fast path: 2.4 CPU
#: s for one 1 MB key, any key (`"aaa…"` too); naming only some blocks beyond ASCII
#: left keys parted by others in clear (`date・of・birth`, U+30FB).
_GATE_SEPARATOR: Final = r"(?:[\x00-\x21\x23-\x2f\x3a-\x40\x5b\x5d-\x60\x7b-\x7f]|[^\x00-\x7f])+"


def _glob_regex(glob: str, *, snake: bool = False, separator: str = _WORD_SEPARATOR) -> str:
    # "*" and "?" take a character or an escape (`\u00e9`, `\/`, `\\`: json.dumps writes
    # non-ASCII keys escaped), never an escaped quote: a key ends at a quote no backslash
    # escapes, so the escaped quotes of JSON inside a string value (`"{\"password\": 5}"`)
    # are no key's (its value rewritten to a quoted tag would end that string).
    # `snake` (level defaults, policies, templates: not a request's own rules): a key is
    # read as column_names.normalised reads a column's name, so a "_" of the glob before
    # a letter is also any separator, or a camelCase boundary (`dateOfBirth` is
    # `date_of_birth`, `homeTel` `home_tel`; after "*" only after a lower-case letter or
    # digit: `HOTEL` is no `*_tel`).
    out = []
    skip_next = False
    for index, char in enumerate(glob):
        following = glob[index + 1 : index + 2]
        if skip_next:
            skip_next = False  # the letter after a snake-case "_", written with it
        elif char == "*":
            out.append(r'(?:[^"\\]|\\[^"])*')
        elif char == "?":
            out.append(r'(?:[^"\\]|\\[^"])')
        elif char == "_" and snake and following.isalpha() and following.isascii():
            before = "[a-z0-9]" if glob[index - 1 : index] == "*" else ""
            camel = f"(?-i:{before}{following.upper()})"
            out.append(f"(?:{separator}{following}|{camel})")
            skip_next = True
        elif char.isalnum() or char == "_":
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
