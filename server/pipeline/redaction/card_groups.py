"""Cards written beside digit groups. A card number written with digit groups after it
("… 1111 123") is one longer candidate that fails as a whole: a second step
(`without_last_group`) looks for cards followed by digit groups (kept as context) in
what the first left. One written after short digit groups ("ticket #12 4111…") fails
the same way: a failing candidate's value is checked again without them, where the rest
is laid out as a card (`CARD_AFTER_GROUPS`)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.card_escaped_separators import escaped_separators_step
from sluice.server.pipeline.redaction.card_layouts import grouped_card
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entity import ascii_boundaries, compose
from sluice.server.pipeline.redaction.flat_lists import RESULT
from sluice.server.pipeline.redaction.number_separators import CARD_DASH, CARD_SEPARATOR, CARD_SPACE
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.validators import VALIDATORS

#: Digit groups after a card number: tried as context when the whole failed. The last
#: may end in a decimal fraction ("4111 1111 1111 1111 12.50", "… 4111111111111111.50"):
#: an amount after the card, which the card's trail alone never took (a "." before a
#: digit continues a number). Parted by every separator the card's value reads
#: (number_separators.CARD_SEPARATORS).
_LAST_GROUPS_CONTEXT: Final = rf"(?:{CARD_SEPARATOR}[0-9]+)+(?:\.[0-9]+)?"
#: A card number after digit groups ("ticket #12 4111…", "05/06/2024 4111…", "qty 2
#: 4111…") is one candidate that fails as a whole: its value is tried again without
#: the groups, but only where the rest is laid out as a card, so that a long number (an
#: IBAN's digits, a tracking number) still never yields a card-sized part
#: (entities._START). A contiguous card after groups of one to four digits, the first of
#: up to eight (an id led by letters, "ref AB123456 4111…", is a candidate from its
#: digits; a longer first group may be a card itself, which the candidate's second round
#: parts); a grouped one (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, spaces or dashes) after groups
#: of one to three, the first also of five to eight, since a group of four before it
#: reads as one more of its own. Either also right after a contiguous card-sized run
#: alone ("4111…-5500…": cards joined by a separator are one candidate): that run is
#: checked as a card of its own (`_GROUPED_CARD_BEFORE`); the steps after the first
#: (`without_last_group`) masked it, but their second look at the rest never took a
#: card after a "-" (entities._START). Every separator the card's value reads parts
#: the groups (number_separators.CARD_SEPARATORS); a grouped card's are all spaces or
#: all dashes.
_SEP: Final = CARD_SEPARATOR
_GROUPED_CARDS: Final = f"{grouped_card(CARD_SPACE)}|{grouped_card(CARD_DASH)}"
#: A grouped card after an ISO date too ("paid 2024-01-02 5500 0000 0000 0004"): its
#: year is a group of four, which before a grouped card reads as one more of its own,
#: and the card stayed in clear. The date's dashes and the space after it, unlike a
#: card's one kind of separator, tell it from a card's first group. Short groups may come
#: before the date ("12 2024-01-02 5500 …": a quantity, a day), as before a card.
_ISO_DATE: Final = rf"[0-9]{{4}}{CARD_DASH}[0-9]{{2}}{CARD_DASH}[0-9]{{2}}{CARD_SPACE}"
CARD_AFTER_GROUPS: Final = (
    rf"^(?:(?:[0-9]{{1,8}}{_SEP}(?:[0-9]{{1,4}}{_SEP})*|[0-9]{{13,19}}{_SEP})"
    r"(?P<contiguous>[0-9]{13,19})"
    rf"|(?:[0-9]{{1,3}}{_SEP}(?:[0-9]{{1,3}}{_SEP})*|[0-9]{{5,8}}{_SEP}(?:[0-9]{{1,3}}{_SEP})*"
    rf"|[0-9]{{13,19}}{_SEP}|(?:[0-9]{{1,3}}{_SEP})*{_ISO_DATE})(?P<grouped>{_GROUPED_CARDS}))$"
)
#: After such a date the card may have digit groups after it too, as context (`card`,
#: then `after`: "2024-01-02 4111 1111 1111 1111 1", contiguous or grouped): the
#: candidate failed as a whole, and the steps with the last groups as context
#: (`without_last_group`) start at the date, whose dashes and space no card has. Read
#: apart, where `CARD_AFTER_GROUPS` finds no valid card: one pattern gives one reading,
#: and "… 4000 0000 0000 0000 006" is a 19-digit card where "… 4111 1111 1111 1111 123"
#: is one of 16 and a group. Not after other groups: a card between groups ("1 4111
#: 1111 1111 1111 1111") is the middle of a longer number, save between short groups
#: (`_CARD_BETWEEN_GROUPS`).
_CARD_AFTER_DATE: Final = (
    rf"^(?:[0-9]{{1,3}}{_SEP})*{_ISO_DATE}(?P<card>{_GROUPED_CARDS}|[0-9]{{13,19}})"
    rf"(?P<after>(?:{_SEP}[0-9]+)+)$"
)
#: Likewise a card between short digit groups ("12 4111 1111 1111 1111 1", "7
#: 4111111111111111 2", a quantity and an instalment around it), read apart where the
#: two above find no valid card: groups of one to three digits before it, as
#: `CARD_AFTER_GROUPS` reads them before a grouped card, and groups of one or two after
#: it. Not three: a 19-digit card ends in a group of three ("… 1111 1111 123" is one
#: card, and "1 4111 1111 1111 1111 111" no card), nor four, which is one more group of
#: a longer number ("12 4111 1111 1111 1111 0000").
_CARD_BETWEEN_GROUPS: Final = (
    rf"^(?:[0-9]{{1,3}}{_SEP})+(?P<card>{_GROUPED_CARDS}|[0-9]{{13,19}})"
    rf"(?P<after>(?:{_SEP}[0-9]{{1,2}})+)$"
)

#: The groups before a card found after them, when they are a grouped card themselves
#: and its separator ("4111 1111 1111 1111 5500000000000004": one candidate, which a
#: contiguous card ends), or a contiguous one ("4111…-5500…"): that card is checked and
#: replaced too, not written back.
_GROUPED_CARD_BEFORE: Final = rf"^(?P<card>{_GROUPED_CARDS}|[0-9]{{13,19}}){_SEP}$"


def without_last_group(rule: PatternRule) -> tuple[PatternRule, ...]:
    """For cards: the rule again with the digit groups after the candidate as context,
    for steps over what the first left (a candidate that failed as a whole). First with
    a greedy value, which gives back only the last group ("6011 0000 0000 0000 019 123":
    a 19-digit card, then one group), then with a lazy one, which ends at the first group
    boundary where a card can end ("4111 1111 1111 1111 123 456": the card, then two
    groups). Each step sees only what the one before it left. Last, the rule for cards
    parted by escaped separators (card_escaped_separators.py): a step of the card rule
    as these are, run (with the whole rule again after it) where its own gate is held."""
    entity = rule.entity
    if entity is None or not entity.cards_beside_groups:
        return ()
    return (*groups_as_context(rule, entity.lead, entity.trail), escaped_separators_step(rule))


def groups_as_context(rule: PatternRule, lead: str, trail: str) -> tuple[PatternRule, ...]:
    """The card rule led by `lead`, with the digit groups after the card and then
    `trail` as context: with a greedy value, then a lazy one (`without_last_group`)."""
    assert rule.entity is not None
    value = rule.entity.value
    context = rf"{_LAST_GROUPS_CONTEXT}(?:{trail})"
    return tuple(
        replace(rule, regex=ascii_boundaries(compose(lead, card, context)), entity=None)
        for card in (value, f"{value}?")
    )


def card_after_groups(value: pl.Expr) -> pl.Expr:
    """The card laid out after short digit groups in a card candidate's value
    (`CARD_AFTER_GROUPS`), or null. A regex over candidates only, never whole texts."""
    parts = value.str.extract_groups(CARD_AFTER_GROUPS)
    return pl.coalesce(parts.struct.field("contiguous"), parts.struct.field("grouped"))


def card_between_groups(value: pl.Expr) -> pl.Expr:
    """The card laid out after an ISO date (`_CARD_AFTER_DATE`) or short digit groups
    (`_CARD_BETWEEN_GROUPS`) with digit groups after it in a card candidate's value, as
    a struct of `card` and `after` (null fields where neither reads one)."""
    dated = value.str.extract_groups(_CARD_AFTER_DATE)
    between = value.str.extract_groups(_CARD_BETWEEN_GROUPS)
    is_dated = dated.struct.field("card").is_not_null()
    return pl.struct(
        card=pl.coalesce(dated.struct.field("card"), between.struct.field("card")),
        after=pl.when(is_dated)
        .then(dated.struct.field("after"))
        .otherwise(between.struct.field("after")),
    )


def after_groups(rule: PatternRule) -> bool:
    """Whether the rule's failing candidates are tried without their first digit groups:
    the card entity's own pattern only. The steps with the last groups as context
    (`without_last_group`) are not: a card between groups ("1 4111 1111 1111 1111 1111")
    is the middle of a longer number."""
    return rule.entity is not None and rule.entity.cards_beside_groups


def passes_after_groups(value: pl.Expr, rule: PatternRule) -> pl.Expr:
    """Whether a card candidate's value holds a valid card after short digit groups
    (for values that fail as a whole)."""
    between = card_between_groups(value).struct.field("card")
    return valid_where_present(card_after_groups(value), rule) | valid_where_present(between, rule)


def valid_where_present(value: pl.Expr, rule: PatternRule) -> pl.Expr:
    """The rule's check of `value`, false where it is null: the check runs only on the
    values present (cards after digit groups are rare; the check of a whole column of
    nulls costs as much as one of candidates)."""
    check = partial(_checked_present, validator=rule.validator)
    return value.map_batches(check, return_dtype=pl.Boolean, is_elementwise=True)


def _checked_present(values: pl.Series, validator: str) -> pl.Series:
    present = values.is_not_null()
    checked = pl.repeat(False, len(values), eager=True)
    if not present.any():
        return checked
    few = values.filter(present).to_frame("value")
    passing = few.select(VALIDATORS[validator](pl.col("value")).fill_null(False)).to_series()
    # `checked` is this function's own: `scatter` may write into it.
    return checked.scatter(row_positions(present), passing)


#: The column of `_matched_pieces` holding a card found after short digit groups.
AFTER_GROUPS_COLUMN: Final = "after_groups"
#: ... the digit groups after that card, written back ("" if none: after an ISO date
#: only, `CARD_AFTER_GROUPS`' `after`) ...
AFTER_CARD_COLUMN: Final = "after_card"
#: ... and the valid grouped card those groups are, if they are one (else null).
BEFORE_CARD_COLUMN: Final = "before_card"
_PASSES_AFTER_GROUPS_COLUMN: Final = "passes_after_groups"
_DATED_COLUMN: Final = "after_date"
_PASSES_AFTER_DATE_COLUMN: Final = "passes_after_date"


def with_card_after_groups(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    """`_matched_pieces` with the card after short digit groups (`CARD_AFTER_GROUPS`) in
    the matches that fail as a whole, where it passes (else null), as passing pieces,
    and the valid grouped card its groups are, if they are one (`BEFORE_CARD_COLUMN`).
    Each step a column of its own: an expression used twice is computed twice."""
    failing = pl.when(pl.col("rest").is_not_null() & ~pl.col(RESULT)).then(pl.col("candidate"))
    frame = frame.with_columns(card_after_groups(failing).alias(AFTER_GROUPS_COLUMN))
    passes = valid_where_present(pl.col(AFTER_GROUPS_COLUMN), rule)
    frame = frame.with_columns(passes.alias(_PASSES_AFTER_GROUPS_COLUMN))
    passing = pl.col(_PASSES_AFTER_GROUPS_COLUMN)
    # Where none passes, a card after an ISO date with groups after it.
    dated = card_between_groups(pl.when(~passing).then(failing))
    frame = frame.with_columns(
        dated.struct.field("card").alias(_DATED_COLUMN),
        dated.struct.field("after").alias(AFTER_CARD_COLUMN),
    )
    dated_passes = valid_where_present(pl.col(_DATED_COLUMN), rule)
    frame = frame.with_columns(dated_passes.alias(_PASSES_AFTER_DATE_COLUMN))
    dated_passing = pl.col(_PASSES_AFTER_DATE_COLUMN)
    after = pl.when(passing).then(pl.col(AFTER_GROUPS_COLUMN))
    frame = frame.with_columns(
        after.when(dated_passing).then(pl.col(_DATED_COLUMN)).alias(AFTER_GROUPS_COLUMN),
        pl.when(dated_passing)
        .then(pl.col(AFTER_CARD_COLUMN))
        .otherwise(pl.lit(""))
        .alias(AFTER_CARD_COLUMN),
        (pl.col(RESULT) | passing | dated_passing).alias(RESULT),
    )
    card_and_after = pl.concat_str(pl.col(AFTER_GROUPS_COLUMN), pl.col(AFTER_CARD_COLUMN))
    groups = pl.col("candidate").str.strip_suffix(card_and_after)
    before = groups.str.extract(_GROUPED_CARD_BEFORE, 1)
    frame = frame.with_columns(before.alias(BEFORE_CARD_COLUMN))
    valid = valid_where_present(pl.col(BEFORE_CARD_COLUMN), rule)
    return frame.with_columns(
        pl.when(valid).then(pl.col(BEFORE_CARD_COLUMN)).alias(BEFORE_CARD_COLUMN)
    )
