"""Passes after an entity's own pattern, for layouts the pattern leaves."""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entities import EMAIL_ESCAPED_AT
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.rule_entity import own_entity

#: The text after a quoted secret's tag up to the closing quote of the same kind (and
#: escape), per quote: Rust's regex has no back-reference to find that closing quote.
_QUOTED_REST: Final = tuple(
    rf"(\\?{quote}{re.escape(tag('SECRET_VALUE'))})[^{quote}\n\\]*(\\?{quote})"
    for quote in ('"', "'")
)


def whole_quoted_secret(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` after the keyword entity's rewrite, with the rest of each quoted secret
    holding spaces gone (`password="correct horse battery"`): the pattern takes its first
    word only, as an unquoted value ends at a space. A tag right after a quote stands for
    a value that was quoted; the rows this runs on are those the keyword gate picked."""
    if rule.label != "SECRET_VALUE" or own_entity(rule) is None:
        return text
    for pattern in _QUOTED_REST:
        text = text.str.replace_all(pattern, "${1}${2}")
    return text


def escaped_at_emails(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` after the EMAIL entity's rewrite, with the addresses whose "@" a URL
    escaped (`?email=ann%40example.com`) redacted too (see EMAIL_ESCAPED_AT)."""
    if rule.label != "EMAIL" or own_entity(rule) is None:
        return text
    return text.map_batches(_escaped_at_redacted, return_dtype=pl.String, is_elementwise=True)


def _escaped_at_redacted(values: pl.Series) -> pl.Series:
    # Only the values holding "%40" are rewritten: a byte search for it costs a fourth
    # of the pattern's pass over every value (whose engine does not look for it first).
    escaped = values.str.contains("%40", literal=True).fill_null(False)
    if not escaped.any():
        return values
    redacted = values.filter(escaped).str.replace_all(EMAIL_ESCAPED_AT, tag("EMAIL"))
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(escaped), redacted)
