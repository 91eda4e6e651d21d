"""Whether a validated entity's rule may change a value at all: its candidates checked
before the costlier fenced rewrite runs."""

from __future__ import annotations

from functools import partial

import polars as pl

from sluice.server.pipeline.redaction.card_groups import after_groups, passes_after_groups
from sluice.server.pipeline.redaction.collect_engine import IN_MEMORY
from sluice.server.pipeline.redaction.flat_lists import ELEMENT, RESULT, any_element
from sluice.server.pipeline.redaction.phone_bounds import (
    is_dotted_bound,
    with_dotted_bounds,
    with_signed_bounds,
)
from sluice.server.pipeline.redaction.phone_runs import LONG_RUN, holds_phones
from sluice.server.pipeline.redaction.phone_values import is_phone_rule, phone_values
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.text_markers import (
    CLOSE,
    JOINER,
    OPEN,
    joined_after_candidates,
    joined_separators,
    with_joiners,
)
from sluice.server.pipeline.redaction.validators import VALIDATORS


def may_rewrite(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """Per value: whether a validated entity's rule may change it, i.e. whether any
    candidate passes its validator: matches are few, so extracting and checking them
    costs a fraction of the fenced rewrite, which then runs only where it changes
    something (most digit runs in text are order ids, dates and tracking numbers)."""
    joined = with_joiners(text, *joined_separators(rule))
    regex = rule.regex
    if is_phone_rule(rule):
        # Numbers side by side parted (phone_bounds.py): a dotted boundary is a candidate
        # that passes, so that the rewrite, which parts them all, runs.
        joined = joined.map_batches(with_signed_bounds, return_dtype=pl.String, is_elementwise=True)
        regex = with_dotted_bounds(regex)
    matches = joined.str.extract_all(regex)
    unusual = text.str.contains(f"[{OPEN}{CLOSE}{JOINER}]")
    valid = partial(_any_valid, rule=rule)
    found = matches.map_batches(valid, return_dtype=pl.Boolean, is_elementwise=True)
    if rule.entity is not None and rule.entity.second_round and rule.entity.joins_after_candidates:
        # The values the second round finds after a look-alike: looked for only where
        # every candidate failed (other rows give it "": when/then computes both).
        only_look_alikes = ~found & (matches.list.len() > 0)
        rest = pl.when(only_look_alikes).then(joined).otherwise(pl.lit(""))
        after = joined_after_candidates(rest, rule).str.extract_all(rule.regex)
        found = found | after.map_batches(valid, return_dtype=pl.Boolean, is_elementwise=True)
    return found | unusual | _holds_layout(text, rule)


def _holds_layout(text: pl.Expr, rule: PatternRule) -> pl.Expr | bool:
    """Whether a value holds one of the entity's layouts' gates: the layouts run before
    its pattern (text.rewrite_layouts) and may change a value none of whose own
    candidates passes (a phone number written with digits beyond ASCII)."""
    entity = rule.entity
    if entity is None or not entity.layouts:
        return False
    held: pl.Expr | bool = False
    # Each gate once, however many layouts share it (as text.rewrite_layouts reads them).
    for gate, non_ascii in dict.fromkeys((o.gate, o.gate_non_ascii) for o in entity.layouts):
        found = text.str.contains(gate)
        if non_ascii:
            found = found & (text.str.len_bytes() != text.str.len_chars())
        held = found | held
    return held


def _any_valid(matches: pl.Series, rule: PatternRule) -> pl.Series:
    def work(frame: pl.LazyFrame) -> pl.LazyFrame:
        # Each distinct candidate is checked once: in text the same look-alikes recur
        # (dates, amounts), so a batch's phone candidates are about a third distinct.
        value = _candidate_value(pl.col(ELEMENT), rule)
        # A match whose value cannot be re-read alone is kept as a candidate: the
        # rewrite decides it.
        valid = VALIDATORS[rule.validator](pl.col("value")).fill_null(False)
        if after_groups(rule):
            valid = valid | passes_after_groups(pl.col("value"), rule)
        distinct = frame.unique(ELEMENT).with_columns(value.alias("value"))
        if is_phone_rule(rule):
            passing = _phones_or_parts(distinct, valid)
        else:
            kept = distinct.filter(valid | pl.col("value").is_null()).select(ELEMENT)
            passing = kept.collect(engine=IN_MEMORY).to_series()
        # The few passing candidates looked up, rather than a join with every distinct
        # one (a hash table of all of them, built for the few that matter).
        passed = pl.col(ELEMENT).is_in(passing.implode(), nulls_equal=True)
        return frame.with_columns(passed.alias(RESULT))

    return any_element(matches, work)


def _phones_or_parts(distinct: pl.LazyFrame, valid: pl.Expr) -> pl.Series:
    """The phone candidates among `distinct` (whole matches beside their `value`) that
    pass, that cannot be re-read alone, that hold phone numbers once split at their
    whitespace (phone_runs.py) or that are a dotted boundary (phone_bounds.py). The
    distinct candidates and their check are computed once: each `collect` of the lazy
    frame computed them again."""
    checked = distinct.with_columns(valid.alias(RESULT)).collect(engine=IN_MEMORY)
    value = pl.col("value")
    passing = checked.filter(pl.col(RESULT) | value.is_null()).get_column(ELEMENT)
    runs = checked.filter(~pl.col(RESULT) & value.str.contains(LONG_RUN))
    held = runs.filter(holds_phones(runs.get_column("value"))).get_column(ELEMENT)
    bound = checked.filter(is_dotted_bound(pl.col(ELEMENT))).get_column(ELEMENT)
    return pl.concat([passing, held, bound])


def _candidate_value(match: pl.Expr, rule: PatternRule) -> pl.Expr:
    """The value inside a whole match (lead, value, trail), for `may_rewrite`'s check.
    For phones, the value `phone_values` reads, as the rewrites do (a number before a
    word led by digits, or glued to a letter, is read there)."""
    if is_phone_rule(rule):
        assert rule.entity is not None
        read = partial(phone_values, value_pattern=rule.entity.value)
        return match.map_batches(read, return_dtype=pl.String, is_elementwise=True)
    return match.str.extract_groups(rule.regex).struct.field("sl_value")
