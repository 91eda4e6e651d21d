"""Pattern rules inside text, as Polars expressions.

Without a validator, a match is replaced in one `replace_all` pass. With one (cards,
IBANs, phones, ...), only some matches may be replaced, and Polars cannot replace
per-row lists of strings, so each match is fenced with a separator that cannot occur in
text (NUL before, SOH after), the text is split on them, the matches are validated and
replaced inside `list.eval`, and joined again: still column-wise, no Python per row. A
value that already holds either control character falls back to replacing every
candidate: over-redaction is the safe failure.
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
    # "a<OPEN>match<CLOSE>b<OPEN>match<CLOSE>c" split on OPEN: every piece but the first
    # is "match<CLOSE>rest". Only elementwise operations follow, which Polars runs over
    # all pieces of all rows at once (a piece index would force one evaluation per row).
    fenced = text.str.replace_all(rule.regex, f"{_LEAD}{_OPEN}{_VALUE}{_CLOSE}{_TRAIL}")
    pieces = fenced.str.split(_OPEN)
    halves = pl.element().str.splitn(_CLOSE, 2)
    match, rest = halves.struct.field("field_0"), halves.struct.field("field_1")
    is_match = rest.is_not_null()
    if rule.validator:
        # Validators see only the matches: plain-text pieces become "" (a null would
        # still cost a string kernel its bytes).
        candidate = pl.when(is_match).then(match).otherwise(pl.lit(""))
        is_match = is_match & VALIDATORS[rule.validator](candidate)
        is_match = is_match.fill_null(False)
    fallback = text.str.contains(f"[{_OPEN}{_CLOSE}]")
    if rule.action == "null":
        hit = pieces.list.eval(is_match).list.any()
        return pl.when(fallback | hit).then(None).otherwise(text)
    replaced = match if rule.action == "keep" else _replacement(match, rule)
    rebuilt = (
        pl.when(is_match)
        .then(pl.concat_str(replaced, rest))
        .when(rest.is_not_null())
        .then(pl.concat_str(match, rest))
        .otherwise(pl.element())
    )
    joined = pieces.list.eval(rebuilt).list.join("")
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
