"""Pattern rules inside text, as Polars expressions.

Without a validator, a match is replaced in one `replace_all` pass; otherwise (and for
actions that write something per match) the candidates are fenced and handled one by one
(fenced_rewrite.py), after a cheap check of which values may change at all
(candidate_checks.py). Entities get steps of their own beyond their pattern: second
rounds (rule_entity.py), cards beside digit groups (card_groups.py), phones in one pass
(phone_one_pass.py) and passes for layouts the pattern leaves (extra_passes.py).
"""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.extra_passes import escaped_at_emails, whole_quoted_secret
from sluice.server.pipeline.redaction.fenced_rewrite import rewrite_fenced
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.rule_entity import (
    JOIN_AFTER_CANDIDATES,
    own_entity,
    second_round,
)
from sluice.server.pipeline.redaction.text_markers import LEAD, TRAIL


def rewrite_text(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with every (valid) match of the rule handled by its action."""
    rewritten = _rewrite_candidates(text, rule)
    if second_round(rule):
        spaced = rule.label in JOIN_AFTER_CANDIDATES
        rewritten = _rewrite_candidates(rewritten, rule, join_after_candidates=spaced)
    return rewritten


def _rewrite_candidates(
    text: pl.Expr, rule: PatternRule, *, join_after_candidates: bool = False
) -> pl.Expr:
    if not rule.validator and rule.action == "redact":
        rewritten = text.str.replace_all(rule.regex, tag_replacement(rule))
        return escaped_at_emails(whole_quoted_secret(rewritten, rule), rule)
    if not rule.validator and rule.action == "null":
        # Only a value holding a match becomes null: a rewrite may run on values
        # without one (a struct's other fields, a list's other elements, values its
        # gate picked that the pattern does not match).
        return pl.when(text.str.contains(rule.regex)).then(None).otherwise(text)
    return rewrite_fenced(text, rule, join_after_candidates=join_after_candidates)


def tag_replacement(rule: PatternRule) -> str:
    """What a validator-less rule writes for a match. An entity without lead or trail
    (e-mails, tokens, keys) is written as its tag alone: a replacement without `$`
    group references lets the regex engine find matches without resolving groups,
    which halves the cost of the pass (the groups are empty anyway)."""
    entity = own_entity(rule)
    label = tag(rule.label)
    if entity is not None and not entity.lead and not entity.trail and "$" not in label:
        return label
    return f"{LEAD}{label}{TRAIL}"
