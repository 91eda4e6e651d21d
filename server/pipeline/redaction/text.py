"""Pattern rules inside text, as Polars expressions.

Without a validator, a match is replaced in one `replace_all` pass. With one (cards,
IBANs, phones, ...), only some matches may be replaced, and Polars cannot replace
per-row lists of strings, so each match is fenced with a separator that cannot occur in
text (NUL before, SOH after), the text is split on them, the matches are validated and
replaced inside `list.eval`, and joined again: still column-wise, no Python per row. A
value that already holds one of the control characters used here falls back to
replacing every candidate: over-redaction is the safe failure.

Entity patterns consume the character after a match (their trail) and the one before it
(their lead), so in "4111…1111,5500…0004" the first match takes the comma the second
needs as its lead. Before matching, a joiner (STX) is put after each `,` `;` `|` that
starts another value, giving the next candidate a lead of its own; it is removed again
afterwards. A card number written with a digit group after it ("… 1111 123", "… 1111
12/27" once dates are gone) is one longer candidate: when it fails as a whole, the same
candidate without its last digit group is tried.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import (
    TEXT_PSEUDONYM_HEX,
    hmac_sha256_hex,
    mask,
    tag,
)
from sluice.server.pipeline.redaction.policy import ColumnRule, PatternRule
from sluice.server.pipeline.redaction.validators import VALIDATORS

_OPEN: Final = "\x00"
_CLOSE: Final = "\x01"
_JOINER: Final = "\x02"
#: A separator another value may follow directly ("A,B"): it gets a joiner after it.
_JOINED: Final = r"([,;|])([0-9A-Za-z+(])"
#: The last digit group of a candidate, tried without it when the whole fails.
_LAST_GROUP: Final = r"[ -][0-9]+$"
#: Validators whose candidates may run into a following digit group.
_GROUP_RETRY: Final = frozenset({"card"})
_LEAD, _VALUE, _TRAIL = "${sl_lead}", "${sl_value}", "${sl_trail}"


def _replacement(match: pl.Expr, rule: PatternRule) -> pl.Expr:
    if rule.action == "mask":
        return mask(match, rule.keep_last)
    if rule.action == "hash":
        assert rule.key is not None
        digest = hmac_sha256_hex(match, rule.key).str.head(TEXT_PSEUDONYM_HEX)
        return pl.concat_str(pl.lit(f"[{rule.label}:"), digest, pl.lit("]"))
    return pl.lit(tag(rule.label))


def rewrite_text(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with every (valid) match of the rule handled by its action."""
    return _rewrite_candidates(text, rule)


def _rewrite_candidates(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    unconditional = text.str.replace_all(rule.regex, f"{_LEAD}{tag(rule.label)}{_TRAIL}")
    if not rule.validator and rule.action == "redact":
        return unconditional
    if not rule.validator and rule.action == "null":
        return pl.lit(None, dtype=pl.String)
    # Validated entities are ids, cards and numbers: those are what people list as
    # "A,B" (a validator-less pattern such as coordinates may hold the comma itself).
    joined_values = bool(rule.validator)
    source = text.str.replace_all(_JOINED, f"$1{_JOINER}$2") if joined_values else text
    # "a<OPEN>match<CLOSE>b<OPEN>match<CLOSE>c" split on OPEN: every piece but the first
    # is "match<CLOSE>rest". Only elementwise operations follow, which Polars runs over
    # all pieces of all rows at once (a piece index would force one evaluation per row).
    fenced = source.str.replace_all(rule.regex, f"{_LEAD}{_OPEN}{_VALUE}{_CLOSE}{_TRAIL}")
    pieces = fenced.str.split(_OPEN)
    halves = pl.element().str.splitn(_CLOSE, 2)
    match, rest = halves.struct.field("field_0"), halves.struct.field("field_1")
    is_match = rest.is_not_null()
    head, tail = match, pl.lit("")
    retry = pl.lit(False)
    if rule.validator:
        # Validators see only the matches: plain-text pieces become "" (a null would
        # still cost a string kernel its bytes).
        candidate = pl.when(is_match).then(match).otherwise(pl.lit(""))
        whole = (is_match & VALIDATORS[rule.validator](candidate)).fill_null(False)
        if rule.validator in _GROUP_RETRY:
            shorter = candidate.str.replace(_LAST_GROUP, "")
            grouped = is_match & ~whole & (shorter.str.len_bytes() < candidate.str.len_bytes())
            retry = (grouped & VALIDATORS[rule.validator](shorter)).fill_null(False)
            head = pl.when(retry).then(shorter).otherwise(match)
            tail = (
                pl.when(retry).then(match.str.slice(shorter.str.len_chars())).otherwise(pl.lit(""))
            )
        is_match = whole | retry
    fallback = text.str.contains(f"[{_OPEN}{_CLOSE}{_JOINER}]")
    if rule.action == "null":
        hit = pieces.list.eval(is_match).list.any()
        return pl.when(fallback | hit).then(None).otherwise(text)
    replaced = head if rule.action == "keep" else _replacement(head, rule)
    rebuilt = (
        pl.when(is_match)
        .then(pl.concat_str(replaced, tail, rest))
        .when(rest.is_not_null())
        .then(pl.concat_str(match, rest))
        .otherwise(pl.element())
    )
    joined = pieces.list.eval(rebuilt).list.join("")
    if joined_values:
        joined = joined.str.replace_all(_JOINER, "", literal=True)
    return pl.when(fallback).then(unconditional).otherwise(joined)


_JSON_VALUE: Final = r"\"(?:[^\"\\]|\\.)*\"|-?[0-9][0-9.eE+-]*|true|false"


def json_key_regex(rules: list[ColumnRule]) -> str:
    """Key/value pairs inside JSON text whose key matches one of the rules' globs."""
    names = "|".join(_glob_regex(rule.selector) for rule in rules)
    return rf'(?P<sl_lead>"(?i:{names})"\s*:\s*)(?P<sl_value>{_JSON_VALUE})(?P<sl_trail>)'


def rewrite_json_keys(text: pl.Expr, regex: str, label: str) -> pl.Expr:
    return text.str.replace_all(regex, f'{_LEAD}"{tag(label)}"')


def _glob_regex(glob: str) -> str:
    out = []
    for char in glob:
        if char == "*":
            out.append(r'[^"]*')
        elif char == "?":
            out.append(r'[^"]')
        elif char.isalnum() or char == "_":
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)
