"""The rewrite of a rule's candidates one by one (validated entities, and any rule whose
action writes something per match: a mask or a pseudonym).

Polars cannot replace per-row lists of strings, so each match is fenced with a separator
that cannot occur in text (NUL before, SOH after), the text is split on them, the pieces
of all values are validated and replaced as one flat column (flat_lists.py; inside
`list.eval`, each use of a piece re-ran the split), and joined again: still column-wise,
no Python per row. A value that already holds one of the control characters used here
falls back to replacing every candidate: over-redaction is the safe failure.
"""

from __future__ import annotations

from dataclasses import replace as replaced_rule
from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import (
    TEXT_PSEUDONYM_HEX,
    hmac_sha256_hex,
    mask,
    mask_shown,
    tag,
)
from sluice.server.pipeline.redaction.card_groups import (
    AFTER_CARD_COLUMN,
    AFTER_GROUPS_COLUMN,
    BEFORE_CARD_COLUMN,
    after_groups,
    with_card_after_groups,
)
from sluice.server.pipeline.redaction.flat_lists import (
    ELEMENT,
    RESULT,
    any_element,
    map_elements,
)
from sluice.server.pipeline.redaction.phone_bounds import with_bounds
from sluice.server.pipeline.redaction.phone_runs import split_runs
from sluice.server.pipeline.redaction.phone_values import glued_word_values, is_phone_rule
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.pseudonyms import (
    SEAL_IN_MATCH,
    sealed_mask,
    sealed_pseudonym,
)
from sluice.server.pipeline.redaction.text_markers import (
    CLOSE,
    JOINER,
    LEAD,
    OPEN,
    TRAIL,
    VALUE,
    joined_after_candidates,
    joined_separators,
    with_joiners,
)
from sluice.server.pipeline.redaction.validators import VALIDATORS


def replacement(match: pl.Expr, rule: PatternRule) -> pl.Expr:
    if rule.action == "mask":
        masked = mask(match, rule.keep_last)
        return sealed_mask(masked) if rule.sealed else masked
    if rule.action == "hash":
        assert rule.key is not None
        digest = hmac_sha256_hex(match, rule.key).str.head(TEXT_PSEUDONYM_HEX)
        if rule.sealed:
            return sealed_pseudonym(rule.label, digest)
        return pl.concat_str(pl.lit(f"[{rule.label}:"), digest, pl.lit("]"))
    return pl.lit(tag(rule.label))


def rewrite_fenced(
    text: pl.Expr, rule: PatternRule, *, join_after_candidates: bool = False
) -> pl.Expr:
    """`text` with each (valid) candidate of the rule handled by its action, one by one."""
    quote = rule.entity.written_quoted if rule.entity is not None else ""
    fallback = text.str.contains(f"[{OPEN}{CLOSE}{JOINER}]")
    # Only rows holding a control character use it: the others give it "" (when/then
    # computes both branches over every row).
    unconditional = (
        pl.when(fallback)
        .then(text)
        .otherwise(pl.lit(""))
        .str.replace_all(rule.regex, f"{LEAD}{quote}{tag(rule.label)}{quote}{TRAIL}")
    )
    # Validated entities are ids, cards and numbers: those are what people list as
    # "A,B" (a validator-less pattern such as coordinates may hold the comma itself).
    joined_values = bool(rule.validator)
    source = with_joiners(text, *joined_separators(rule)) if joined_values else text
    if is_phone_rule(rule):
        source = source.map_batches(
            partial(_bounded_and_split, regex=rule.regex),
            return_dtype=pl.String,
            is_elementwise=True,
        )
    if join_after_candidates:
        source = joined_after_candidates(source, rule)
    # "a<OPEN>match<CLOSE>b<OPEN>match<CLOSE>c" split on OPEN: every piece but the first
    # is "match<CLOSE>rest". The pieces of all rows are handled at once, as flat values
    # (see flat_lists.py: inside `list.eval`, every use of `match` re-ran the split).
    fenced = source.str.replace_all(rule.regex, f"{LEAD}{OPEN}{VALUE}{CLOSE}{TRAIL}")
    pieces = fenced.str.split(OPEN)
    if rule.action == "null":
        hit = pieces.map_batches(
            partial(any_element, work=partial(_matched_pieces, rule=rule)),
            return_dtype=pl.Boolean,
            is_elementwise=True,
        )
        if is_phone_rule(rule):
            assert rule.entity is not None
            # Its gate picks every value holding a control character (phone_gate.py):
            # nulled only where its value pattern matches, as when that was the gate.
            nulled = pl.when(fallback).then(text.str.contains(rule.entity.value)).otherwise(hit)
        else:
            nulled = fallback | hit
        return pl.when(nulled).then(None).otherwise(text)
    joined = pieces.map_batches(
        partial(map_elements, work=partial(_rebuilt_pieces, rule=rule)),
        return_dtype=pl.List(pl.String),
        is_elementwise=True,
    ).list.join("")
    if joined_values:
        joined = joined.str.replace_all(JOINER, "", literal=True)
    return pl.when(fallback).then(unconditional).otherwise(joined)


def _bounded_and_split(values: pl.Series, regex: str) -> pl.Series:
    """Phone numbers side by side parted: where the pattern does not part them
    (phone_bounds.py), then inside failing runs (phone_runs.py)."""
    return split_runs(with_bounds(values, regex), regex)


def _matched_pieces(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    """Pieces as `match`, `rest` and whether the piece holds a (valid) match."""
    halves = pl.col(ELEMENT).str.splitn(CLOSE, 2)
    frame = frame.with_columns(
        halves.struct.field("field_0").alias("match"), halves.struct.field("field_1").alias("rest")
    )
    if is_phone_rule(rule):
        assert rule.entity is not None
        frame = _phone_value_read(frame, rule.entity.value)
    is_match = pl.col("rest").is_not_null()
    if rule.validator:
        # Validators see only the matches: plain-text pieces become "" (a null would
        # still cost a string kernel its bytes).
        candidate = pl.when(is_match).then(pl.col("match")).otherwise(pl.lit(""))
        frame = frame.with_columns(candidate.alias("candidate"))
        # Each distinct candidate checked once (a validator is a function of the value
        # alone), the verdicts joined back: every plain-text piece is the one "", and
        # text repeats its look-alikes. The IBAN check, a score of string kernels, cost
        # 0.066 CPU s on the 10,318 candidates of 2 batches of strict's IBAN rows of the
        # text-heavy set (3,744 distinct), for ~21k pieces per round. Where nearly every
        # candidate is distinct the hash and join are overhead instead (a review's
        # worst case, 4 values of ~38,000 distinct IBANs each: +14% CPU at strict).
        verdicts = (
            frame.select("candidate")
            .unique()
            .with_columns(VALIDATORS[rule.validator](pl.col("candidate")).alias(_VALID))
        )
        frame = frame.join(verdicts, on="candidate", how="left", maintain_order="left")
        is_match = (is_match & pl.col(_VALID)).fill_null(False)
        frame = frame.with_columns(is_match.alias(RESULT)).drop(_VALID)
    else:
        frame = frame.with_columns(is_match.alias(RESULT))
    return with_card_after_groups(frame, rule) if after_groups(rule) else frame


#: A distinct candidate's verdict, joined back onto its pieces (`_matched_pieces`).
_VALID: Final = "__sluice_valid"
#: Digits after a space and before a letter: first in a match's trail (a word led by
#: digits, entities._END), or last in its value before a trail led by a letter.
_DIGITS_BEFORE_LETTER: Final = r"^(\s+[0-9]+)([^\W\d])"
_DIGITS_AT_END: Final = r"\s[0-9]+$"
_LETTER_FIRST: Final = r"^[^\W\d]"


def _phone_value_read(frame: pl.LazyFrame, value_pattern: str) -> pl.LazyFrame:
    """A phone match's value as `phone_values` reads it in the one-pass rewrite where
    digits after a space are glued to a letter (phone_values.glued_word_values): the
    pattern's value or its trail may hold them, whichever its greedy value reached
    ("555-123-4567 2ème": "2" in the value; "+44 20 7946 0958e": " 0958e" the trail).
    `match` and `rest` are moved at the value's end; together they hold what they held."""
    match, rest = pl.col("match"), pl.col("rest")
    after = rest.str.extract(_DIGITS_BEFORE_LETTER, 1)
    inside = rest.str.contains(_LETTER_FIRST) & match.str.contains(_DIGITS_AT_END)
    worded = after.is_not_null() | inside
    # The letter glued to the digits ("_" is none: phone_values.glued_word_values).
    glued = pl.when(after.is_not_null()).then(rest.str.extract(_DIGITS_BEFORE_LETTER, 2))
    letter = glued.otherwise(rest.str.head(1)) != "_"
    number = pl.when(after.is_not_null()).then(pl.concat_str(match, after)).otherwise(match)
    read = partial(_read_glued, value_pattern=value_pattern)
    pair = pl.struct(pl.when(worded).then(number).alias("number"), letter.alias("letter"))
    # Only those pieces are read (a few, if any; null elsewhere).
    value = pair.map_batches(read, return_dtype=pl.String)
    frame = frame.with_columns(value.alias("value"), worded.fill_null(False).alias("worded"))
    value, worded = pl.col("value"), pl.col("worded")
    # What the match and the rest held, after the value.
    rest_after = pl.concat_str(match, rest).str.slice(value.str.len_chars())
    return frame.with_columns(
        pl.when(worded).then(value).otherwise(match).alias("match"),
        pl.when(worded).then(rest_after).otherwise(rest).alias("rest"),
    ).drop("value", "worded")


def _read_glued(pairs: pl.Series, value_pattern: str) -> pl.Series:
    numbers = pairs.struct.field("number")
    return glued_word_values(numbers, pairs.struct.field("letter"), value_pattern)


def _rebuilt_pieces(frame: pl.LazyFrame, rule: PatternRule) -> pl.LazyFrame:
    frame = _matched_pieces(frame, rule)
    match, rest = pl.col("match"), pl.col("rest")
    if rule.entity is not None and rule.entity.written_quoted and rule.action == "mask":
        # A JSON object or array (or a Python tuple) taken whole ends in its last
        # item's characters (the nested secret's: `{"v": "hunter2"}` kept `r2"}`), and a
        # number as short as the characters kept would be kept whole: both are masked
        # entirely.
        whole = (
            match.str.starts_with("{")
            | match.str.starts_with("[")
            | match.str.starts_with("(")
            | (match.str.len_chars() <= rule.keep_last)
        )
        match = pl.when(whole).then(match.str.replace_all(r"(?s).", "*")).otherwise(match)
    if rule.action == "mask" and rule.keep_last > 0 and not after_groups(rule):
        # Inside a JSON string (or one escaped in a string) the kept last characters may
        # start inside an escape: its backslash became "*" and a bare quote or backslash
        # was left (`sid=\"xyz` kept `"xyz`), which ends the string or escapes what
        # follows, or the tail kept the hex digits of `\u00e9` (`e9`: part of a secret's
        # character, and `*0e9` no escape). A tail right after a backslash, or after a
        # backslash, "u" and fewer than 4 hex digits (the last backslash of `\\u00`
        # too, a `\u00e9` escaped again), is masked with the rest. (A card's groups,
        # rewritten from the match below, hold no backslash.) So is a tail right after
        # the escape of a high surrogate (`\ud83d`): it starts at the low half of the
        # pair (`\ude00`), half a character, kept alone where the first was masked.
        shown = mask_shown(match, rule.keep_last)
        head = match.str.head(match.str.len_chars().cast(pl.Int64) - shown)
        split_escape = (shown > 0) & (
            head.str.ends_with("\\")
            | head.str.contains(r"\\u[0-9a-fA-F]{0,3}$|\\u[dD][89abAB][0-9a-fA-F]{2}$")
        )
        match = pl.when(split_escape).then(match.str.replace_all(r"(?s).", "*")).otherwise(match)
    if rule.action == "keep":
        replaced = match
    elif rule.after_seals:
        frame = frame.with_columns((pl.col(RESULT) & _outside_seals(match)).alias(RESULT))
        replaced = _around_seals(match, rule)
    else:
        replaced = replacement(match, rule)
    if after_groups(rule) and rule.action != "keep":
        # Only the card is replaced; the groups before it are written back, unless
        # they are a valid grouped card of their own (card_groups.BEFORE_CARD_COLUMN).
        # After an ISO date, groups after the card are written back too.
        card, after_card = pl.col(AFTER_GROUPS_COLUMN), pl.col(AFTER_CARD_COLUMN)
        groups = match.str.strip_suffix(pl.concat_str(card, after_card))
        before = pl.col(BEFORE_CARD_COLUMN)
        replaced_before = pl.concat_str(replacement(before, rule), groups.str.strip_prefix(before))
        groups = pl.when(before.is_not_null()).then(replaced_before).otherwise(groups)
        in_part = pl.concat_str(groups, replacement(card, rule), after_card)
        replaced = pl.when(card.is_not_null()).then(in_part).otherwise(replaced)
    if rule.entity is not None and rule.entity.written_quoted and rule.action != "keep":
        # Written as a JSON or Python string (Entity.written_quoted): a mask's kept last
        # characters may be the value's quotes or backslashes (`{"v": "x"}`), which
        # would end it.
        quote = pl.lit(rule.entity.written_quoted)
        replaced = pl.concat_str(quote, replaced.str.replace_all(r"[\"'\\]", "*"), quote)
    rebuilt = (
        pl.when(pl.col(RESULT))
        .then(pl.concat_str(replaced, rest))
        .when(rest.is_not_null())
        .then(pl.concat_str(pl.col("match"), rest))
        .otherwise(pl.col(ELEMENT))
    )
    return frame.with_columns(rebuilt.alias(RESULT))


def _outside_seals(match: pl.Expr) -> pl.Expr:
    """Whether a match holds anything besides earlier rules' seals."""
    return match.str.replace_all(SEAL_IN_MATCH, "").str.len_bytes() > 0


def _around_seals(match: pl.Expr, rule: PatternRule) -> pl.Expr:
    """What a rule after a sealed one writes for a match: every seal in it (an earlier
    rule's mask or pseudonym, `password=abc:ghp_…` with the token masked or hashed) as
    it is, and every non-empty part outside the seals (before, between and after them)
    replaced by the rule's action on its own. A mask keeps at most `keep_last`
    characters in all: those of the last such part; the parts before it are masked
    whole. Replacing the whole match cut a seal (its characters reached the output and
    its mask or pseudonym lost its end), and replacing only the part before the first
    seal left what follows the seal in clear (`password=pw:ghp_…:secret`). Seals are
    found by pattern on whole characters (SEAL_IN_MATCH): a match with none is one part,
    replaced as before. A match of seals alone is no match. (A validator-less redact
    rule never comes here: its tag replaces the whole match, seals with it, and no seal
    character is left.)"""
    parts = match.str.replace_all(SEAL_IN_MATCH, f"{OPEN}${{0}}{OPEN}").str.split(OPEN)
    # Split on the fences around each seal: the seals are the odd parts.
    part, index = pl.element(), pl.int_range(pl.len())
    outside = (index % 2 == 0) & (part.str.len_bytes() > 0)
    earlier = replaced_rule(rule, keep_last=0) if rule.action == "mask" else rule
    rewritten = (
        pl.when(~outside)
        .then(part)
        .when(index == index.filter(outside).max())
        .then(replacement(part, rule))
        .otherwise(replacement(part, earlier))
    )
    return parts.list.eval(rewritten).list.join("")
