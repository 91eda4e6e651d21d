"""Pattern rules inside text, as Polars expressions.

Without a validator, a match is replaced in one `replace_all` pass; otherwise (and for
actions that write something per match) the candidates are fenced and handled one by one
(fenced_rewrite.py), after a cheap check of which values may change at all
(candidate_checks.py). What an entity's rule does beyond its pattern is declared on the
Entity (entity.py): layouts of its own before it, a second round, cards beside digit
groups (card_groups.py), phones in one pass (phone_one_pass.py).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.card_chains import cards_after_written
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entity import Entity, ascii_boundaries, without_names
from sluice.server.pipeline.redaction.fenced_rewrite import rewrite_fenced
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.policy import PatternRule, entity_rule
from sluice.server.pipeline.redaction.text_markers import LEAD, TRAIL


def rewrite_text(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with every (valid) match of the rule handled by its action."""
    entity = rule.entity
    rewritten = _rewrite_candidates(rewrite_layouts(text, rule), rule)
    if entity is not None and entity.cards_beside_groups:
        rewritten = cards_after_written(rewritten, rule)
    if entity is not None and entity.second_round:
        spaced = entity.joins_after_candidates
        rewritten = _rewrite_candidates(rewritten, rule, join_after_candidates=spaced)
    return rewritten


def rewrite_layouts(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with the matches of the rule's entity's layouts (Entity.layouts) handled
    by its action, as its own pattern's are, in their order."""
    if rule.entity is None or not rule.entity.layouts:
        return text
    groups = [_layout_rules(rule, layouts) for layouts in _by_gate(rule.entity.layouts)]
    return text.map_batches(
        partial(_rewritten_where_held, groups=groups), return_dtype=pl.String, is_elementwise=True
    )


def _by_gate(layouts: tuple[Entity, ...]) -> list[list[Entity]]:
    """The layouts in their order, those in a row with the same gate together: a value
    is searched for a gate once, however many layouts share it (the command-line flag
    layouts all look for "--"). No layout writes another's needle (tags, masks and
    pseudonyms hold none), so who holds it is the same before and after each."""
    groups: list[list[Entity]] = []
    for layout in layouts:
        if groups and _gate_of(groups[-1][0]) == _gate_of(layout):
            groups[-1].append(layout)
        else:
            groups.append([layout])
    return groups


def _gate_of(layout: Entity) -> tuple[str, bool]:
    return layout.gate, layout.gate_non_ascii


def _layout_rules(rule: PatternRule, layouts: list[Entity]) -> list[PatternRule]:
    """Rules for some of the rule's entity's layouts (all with one gate), with the
    rule's action, as matches of entities of their own."""
    return [
        replace(
            entity_rule(layout, rule.action, rule.keep_last, rule.key),
            sealed=rule.sealed,
            after_seals=rule.after_seals,
        )
        for layout in layouts
    ]


def _rewritten_where_held(values: pl.Series, groups: list[list[PatternRule]]) -> pl.Series:
    """`values` with each group of layout rules (`_layout_rules`, in order) run on the
    values holding its gate. Only the values holding some layout's gate are looked at:
    the gates are scanned first all at once (`_holding_any_gate`); a value holding none
    is left as it is by the first group, so by every later one, and those holding one
    (on the text-heavy set, none) go through the groups as before, each group's gate
    read on what the groups before it wrote. Scanned one group at a time, the e-mail
    layouts' five gates (two of them a length check for characters beyond ASCII each)
    cost 0.041 CPU s on the 118,942 messages of 1M text-heavy rows the EMAIL gate
    picks, 0.024 all at once."""
    held = _holding_any_gate(values, [rules[0] for rules in groups])
    if not held.any():
        return values
    chosen = values.filter(held)
    for rules in groups:
        chosen = _rewritten_group(chosen, rules)
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), chosen)


def _rewritten_group(values: pl.Series, rules: list[PatternRule]) -> pl.Series:
    # Only the values holding the layouts' gate are rewritten: a byte search for it
    # ("%40", a quote after "=") costs a fraction of the patterns' passes over every value.
    held = _holding_gate(values, rules[0])
    if not held.any():
        return values
    # Each rule's result is materialised before the next reads it: nested into one
    # expression, each rule's (fenced) rewrite refers to its input several times, so
    # every layout in the group multiplied the work of those before it (six "--"
    # layouts: one row `--password c` with mask:4 took 2.1 CPU s).
    done = values.filter(held)
    for rule in rules:
        done = done.to_frame(ELEMENT).select(rewrite_text(pl.col(ELEMENT), rule)).to_series()
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), done)


def _holding_any_gate(values: pl.Series, rules: list[PatternRule]) -> pl.Series:
    """Which values hold the gate of one of `rules` (layout rules): the gates read in
    every value joined into one scan, and those beyond ASCII (Entity.gate_non_ascii),
    read only in the values holding such a character, joined into another after one
    length check for such characters."""
    beyond = [r.gate for r in rules if r.entity is not None and r.entity.gate_non_ascii]
    everywhere = [r.gate for r in rules if r.entity is None or not r.entity.gate_non_ascii]
    held = pl.repeat(False, len(values), eager=True)
    if everywhere:
        held = values.str.contains(_joined(everywhere)).fill_null(False)
    if beyond:
        non_ascii = (values.str.len_bytes() != values.str.len_chars()).fill_null(False)
        if non_ascii.any():
            found = values.filter(non_ascii).str.contains(_joined(beyond)).fill_null(False)
            never = pl.repeat(False, len(values), eager=True)
            held = held | never.scatter(row_positions(non_ascii), found)
    return held


def _joined(gates: list[str]) -> str:
    """One pattern holding where one of `gates` does."""
    return "|".join(f"(?:{without_names(gate)})" for gate in dict.fromkeys(gates))


def _holding_gate(values: pl.Series, rule: PatternRule) -> pl.Series:
    """Which values hold the layout's gate; for a gate beyond ASCII
    (Entity.gate_non_ascii), looked for only in the values holding such a character."""
    return _holding_any_gate(values, [rule])


def _rewrite_candidates(
    text: pl.Expr, rule: PatternRule, *, join_after_candidates: bool = False
) -> pl.Expr:
    if not rule.validator and rule.action == "redact":
        return text.str.replace_all(rule.regex, tag_replacement(rule))
    if not rule.validator and rule.action == "null":
        # Only a value holding a match becomes null: a rewrite may run on values
        # without one (a struct's other fields, a list's other elements, values its
        # gate picked that the pattern does not match).
        held = text.str.contains(rule.regex)
        if rule.entity is not None and rule.entity.null_also:
            held = held | _holding_null_also(text, rule.entity)
        return pl.when(held).then(None).otherwise(text)
    return rewrite_fenced(text, rule, join_after_candidates=join_after_candidates)


def _holding_null_also(text: pl.Expr, entity: Entity) -> pl.Expr:
    """Which values hold a match of the entity's `null_also` (Entity.null_also): the
    pattern is run only on the values holding its needle, a byte search."""
    regex = ascii_boundaries(entity.null_also)
    needle = entity.null_also_needle

    def holding(values: pl.Series) -> pl.Series:
        held = values.str.contains(needle, literal=True).fill_null(False)
        found = pl.repeat(False, len(values), eager=True)
        if not held.any():
            return found
        matched = values.filter(held).str.contains(regex).fill_null(False)
        # `found` is this function's own: `scatter` may write into it.
        return found.scatter(row_positions(held), matched)

    return text.map_batches(holding, return_dtype=pl.Boolean, is_elementwise=True)


def tag_replacement(rule: PatternRule) -> str:
    """What a validator-less rule writes for a match. An entity without lead or trail
    (e-mails, tokens, keys) is written as its tag alone: a replacement without `$`
    group references lets the regex engine find matches without resolving groups,
    which halves the cost of the pass (the groups are empty anyway)."""
    entity = rule.entity
    label = tag(rule.label)
    if entity is not None and not entity.lead and not entity.trail and "$" not in label:
        return label
    quote = entity.written_quoted if entity is not None else ""
    return f"{LEAD}{quote}{label}{quote}{TRAIL}"
