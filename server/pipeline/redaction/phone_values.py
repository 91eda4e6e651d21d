"""The values inside whole matches of the PHONE pattern, read by trimming them."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.policy import PatternRule


def is_phone_rule(rule: PatternRule) -> bool:
    return rule.entity is not None and rule.entity.phone_steps


def phone_values(matches: pl.Series) -> pl.Series:
    """The values (`sl_value`) of whole matches of the PHONE pattern, read by trimming
    them (a fourth of the cost of re-reading the groups with the whole pattern). The
    trail holds no digit, or is a word led by digits after a space (which ends with a
    letter right after a digit, as no other trail does), and the value ends with a
    digit; the lead is empty, one character that is neither a word character nor "+",
    or a few stars after at most one character, and the value starts with a digit, "+"
    or "(". So the trimmed match is the value, or the value after a "(" lead: a value
    starts with "(" only as an area code, "(" and 1-4 digits and ")", which a "(" lead
    before a value never is (a value starting with a digit holds no ")", one starting
    with "(" or "+" gives "((" or "(+")."""
    trimmed = matches.to_frame(ELEMENT).select(trimmed_phone(pl.col(ELEMENT))).to_series()
    # Few start with "(": only those are looked at (a replace over all of them cost
    # half as much as the trimming).
    paren = trimmed.str.starts_with("(").fill_null(False)
    if not paren.any():
        return trimmed
    # `trimmed` is this function's own: `scatter` may write into it.
    return trimmed.scatter(
        row_positions(paren), trimmed.filter(paren).str.replace(_PAREN_LEAD, "$1")
    )


def trimmed_phone(match: pl.Expr) -> pl.Expr:
    # A star lead may follow any one character, a digit too ("9*+44 ..."): it goes
    # first, so that digit is not taken for the value's.
    unstarred = match.str.replace(r"^[^*]?\*{1,3}", "")
    # The lead's and the trail's characters in one pass: the first alternative can
    # only match at the start, the others only at the end of the text, so this is
    # stripping one and then the other. A trail of non-digits, or a word led by
    # digits after a space ("555-123-4567 5pm": " 5p", entities._END), the only trail
    # holding digits: it alone ends a match with a digit and a letter.
    return unstarred.str.replace_all(r"^[^0-9+(]+|\s+[0-9]+[^\W\d]$|[^0-9]+$", "")


#: A "(" followed by something other than 1-4 digits and ")" (a lead, not an area
#: code): replaced by what follows it.
_PAREN_LEAD: Final = r"^\(($|[^0-9]|[0-9]{1,4}(?:[^0-9)]|$)|[0-9]{5})"
