"""Cards right after a card the rule wrote over, led by characters that lead no card
alone ("4111… -5500…", "4111… $5500…", "4111… +5500…", "4111…**5500…"): "-" and "."
before a number make it negative or a fraction, "$" a price, "+" a phone, "*" a mask's
or emphasis' star, so the card pattern's lead rules them out (entities._START), and
"4111…2 -4111…1" stays as it is. After a valid card they are one more card of a list:
looked for again, after what the rule wrote, only in the values the rule rewrote.

So are cards right after a written card with digit groups after them, after a space
too ("4111 1111 1111 1111 5500 0000 0000 0004 123"): the whole run is one candidate
that fails, the lazy step (card_groups.without_last_group) writes over the first card
and gives the rest back as context, and the rule after it takes the second card and
the groups as one candidate that fails again; no step after it looked for a card
followed by groups. They are looked for as the steps do (the groups as context, a
greedy card then a lazy one), but only right after a written card: a card inside a
longer number ("1 4111 1111 1111 1111 1111") is still none."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.card_groups import groups_as_context
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
#: ... or a space or tab alone: the rule takes a card after one, but not one the steps
#: after it gave back ("4111 1111 1111 1111 5500… 4111…": the lazy step writes over the
#: first card, the rule after it takes the two others as one failing candidate).
_BESIDE: Final = rf"(?:{_BETWEEN}|[ \t])"
#: A run of digits: each round rewrites at least one, so a value holding n is done in
#: at most n rounds (each round finds the next card of a chain: a card's trail takes the
#: characters the one after it needs as its lead).
_DIGITS: Final = r"[0-9]+"


def cards_after_written(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` (the card rule's output) with the cards right after a written card
    handled by the rule's action."""
    after = _after_written(rule)
    if not after:
        return text
    return text.map_batches(
        partial(_rewritten_while_held, rules=after), return_dtype=pl.String, is_elementwise=True
    )


def _after_written(rule: PatternRule) -> tuple[PatternRule, ...]:
    """The card rule led by what it writes for a card and `_BESIDE`, then the same with
    digit groups after the card as context (a greedy card, then a lazy one); none for an
    action that writes nothing in the text (keep, null)."""
    entity = rule.entity
    if entity is None or not entity.cards_beside_groups:
        return ()
    if rule.action == "mask":
        # The last `keep_last` characters stay: digits and the " " or "-" between the
        # card's groups ("************** 1111", "*************1-1111"), a digit last.
        hidden = max(1, _SHORTEST_CARD - rule.keep_last)
        kept = rf"[0-9 \-]{{{rule.keep_last - 1}}}[0-9]" if rule.keep_last > 0 else ""
        written = rf"\*{{{hidden},}}{kept}"
    elif rule.action in ("redact", "hash"):
        # A tag, or a pseudonym in its own or its sealed form (pseudonyms.py).
        written = rf"\[{re.escape(rule.label)}[^\]\s]*\]"
    else:
        return ()
    lead = f"(?:{written}){_BESIDE}"
    # A "_" ends it too: the card joined by it may be written over already
    # ("4111… -5500…_************1111"), and the joiners only part two runs of digits.
    trail = f"_|{entity.trail}"
    regex = ascii_boundaries(compose(lead, entity.value, trail))
    # The gate: a digit after the lead. Not the whole pattern: the card's trail may be
    # one only once joiners are in (text_markers.PARTED_CARDS: "4111…_5500…").
    gate = f"{lead}[0-9]"
    after = replace(rule, regex=regex, gate=gate, entity=None)
    with_groups = groups_as_context(rule, lead, trail)
    return (after, *(replace(step, gate=gate) for step in with_groups))


def _rewritten_while_held(values: pl.Series, rules: tuple[PatternRule, ...]) -> pl.Series:
    # Only the values holding a candidate are rewritten (few: a card right after a
    # written one), by each rule in turn, again while that changes them. The rules
    # share one gate, looked for once over the column, then only in the values the
    # round before changed (a long chain costs rounds over a few values).
    gate = rules[0].gate
    assert all(rule.gate == gate for rule in rules)
    held = values.str.contains(gate).fill_null(False)
    if not held.any():
        return values
    positions = row_positions(held)
    before = values.filter(held)
    rounds = before.str.count_matches(_DIGITS).max()
    assert isinstance(rounds, int)
    # `scatter` writes in place: into a copy, never the caller's values.
    values = values.clone()
    for _ in range(rounds):
        done = before
        for rule in rules:
            # One select each: an expression nested in another is computed per use.
            done = done.to_frame(ELEMENT).select(rewrite_fenced(pl.col(ELEMENT), rule)).to_series()
        changed = done.ne_missing(before)
        if not changed.any():
            break
        values.scatter(positions, done)
        done = done.filter(changed)
        still = done.str.contains(gate)
        positions = positions.filter(changed).filter(still)
        before = done.filter(still)
        if before.is_empty():
            break
    return values
