"""Pattern rules inside text, as Polars expressions.

Without a validator, a match is replaced in one `replace_all` pass. With one (cards,
IBANs, phones, ...), only some matches may be replaced, and Polars cannot replace
per-row lists of strings, so each match is fenced with a separator that cannot occur in
text (NUL before, SOH after), the text is split on them, the pieces of all values are
validated and replaced as one flat column (flat_lists.py; inside `list.eval`, each use of
a piece re-ran the split), and joined again: still column-wise, no Python per row. A
value that already holds one of the control characters used here falls back to
replacing every candidate: over-redaction is the safe failure.

Entity patterns consume the character after a match (their trail) and the one before it
(their lead), so in "4111…1111,5500…0004" the first match takes the comma the second
needs as its lead. Before matching, a joiner (STX) is put after each `,` `;` `|` that
starts another value, giving the next candidate a lead of its own; it is removed again
afterwards. A card number written with digit groups after it ("… 1111 123") is one longer
candidate that fails as a whole: a second step (`without_last_group`) looks for cards
followed by digit groups (kept as context) in what the first left. One written after
short digit groups ("ticket #12 4111…") fails the same way: a failing candidate's value
is checked again without them, where the rest is laid out as a card (`_CARD_AFTER_GROUPS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.redaction.actions import (
    TEXT_PSEUDONYM_HEX,
    hmac_sha256_hex,
    mask,
    tag,
)
from sluice.server.pipeline.redaction.collect_engine import IN_MEMORY
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entities import (
    EMAIL_ESCAPED_AT,
    ENTITY_BY_NAME,
    Entity,
    compose,
)
from sluice.server.pipeline.redaction.flat_lists import (
    ELEMENT,
    RESULT,
    any_element,
    map_elements,
)
from sluice.server.pipeline.redaction.phone_bounds import (
    is_dotted_bound,
    rows_at_bounds,
    with_bounds,
    with_dotted_bounds,
    with_signed_bounds,
)
from sluice.server.pipeline.redaction.phone_runs import JOINER, LONG_RUN, holds_phones, split_runs
from sluice.server.pipeline.redaction.policy import ColumnRule, PatternRule
from sluice.server.pipeline.redaction.validators import VALIDATORS
from sluice.server.pipeline.redaction.verdicts import CandidateVerdicts

_OPEN: Final = "\x00"
_CLOSE: Final = "\x01"
_JOINER: Final = JOINER
#: A separator another value may follow directly ("A,B"): it gets a joiner after it.
_JOINED: Final = r"([,;|])([0-9A-Za-z+(])"
#: For cards also a "/" (`4111…/5500…`) and a tab or line break (one card per line): the
#: card's trail takes it alone (entities._CARD_END), and the joiner is the next one's lead.
_JOINED_CARDS: Final = r"([,;|/\t\n\r])([0-9A-Za-z+(])"
#: Digit groups after a card number: tried as context when the whole failed.
_LAST_GROUPS_CONTEXT: Final = r"(?:[ -][0-9]+)+"
#: Validators whose candidates may run into a following digit group.
_GROUP_RETRY: Final = frozenset({"card"})
#: A card number after digit groups ("ticket #12 4111…", "05/06/2024 4111…", "qty 2
#: 4111…") is one candidate that fails as a whole: its value is tried again without
#: the groups, but only where the rest is laid out as a card, so that a long number (an
#: IBAN's digits, a tracking number) still never yields a card-sized part
#: (entities._START). A contiguous card after groups of one to four digits, the first of
#: up to eight (an id led by letters, "ref AB123456 4111…", is a candidate from its
#: digits; a longer first group may be a card itself, which the candidate's second round
#: parts); a grouped one (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, spaces or dashes) after groups
#: of one to three, the first also of five to eight, since a group of four before it
#: reads as one more of its own.
_CARD_AFTER_GROUPS: Final = (
    r"^(?:(?:[0-9]{1,8}[ -])(?:[0-9]{1,4}[ -])*(?P<contiguous>[0-9]{13,19})"
    r"|(?:[0-9]{1,3}[ -]|[0-9]{5,8}[ -])(?:[0-9]{1,3}[ -])*"
    r"(?P<grouped>[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{3})?"
    r"|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{3})?|[0-9]{4} [0-9]{6} [0-9]{5}"
    r"|[0-9]{4}-[0-9]{6}-[0-9]{5}))$"
)
_LEAD, _VALUE, _TRAIL = "${sl_lead}", "${sl_value}", "${sl_trail}"


def _replacement(match: pl.Expr, rule: PatternRule) -> pl.Expr:
    if rule.action == "mask":
        return mask(match, rule.keep_last)
    if rule.action == "hash":
        assert rule.key is not None
        digest = hmac_sha256_hex(match, rule.key).str.head(TEXT_PSEUDONYM_HEX)
        return pl.concat_str(pl.lit(f"[{rule.label}:"), digest, pl.lit("]"))
    return pl.lit(tag(rule.label))


#: Entities whose trail takes the one separator ("A B", "A,B") the next value's lead
#: needs: a second round over the first one's output finds that neighbour (a tag, mask
#: or pseudonym written in place of the first is never part of a value). Strict only:
#: the moderate level does not pay for it.
_SECOND_ROUND: Final = frozenset(
    {"IBAN", "US_SSN", "ES_DNI", "UK_NINO", "MAC_ADDRESS", "GEO_COORDINATES", "IPV4", "IPV6"}
)


#: Second-round entities whose value holds no separator and whose trail is always a
#: character their lead accepts: a look-alike left unchanged by the first round still
#: takes the next value's lead ("12345678A X1234567L"), so the second round first puts a
#: joiner after every candidate's trail, giving the value after it a lead of its own.
#: The joiner only stands for a lead that was there before the look-alike's trail took
#: it, so it finds nothing a lookahead trail would not.
_JOIN_AFTER_CANDIDATES: Final = frozenset({"ES_DNI"})


def rewrite_text(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with every (valid) match of the rule handled by its action."""
    rewritten = _rewrite_candidates(text, rule)
    if _second_round(rule):
        spaced = rule.label in _JOIN_AFTER_CANDIDATES
        rewritten = _rewrite_candidates(rewritten, rule, join_after_candidates=spaced)
    return rewritten


def with_joiners(text: pl.Expr, joined: str = _JOINED) -> pl.Expr:
    """`text` with a joiner after each separator that starts another value (`_JOINED`).
    Few values hold one (prose has ", " after its commas): the rows that do are found
    by a scan, which costs a third of the regex replace that copies every row, and only
    those are rewritten (on the text-heavy set, ~7% of the rows a phone gate picks)."""
    return text.map_batches(
        partial(_with_joiners, joined=joined), return_dtype=pl.String, is_elementwise=True
    )


def _joined_separators(rule: PatternRule) -> str:
    return _JOINED_CARDS if rule.validator == "card" else _JOINED


def _with_joiners(values: pl.Series, joined: str) -> pl.Series:
    needs = values.str.contains(joined).fill_null(False)
    if not needs.any():
        return values
    where = row_positions(needs)
    with_joiner = values.filter(needs).str.replace_all(joined, f"$1{_JOINER}$2")
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where, with_joiner)


def _own_entity(rule: PatternRule) -> Entity | None:
    """The entity whose own pattern `rule` runs, else None. The entity-specific steps
    here (second rounds, group retries, the extra passes) rely on that pattern's groups
    and layouts: a custom regex under the same label gets none of them."""
    entity = ENTITY_BY_NAME.get(rule.label)
    return entity if entity is not None and rule.regex == entity.regex else None


def _second_round(rule: PatternRule) -> bool:
    return rule.label in _SECOND_ROUND and _own_entity(rule) is not None


def _joined_after_candidates(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with a joiner after every candidate's trail (see _JOIN_AFTER_CANDIDATES)."""
    return text.str.replace_all(rule.regex, f"{_LEAD}{_VALUE}{_TRAIL}{_JOINER}")


#: Put after a name's first letter to hide it from PERSON_NAME ("A<ETX>na"): ETX is no
#: lower-case letter, so the token no longer reads as a name; removed again after.
_HIDDEN: Final = "\x03"
#: Tokens of each own-name value hidden: "Ana María Lopez Garcia" has four.
_OWN_TOKENS: Final = 4


def rewrite_text_keeping(text: pl.Expr, rule: PatternRule, own_names: list[pl.Expr]) -> pl.Expr:
    """`rewrite_text`, leaving alone every whole-word occurrence of a token of the row's
    `own_names` values (the subject's own name in a GDPR package): each is hidden before
    the rule runs and restored after it. A token inside a longer word is not the name
    ("Al" in "Alice"): that word stays visible to the rule. A value that already holds
    one of the control characters used here keeps nothing (over-redaction is the safe
    failure)."""
    tokens = [
        name.str.split(" ").list.get(i, null_on_oob=True)
        for name in own_names
        for i in range(_OWN_TOKENS)
    ]
    hidden = text
    for token in tokens:
        hidden = _hidden_words(hidden, token)
    hidden = pl.when(text.str.contains(_MARKERS)).then(text).otherwise(hidden)
    redacted = rewrite_text(hidden, rule)
    for token in reversed(tokens):
        redacted = _replaced(redacted, _hidden(token), token)
    return redacted


#: Around a hidden token while it is checked for being a whole word.
_WORD_OPEN: Final = "\x04"
_WORD_CLOSE: Final = "\x05"
_MARKERS: Final = f"[{_HIDDEN}{_WORD_OPEN}{_WORD_CLOSE}]"
#: A hidden token with a word character (or a hidden one's ETX) right before or after it
#: is part of a longer word: unhidden again.
_WORD_CHAR: Final = f"[\\w{_HIDDEN}]"
_PART_AFTER: Final = f"(?s)({_WORD_CHAR}){_WORD_OPEN}(.){_HIDDEN}([^{_WORD_CLOSE}]*){_WORD_CLOSE}"
_PART_BEFORE: Final = f"(?s){_WORD_OPEN}(.){_HIDDEN}([^{_WORD_CLOSE}]*){_WORD_CLOSE}({_WORD_CHAR})"


def _hidden_words(text: pl.Expr, token: pl.Expr) -> pl.Expr:
    """`text` with the whole-word occurrences of `token` hidden (`_hidden`). Polars has no
    per-row pattern: every occurrence is hidden and marked, then those inside a longer word
    are unhidden by fixed patterns, and the marks removed."""
    marked = _replaced(
        text,
        token,
        pl.concat_str(pl.lit(_WORD_OPEN), _hidden(token), pl.lit(_WORD_CLOSE)),
    )
    marked = marked.str.replace_all(_PART_AFTER, "${1}${2}${3}")
    marked = marked.str.replace_all(_PART_BEFORE, "${1}${2}${3}")
    return marked.str.replace_all(f"[{_WORD_OPEN}{_WORD_CLOSE}]", "")


def _hidden(token: pl.Expr) -> pl.Expr:
    return pl.concat_str(token.str.slice(0, 1), pl.lit(_HIDDEN), token.str.slice(1))


def _replaced(text: pl.Expr, old: pl.Expr, new: pl.Expr) -> pl.Expr:
    """Every `old` in `text` (per row, literally) as `new`; tokens of one letter or none
    are left (they are initials, and hiding them would hide every capital)."""
    usable = old.str.len_chars() >= 2
    return pl.when(usable.fill_null(False)).then(text.str.split(old).list.join(new)).otherwise(text)


def without_last_group(rule: PatternRule) -> tuple[PatternRule, ...]:
    """For cards: the rule again with the digit groups after the candidate as context,
    for steps over what the first left (a candidate that failed as a whole). First with
    a greedy value, which gives back only the last group ("6011 0000 0000 0000 019 123":
    a 19-digit card, then one group), then with a lazy one, which ends at the first group
    boundary where a card can end ("4111 1111 1111 1111 123 456": the card, then two
    groups). Each step sees only what the one before it left."""
    entity = _own_entity(rule)
    if rule.validator not in _GROUP_RETRY or entity is None:
        return ()
    context = rf"{_LAST_GROUPS_CONTEXT}(?:{entity.trail})"
    return tuple(
        replace(rule, regex=compose(entity.lead, value, context).replace(r"\b", r"(?-u:\b)"))
        for value in (entity.value, f"{entity.value}?")
    )


def _card_after_groups(value: pl.Expr) -> pl.Expr:
    """The card laid out after short digit groups in a card candidate's value
    (`_CARD_AFTER_GROUPS`), or null. A regex over candidates only, never whole texts."""
    parts = value.str.extract_groups(_CARD_AFTER_GROUPS)
    return pl.coalesce(parts.struct.field("contiguous"), parts.struct.field("grouped"))


def _after_groups(rule: PatternRule) -> bool:
    """Whether the rule's failing candidates are tried without their first digit groups:
    the card entity's own pattern only. The steps with the last groups as context
    (`without_last_group`) are not: a card between groups ("1 4111 1111 1111 1111 1111")
    is the middle of a longer number."""
    return rule.validator in _GROUP_RETRY and _own_entity(rule) is not None


def _passes_after_groups(value: pl.Expr, rule: PatternRule) -> pl.Expr:
    """Whether a card candidate's value holds a valid card after short digit groups
    (for values that fail as a whole)."""
    return _valid_where_present(_card_after_groups(value), rule)


def _valid_where_present(value: pl.Expr, rule: PatternRule) -> pl.Expr:
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


def may_rewrite(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """Per value: whether a validated entity's rule may change it, i.e. whether any
    candidate passes its validator: matches are few, so extracting and checking them
    costs a fraction of the fenced rewrite, which then runs only where it changes
    something (most digit runs in text are order ids, dates and tracking numbers)."""
    joined = with_joiners(text, _joined_separators(rule))
    regex = rule.regex
    if _is_phone_rule(rule):
        # Numbers side by side parted (phone_bounds.py): a dotted boundary is a candidate
        # that passes, so that the rewrite, which parts them all, runs.
        joined = joined.map_batches(with_signed_bounds, return_dtype=pl.String, is_elementwise=True)
        regex = with_dotted_bounds(regex)
    matches = joined.str.extract_all(regex)
    unusual = text.str.contains(f"[{_OPEN}{_CLOSE}{_JOINER}]")
    valid = partial(_any_valid, rule=rule)
    found = matches.map_batches(valid, return_dtype=pl.Boolean, is_elementwise=True)
    if rule.label in _JOIN_AFTER_CANDIDATES and _second_round(rule):
        # The values the second round finds after a look-alike: looked for only where
        # every candidate failed (other rows give it "": when/then computes both).
        only_look_alikes = ~found & (matches.list.len() > 0)
        rest = pl.when(only_look_alikes).then(joined).otherwise(pl.lit(""))
        after = _joined_after_candidates(rest, rule).str.extract_all(rule.regex)
        found = found | after.map_batches(valid, return_dtype=pl.Boolean, is_elementwise=True)
    return found | unusual


def _any_valid(matches: pl.Series, rule: PatternRule) -> pl.Series:
    def work(frame: pl.LazyFrame) -> pl.LazyFrame:
        # Each distinct candidate is checked once: in text the same look-alikes recur
        # (dates, amounts), so a batch's phone candidates are about a third distinct.
        value = _candidate_value(pl.col(ELEMENT), rule)
        # A match whose value cannot be re-read alone is kept as a candidate: the
        # rewrite decides it.
        valid = VALIDATORS[rule.validator](pl.col("value")).fill_null(False)
        if _after_groups(rule):
            valid = valid | _passes_after_groups(pl.col("value"), rule)
        distinct = frame.unique(ELEMENT).with_columns(value.alias("value"))
        if _is_phone_rule(rule):
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
    For phones, the trimmed match (see `phone_values`): the value, or the value after a
    "(" lead, which reads as a phone whenever the value does (the validator counts
    digits, accepts a "(", and rules a layout out only from the first digit on); the
    rewrite checks the exact value."""
    if _is_phone_rule(rule):
        return _trimmed_phone(match)
    return match.str.extract_groups(rule.regex).struct.field("sl_value")


def _is_phone_rule(rule: PatternRule) -> bool:
    return rule.validator == "phone" and rule.regex == ENTITY_BY_NAME["PHONE"].regex


def phone_values(matches: pl.Series) -> pl.Series:
    """The values (`sl_value`) of whole matches of the PHONE pattern, read by trimming
    them (a fourth of the cost of re-reading the groups with the whole pattern). The
    trail holds no digit and the value ends with one; the lead is empty, one character
    that is neither a word character nor "+", or a few stars after at most one
    character, and the value starts with a digit, "+" or "(". So the trimmed match is
    the value, or the value after a "(" lead: a value starts with "(" only as an area
    code, "(" and 1-4 digits and ")", which a "(" lead before a value never is (a value
    starting with a digit holds no ")", one starting with "(" or "+" gives "((" or
    "(+")."""
    trimmed = matches.to_frame(ELEMENT).select(_trimmed_phone(pl.col(ELEMENT))).to_series()
    # Few start with "(": only those are looked at (a replace over all of them cost
    # half as much as the trimming).
    paren = trimmed.str.starts_with("(").fill_null(False)
    if not paren.any():
        return trimmed
    # `trimmed` is this function's own: `scatter` may write into it.
    return trimmed.scatter(
        row_positions(paren), trimmed.filter(paren).str.replace(_PAREN_LEAD, "$1")
    )


def _trimmed_phone(match: pl.Expr) -> pl.Expr:
    # A star lead may follow any one character, a digit too ("9*+44 ..."): it goes
    # first, so that digit is not taken for the value's.
    unstarred = match.str.replace(r"^[^*]?\*{1,3}", "")
    # The lead's and the trail's characters in one pass: the first alternative can
    # only match at the start, the second only on the run of non-digits that ends
    # the text, so this is stripping one and then the other.
    return unstarred.str.replace_all(r"^[^0-9+(]+|[^0-9]+$", "")


#: A "(" followed by something other than 1-4 digits and ")" (a lead, not an area
#: code): replaced by what follows it.
_PAREN_LEAD: Final = r"^\(($|[^0-9]|[0-9]{1,4}(?:[^0-9)]|$)|[0-9]{5})"


def rewrites_in_one_pass(rule: PatternRule) -> bool:
    """Whether `rewrite_checked` stands in for `may_rewrite` and `rewrite_text`: the
    phone entity's own pattern, replaced by its tag (the values of its candidates can
    be read from whole matches, see `phone_values`)."""
    return _is_phone_rule(rule) and rule.action == "redact" and "$" not in tag(rule.label)


def rewrite_checked(
    text: pl.Expr, rule: PatternRule, verdicts: PhoneVerdicts | None = None
) -> pl.Expr:
    """`rewrite_text` for a rule `rewrites_in_one_pass` accepts, meant for all rows its
    gate picked (no `may_rewrite` before it). The candidates are extracted and checked
    once, as `may_rewrite` does, and that check also tells the rows whose candidates all
    pass (on the text-heavy set, 83% of the rows with a phone number): those are
    rewritten by one replace of every candidate by lead, tag and trail, which is what
    the fenced rewrite makes of them for half its cost. Rows with candidates passing and
    failing are spliced with the verdicts already reached (`_spliced`); rows holding a
    control character, and mixed rows whose pieces do not line up with their candidates
    (never expected), take the fenced rewrite. `verdicts` (from `phone_verdicts`) carries
    the candidates' verdicts (and the failing runs') from batch to batch of an export;
    without it, each call starts a memory of its own, so nothing is carried from one
    call to the next."""
    checked = phone_verdicts() if verdicts is None else verdicts
    return text.map_batches(
        partial(_rewritten_checked, rule=rule, verdicts=checked),
        return_dtype=pl.String,
        is_elementwise=True,
    )


@dataclass(frozen=True)
class PhoneVerdicts:
    """What `rewrite_checked` found of its candidates, remembered across an export's
    batches (verdicts.py: each memory bounded, a candidate longer than a phone checked
    every time)."""

    #: Whether a candidate passes the phone check.
    candidates: CandidateVerdicts
    #: Whether a failing candidate of 16 digits or more holds phone numbers once split:
    #: the split runs in Python (phone_runs.py), and the same runs recur.
    runs: CandidateVerdicts


def phone_verdicts() -> PhoneVerdicts:
    """A memory of phone candidates' verdicts for `rewrite_checked`, one per export."""
    return PhoneVerdicts(CandidateVerdicts(_phones_passing), CandidateVerdicts(_holds_phones))


def _rewritten_checked(values: pl.Series, rule: PatternRule, verdicts: PhoneVerdicts) -> pl.Series:
    joined, unusual = _joined_and_unusual(values)
    matches = joined.str.extract_all(with_dotted_bounds(rule.regex)).to_arrow()
    if isinstance(matches, pa.ChunkedArray):
        matches = matches.combine_chunks()
    candidates = pl.Series(ELEMENT, pc.list_flatten(matches))
    rows = pl.Series(pc.list_parent_indices(matches))
    counts = pl.Series(pc.list_value_length(matches))
    valid = verdicts.candidates.passing(candidates)
    some_valid = _rows_among(rows.filter(valid), len(values))
    some_invalid = _rows_among(rows.filter(~valid), len(values))
    # Rows with phone numbers inside a failing run take the fenced rewrite, which splits
    # the run (phone_runs.py): few rows, found among the failing candidates only.
    runs = _rows_among(_rows_with_phone_runs(candidates, rows, valid, verdicts.runs), len(values))
    # And so do rows with numbers side by side the pattern does not part (phone_runs.py),
    # and only those hold a candidate that is a dotted boundary.
    runs = runs | _rows_among(rows_at_bounds(candidates, rows, values), len(values))
    one_pass = some_valid & ~some_invalid & ~unusual & ~runs
    mixed = some_valid & some_invalid & ~unusual & ~runs
    fenced = unusual | runs
    if not one_pass.any() and not mixed.any() and not fenced.any():
        return values
    # `scatter` writes in place: into a copy, never the caller's values.
    out = values.clone()
    if one_pass.any():
        tagged = joined.filter(one_pass).str.replace_all(
            rule.regex, f"{_LEAD}{tag(rule.label)}{_TRAIL}"
        )
        unjoined = tagged.str.replace_all(_JOINER, "", literal=True)
        out = out.scatter(row_positions(one_pass), unjoined)
    if mixed.any():
        verdicts_in_mixed = valid.filter(mixed.gather(rows))
        spliced = _spliced(joined.filter(mixed), verdicts_in_mixed, counts.filter(mixed), rule)
        if spliced is None:  # never expected: the rows take the fenced rewrite
            fenced = fenced | mixed
        else:
            out = out.scatter(row_positions(mixed), spliced)
    if fenced.any():
        chosen = values.filter(fenced).to_frame(ELEMENT)
        rewritten = chosen.select(rewrite_text(pl.col(ELEMENT), rule)).to_series()
        out = out.scatter(row_positions(fenced), rewritten)
    return out


def _spliced(
    joined: pl.Series, valid: pl.Series, counts: pl.Series, rule: PatternRule
) -> pl.Series | None:
    """Rows whose candidates pass and fail (with joiners, no control character of ours)
    rewritten as the fenced rewrite does, with the verdicts already reached: every
    candidate fenced, the text split before each, and the piece of each passing one
    starting with the tag. The fence finds the same matches in the same order as the
    extraction (the same pattern over the same text), so piece i + 1 of a row is its
    candidate i, and `valid` (per candidate, in row order) is each piece's verdict; the
    fenced rewrite's check of each value gave the same (the value is what `phone_values`
    reads), for ~3x the cost. `counts` is each row's number of candidates. None if the
    pieces and verdicts do not line up in every row (a row with one piece too many and
    another with one too few would shift verdicts from one row to the other)."""
    fenced = joined.str.replace_all(rule.regex, f"{_LEAD}{_OPEN}{_VALUE}{_CLOSE}{_TRAIL}")
    pieces = fenced.str.split(_OPEN).to_arrow()
    if isinstance(pieces, pa.ChunkedArray):
        pieces = pieces.combine_chunks()
    flat = pl.Series(ELEMENT, pc.list_flatten(pieces))
    lengths = pl.Series(pc.list_value_length(pieces)).cast(pl.Int64)
    # Row by row, not in total: the verdicts are handed out in row order.
    lined_up = len(counts) == len(joined) and (lengths - 1 == counts.cast(pl.Int64)).all()
    if pieces.null_count or not lined_up or len(flat) - len(joined) != len(valid):
        return None
    # From the lengths, not the offsets buffer (a sliced array's offsets do not start at 0).
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), lengths.cum_sum()])
    first = offsets.slice(0, len(joined))
    opening = pl.repeat(False, len(flat), eager=True).scatter(first, True)
    verdict = pl.repeat(False, len(flat), eager=True)
    verdict = verdict.scatter(row_positions(~opening).filter(valid), True)
    piece = pl.col(ELEMENT)
    rest = piece.str.splitn(_CLOSE, 2).struct.field("field_1")
    rebuilt = (
        pl.when(pl.lit(verdict))
        .then(pl.concat_str(pl.lit(tag(rule.label)), rest))
        .otherwise(piece.str.replace(_CLOSE, "", literal=True))
    )
    result = flat.to_frame().select(rebuilt).to_series().to_arrow()
    lists = pa.LargeListArray.from_arrays(pa.array(offsets.to_arrow()), result)
    texts = pl.Series(ELEMENT, lists).list.join("")
    return texts.str.replace_all(_JOINER, "", literal=True)


def _joined_and_unusual(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`_with_joiners(values)`, and which values hold a control character used here, from
    one scan for either: few rows hold one, and the two scans apart cost ~40% more (the
    control characters' is as dear as any scan, for what it reads)."""
    markers = f"[{_OPEN}{_CLOSE}{_JOINER}]"
    either = values.str.contains(f"{_JOINED}|{markers}").fill_null(False)
    unusual = pl.repeat(False, len(values), eager=True)
    if not either.any():
        return values, unusual
    where = row_positions(either)
    few = values.filter(either)
    marked = few.str.contains(markers)
    if marked.any():
        unusual = unusual.scatter(where.filter(marked), True)
    needs = few.str.contains(_JOINED)
    if not needs.any():
        return values, unusual
    joined = few.filter(needs).str.replace_all(_JOINED, f"$1{_JOINER}$2")
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where.filter(needs), joined), unusual


_RUN_BYTES_MIN: Final = 17
_SPACED: Final = r"[0-9]\s[0-9+(]"


def _rows_with_phone_runs(
    candidates: pl.Series, rows: pl.Series, valid: pl.Series, runs: CandidateVerdicts
) -> pl.Series:
    """The rows (of `rows`, one per candidate) with a failing candidate that holds phone
    numbers once split at its whitespace (`runs` remembers which do)."""
    # Lengths first (no scan, no copy): 16 digits and a space at least. Most failing
    # candidates are short (dates, amounts).
    long = (candidates.str.len_bytes() >= _RUN_BYTES_MIN) & ~valid
    if not long.any():
        return rows.clear()
    return rows.filter(long).filter(runs.passing(candidates.filter(long)))


def _holds_phones(distinct: pl.Series) -> pl.Series:
    """Per distinct failing candidate of 16 digits or more: whether it holds phone
    numbers once split at its whitespace. Those without a space between digits are
    left out first: most are ids of one word."""
    spaced = distinct.str.contains(_SPACED).fill_null(False)
    held = pl.repeat(False, len(distinct), eager=True)
    if not spaced.any():
        return held
    holds = holds_phones(phone_values(distinct.filter(spaced)))
    # `held` is this function's own: `scatter` may write into it.
    return held.scatter(spaced.arg_true(), holds)


def _phones_passing(distinct: pl.Series) -> pl.Series:
    """Per distinct candidate (a whole match): whether its value passes the phone check."""
    values = phone_values(distinct).to_frame("value")
    return values.select(VALIDATORS["phone"](pl.col("value")).fill_null(False)).to_series()


def _rows_among(rows: pl.Series, height: int) -> pl.Series:
    """A mask of `height` rows, set at the (repeated) row numbers `rows`."""
    mask = pl.repeat(False, height, eager=True)
    return mask.scatter(rows, True) if len(rows) else mask


def _tag_replacement(rule: PatternRule) -> str:
    """What a validator-less rule writes for a match. An entity without lead or trail
    (e-mails, tokens, keys) is written as its tag alone: a replacement without `$`
    group references lets the regex engine find matches without resolving groups,
    which halves the cost of the pass (the groups are empty anyway)."""
    entity = _own_entity(rule)
    label = tag(rule.label)
    if entity is not None and not entity.lead and not entity.trail and "$" not in label:
        return label
    return f"{_LEAD}{label}{_TRAIL}"


#: The text after a quoted secret's tag up to the closing quote of the same kind (and
#: escape), per quote: Rust's regex has no back-reference to find that closing quote.
_QUOTED_REST: Final = tuple(
    rf"(\\?{quote}{re.escape(tag('SECRET_VALUE'))})[^{quote}\n\\]*(\\?{quote})"
    for quote in ('"', "'")
)


def _whole_quoted_secret(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` after the keyword entity's rewrite, with the rest of each quoted secret
    holding spaces gone (`password="correct horse battery"`): the pattern takes its first
    word only, as an unquoted value ends at a space. A tag right after a quote stands for
    a value that was quoted; the rows this runs on are those the keyword gate picked."""
    if rule.label != "SECRET_VALUE" or _own_entity(rule) is None:
        return text
    for pattern in _QUOTED_REST:
        text = text.str.replace_all(pattern, "${1}${2}")
    return text


def _escaped_at_emails(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` after the EMAIL entity's rewrite, with the addresses whose "@" a URL
    escaped (`?email=ann%40example.com`) redacted too (see EMAIL_ESCAPED_AT)."""
    if rule.label != "EMAIL" or _own_entity(rule) is None:
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


def _rewrite_candidates(
    text: pl.Expr, rule: PatternRule, *, join_after_candidates: bool = False
) -> pl.Expr:
    if not rule.validator and rule.action == "redact":
        rewritten = text.str.replace_all(rule.regex, _tag_replacement(rule))
        return _escaped_at_emails(_whole_quoted_secret(rewritten, rule), rule)
    if not rule.validator and rule.action == "null":
        # Only a value holding a match becomes null: a rewrite may run on values
        # without one (a struct's other fields, a list's other elements, values its
        # gate picked that the pattern does not match).
        return pl.when(text.str.contains(rule.regex)).then(None).otherwise(text)
    fallback = text.str.contains(f"[{_OPEN}{_CLOSE}{_JOINER}]")
    # Only rows holding a control character use it: the others give it "" (when/then
    # computes both branches over every row).
    unconditional = (
        pl.when(fallback)
        .then(text)
        .otherwise(pl.lit(""))
        .str.replace_all(rule.regex, f"{_LEAD}{tag(rule.label)}{_TRAIL}")
    )
    # Validated entities are ids, cards and numbers: those are what people list as
    # "A,B" (a validator-less pattern such as coordinates may hold the comma itself).
    joined_values = bool(rule.validator)
    source = with_joiners(text, _joined_separators(rule)) if joined_values else text
    if _is_phone_rule(rule):
        source = source.map_batches(
            partial(_bounded_and_split, regex=rule.regex),
            return_dtype=pl.String,
            is_elementwise=True,
        )
    if join_after_candidates:
        source = _joined_after_candidates(source, rule)
    # "a<OPEN>match<CLOSE>b<OPEN>match<CLOSE>c" split on OPEN: every piece but the first
    # is "match<CLOSE>rest". The pieces of all rows are handled at once, as flat values
    # (see flat_lists.py: inside `list.eval`, every use of `match` re-ran the split).
    fenced = source.str.replace_all(rule.regex, f"{_LEAD}{_OPEN}{_VALUE}{_CLOSE}{_TRAIL}")
    pieces = fenced.str.split(_OPEN)
    if rule.action == "null":
        hit = pieces.map_batches(
            partial(any_element, work=partial(_matched_pieces, rule=rule)),
            return_dtype=pl.Boolean,
            is_elementwise=True,
        )
        return pl.when(fallback | hit).then(None).otherwise(text)
    joined = pieces.map_batches(
        partial(map_elements, work=partial(_rebuilt_pieces, rule=rule)),
        return_dtype=pl.List(pl.String),
        is_elementwise=True,
    ).list.join("")
    if joined_values:
        joined = joined.str.replace_all(_JOINER, "", literal=True)
    return pl.when(fallback).then(unconditional).otherwise(joined)


def _bounded_and_split(values: pl.Series, regex: str) -> pl.Series:
    """Phone numbers side by side parted: where the pattern does not part them
    (phone_bounds.py), then inside failing runs (phone_runs.py)."""
    return split_runs(with_bounds(values, regex), regex)


def _matched_pieces(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    """Pieces as `match`, `rest` and whether the piece holds a (valid) match."""
    halves = pl.col(ELEMENT).str.splitn(_CLOSE, 2)
    frame = frame.with_columns(
        halves.struct.field("field_0").alias("match"), halves.struct.field("field_1").alias("rest")
    )
    is_match = pl.col("rest").is_not_null()
    if rule.validator:
        # Validators see only the matches: plain-text pieces become "" (a null would
        # still cost a string kernel its bytes).
        candidate = pl.when(is_match).then(pl.col("match")).otherwise(pl.lit(""))
        frame = frame.with_columns(candidate.alias("candidate"))
        is_match = (is_match & VALIDATORS[rule.validator](pl.col("candidate"))).fill_null(False)
    frame = frame.with_columns(is_match.alias(RESULT))
    return _with_card_after_groups(frame, rule) if _after_groups(rule) else frame


#: The column of `_matched_pieces` holding a card found after short digit groups.
_AFTER_GROUPS_COLUMN: Final = "after_groups"
_PASSES_AFTER_GROUPS_COLUMN: Final = "passes_after_groups"


def _with_card_after_groups(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    """`_matched_pieces` with the card after short digit groups (`_CARD_AFTER_GROUPS`) in
    the matches that fail as a whole, where it passes (else null), as passing pieces.
    Each step a column of its own: an expression used twice is computed twice."""
    failing = pl.when(pl.col("rest").is_not_null() & ~pl.col(RESULT)).then(pl.col("candidate"))
    frame = frame.with_columns(_card_after_groups(failing).alias(_AFTER_GROUPS_COLUMN))
    passes = _valid_where_present(pl.col(_AFTER_GROUPS_COLUMN), rule)
    frame = frame.with_columns(passes.alias(_PASSES_AFTER_GROUPS_COLUMN))
    passing = pl.col(_PASSES_AFTER_GROUPS_COLUMN)
    after = pl.when(passing).then(pl.col(_AFTER_GROUPS_COLUMN))
    return frame.with_columns(
        after.alias(_AFTER_GROUPS_COLUMN), (pl.col(RESULT) | passing).alias(RESULT)
    )


def _rebuilt_pieces(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    frame = _matched_pieces(frame, rule)
    match, rest = pl.col("match"), pl.col("rest")
    replaced = match if rule.action == "keep" else _replacement(match, rule)
    if _after_groups(rule) and rule.action != "keep":
        # Only the card is replaced; the groups before it are written back.
        card = pl.col(_AFTER_GROUPS_COLUMN)
        in_part = pl.concat_str(match.str.strip_suffix(card), _replacement(card, rule))
        replaced = pl.when(card.is_not_null()).then(in_part).otherwise(replaced)
    rebuilt = (
        pl.when(pl.col(RESULT))
        .then(pl.concat_str(replaced, rest))
        .when(rest.is_not_null())
        .then(pl.concat_str(match, rest))
        .otherwise(pl.col(ELEMENT))
    )
    return frame.with_columns(rebuilt.alias(RESULT))


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
