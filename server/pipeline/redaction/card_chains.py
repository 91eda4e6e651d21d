"""Cards right after a card the rule wrote over, led by characters that lead no card
alone ("4111… -5500…", "4111… $5500…", "4111… +5500…", "4111…**5500…"): "-" and "."
before a number make it negative or a fraction, "$" a price, "+" a phone, "*" a mask's
or emphasis' star, so the card pattern's lead rules them out (entities._START), and
"4111…2 -4111…1" stays as it is. After a valid card they are one more card of a list:
looked for again, after what the rule wrote, only in the values the rule rewrote."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entity import ascii_boundaries, compose
from sluice.server.pipeline.redaction.fenced_rewrite import rewrite_fenced
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.policy import PatternRule

#: The fewest digits of a card.
_SHORTEST_CARD: Final = 13
#: Between a written card and the next: up to three characters that are neither word
#: nor space, after a space or not.
_BETWEEN: Final = r"[ \t]?[^0-9A-Za-z_\s]{1,3}"
#: How many cards so chained are looked for after one (each look finds the next one:
#: a card's trail takes the characters the one after it needs as its lead).
_LONGEST_CHAIN: Final = 8


def cards_after_written(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` (the card rule's output) with the cards right after a written card
    handled by the rule's action."""
    after = _after_written(rule)
    if after is None:
        return text
    return text.map_batches(
        partial(_rewritten_while_held, rule=after), return_dtype=pl.String, is_elementwise=True
    )


def _after_written(rule: PatternRule) -> PatternRule | None:
    """The card rule led by what it writes for a card and `_BETWEEN`, or None for an
    action that writes nothing in the text (keep, null)."""
    entity = rule.entity
    if entity is None or not entity.cards_beside_groups:
        return None
    if rule.action == "mask":
        hidden = max(1, _SHORTEST_CARD - rule.keep_last)
        written = rf"\*{{{hidden},}}[0-9]{{{rule.keep_last}}}"
    elif rule.action in ("redact", "hash"):
        # A tag, or a pseudonym in its own or its sealed form (pseudonyms.py).
        written = rf"\[{re.escape(rule.label)}[^\]\s]*\]"
    else:
        return None
    lead = f"(?:{written}){_BETWEEN}"
    # A "_" ends it too: the card joined by it may be written over already
    # ("4111… -5500…_************1111"), and the joiners only part two runs of digits.
    trail = f"_|{entity.trail}"
    regex = ascii_boundaries(compose(lead, entity.value, trail))
    # The gate: a digit after the lead. Not the whole pattern: the card's trail may be
    # one only once joiners are in (text_markers.PARTED_CARDS: "4111…_5500…").
    return replace(rule, regex=regex, gate=f"{lead}[0-9]", entity=None)


def _rewritten_while_held(values: pl.Series, rule: PatternRule) -> pl.Series:
    # Only the values holding a candidate are rewritten (few: a card right after a
    # written one), again while that changes them.
    for _ in range(_LONGEST_CHAIN):
        held = values.str.contains(rule.gate).fill_null(False)
        if not held.any():
            break
        before = values.filter(held)
        done = before.to_frame(ELEMENT).select(rewrite_fenced(pl.col(ELEMENT), rule)).to_series()
        if done.equals(before):
            break
        # `scatter` writes in place: into a copy, never the caller's values.
        values = values.clone().scatter(row_positions(held), done)
    return values
