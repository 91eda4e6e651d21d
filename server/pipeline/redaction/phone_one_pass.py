"""The PHONE entity's rule in one pass: its candidates extracted and checked once, the
rows with a passing one spliced with the verdicts reached, and only the rest through
the fenced rewrite."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.phone_bounds import (
    BREAK_OR_TAB,
    LINE_OR_SLASH,
    SLASH_BEFORE_NUMBER,
    SPACES_BEFORE_DIGIT,
    holds_glued_area_code,
    holds_lines_beyond_ascii,
    holds_slashed_chain,
    rows_at_bounds,
    with_dotted_bounds,
    with_line_bounds,
)
from sluice.server.pipeline.redaction.phone_runs import holds_phones
from sluice.server.pipeline.redaction.phone_values import is_phone_rule, phone_values
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.text import rewrite_layouts, rewrite_text
from sluice.server.pipeline.redaction.text_markers import (
    CLOSE,
    JOINED,
    JOINER,
    OPEN,
)
from sluice.server.pipeline.redaction.validators import VALIDATORS
from sluice.server.pipeline.redaction.verdicts import CandidateForms, CandidateVerdicts


def rewrites_in_one_pass(rule: PatternRule) -> bool:
    """Whether `rewrite_checked` stands in for `may_rewrite` and `rewrite_text`: the
    phone entity's own pattern, replaced by its tag (the values of its candidates can
    be read from whole matches, see `phone_values`)."""
    return is_phone_rule(rule) and rule.action == "redact" and "$" not in tag(rule.label)


def rewrite_checked(
    text: pl.Expr, rule: PatternRule, verdicts: PhoneVerdicts | None = None
) -> pl.Expr:
    """`rewrite_text` for a rule `rewrites_in_one_pass` accepts, meant for all rows its
    gate picked (no `may_rewrite` before it). The candidates are extracted and checked
    once, as `may_rewrite` does, and the rows with a passing candidate are spliced with
    the verdicts reached (`_spliced`), which is what the fenced rewrite makes of them for
    a fraction of its cost; rows holding a control character, and rows whose pieces do
    not line up with their candidates (never expected), take the fenced rewrite.
    `verdicts` (from `phone_verdicts`) carries the candidates' verdicts (and the failing
    runs') from batch to batch of an export; without it, each call starts a memory of its
    own, so nothing is carried from one call to the next.
    The entity's layouts run before it, as in `rewrite_text`."""
    checked = phone_verdicts() if verdicts is None else verdicts
    # The entity's layouts first (phone_other_forms.py), as `rewrite_text` runs them.
    return rewrite_layouts(text, rule).map_batches(
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
    #: Where a passing candidate's value is (`_value_places`): the same phones recur, and
    #: finding it cost a tenth of the rule's CPU.
    places: CandidateForms


def phone_verdicts() -> PhoneVerdicts:
    """A memory of phone candidates' verdicts for `rewrite_checked`, one per export."""
    return PhoneVerdicts(
        CandidateVerdicts(_phones_passing),
        CandidateVerdicts(_holds_phones),
        CandidateForms(_value_places),
    )


def _rewritten_checked(values: pl.Series, rule: PatternRule, verdicts: PhoneVerdicts) -> pl.Series:
    joined, unusual, slashed = _joined_and_unusual(values)
    matches = joined.str.extract_all(with_dotted_bounds(rule.regex)).to_arrow()
    if isinstance(matches, pa.ChunkedArray):
        matches = matches.combine_chunks()
    candidates = pl.Series(ELEMENT, pc.list_flatten(matches))
    rows = pl.Series(pc.list_parent_indices(matches))
    counts = pl.Series(pc.list_value_length(matches))
    valid = verdicts.candidates.passing(candidates)
    some_valid = _rows_among(rows.filter(valid), len(values))
    # Rows with phone numbers inside a failing run take the fenced rewrite, which splits
    # the run (phone_runs.py): few rows, found among the failing candidates only.
    runs = _rows_among(_rows_with_phone_runs(candidates, rows, valid, verdicts.runs), len(values))
    # And so do rows with numbers side by side the pattern does not part (phone_runs.py),
    # and only those hold a candidate that is a dotted boundary.
    # (Numbers parted by a line break are not: their joiners are in `joined` already.)
    runs = runs | _rows_among(rows_at_bounds(candidates, rows, values), len(values)) | slashed
    # Rows with a passing candidate, none of ours and no run to split: spliced with the
    # verdicts reached, whether their candidates all pass (on the text-heavy set, 83% of
    # the rows with a phone number) or some fail.
    spliced = some_valid & ~unusual & ~runs
    fenced = unusual | runs
    if not spliced.any() and not fenced.any():
        return values
    # `scatter` writes in place: into a copy, never the caller's values.
    out = values.clone()
    if spliced.any():
        own = spliced.gather(rows)
        texts = _spliced(
            joined.filter(spliced),
            candidates.filter(own),
            valid.filter(own),
            counts.filter(spliced),
            rule,
            verdicts.places,
        )
        if texts is None:  # never expected: the rows take the fenced rewrite
            fenced = fenced | spliced
        else:
            out = out.scatter(row_positions(spliced), texts)
    if fenced.any():
        chosen = values.filter(fenced).to_frame(ELEMENT)
        rewritten = chosen.select(rewrite_text(pl.col(ELEMENT), rule)).to_series()
        out = out.scatter(row_positions(fenced), rewritten)
    return out


def _spliced(
    joined: pl.Series,
    candidates: pl.Series,
    valid: pl.Series,
    counts: pl.Series,
    rule: PatternRule,
    places: CandidateForms | None = None,
) -> pl.Series | None:
    """Rows with passing candidates (with joiners, no control character of ours)
    rewritten as the fenced rewrite does, with the verdicts already reached: every
    passing candidate's value replaced by the tag, its lead and trail kept, the others
    left as they are. The text is split where the pattern matches (a replace by OPEN,
    which no such row holds), and piece i + 1 of a row follows its candidate i: the
    split finds the same matches in the same order as the extraction (the same pattern
    over the same text). A replacement without group references lets the regex engine
    find the matches without resolving their groups: the replace by lead, tag and trail
    this stands in for cost twice as much. `candidates` and `valid` are per candidate, in
    row order; `counts` is each row's number of candidates. None if the pieces and
    candidates do not line up in every row (a row with one piece too many and another
    with one too few would shift candidates from one row to the other). `places` (from
    `phone_verdicts`) remembers where the passing candidates' values are; without it,
    each call starts a memory of its own."""
    pieces = joined.str.replace_all(rule.regex, OPEN, literal=False).str.split(OPEN).to_arrow()
    if isinstance(pieces, pa.ChunkedArray):
        pieces = pieces.combine_chunks()
    flat = pl.Series(ELEMENT, pc.list_flatten(pieces))
    lengths = pl.Series(pc.list_value_length(pieces)).cast(pl.Int64)
    # Row by row, not in total: the candidates are handed out in row order.
    lined_up = len(counts) == len(joined) and (lengths - 1 == counts.cast(pl.Int64)).all()
    if pieces.null_count or not lined_up or len(flat) - len(joined) != len(candidates):
        return None
    known = CandidateForms(_value_places) if places is None else places
    written = _written(candidates, valid, rule, known)
    if written is None:
        return None
    # From the lengths, not the offsets buffer (a sliced array's offsets do not start at 0).
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), lengths.cum_sum()])
    first = offsets.slice(0, len(joined))
    opening = pl.repeat(False, len(flat), eager=True).scatter(first, True)
    # Each piece after a row's first follows its candidate: written before it.
    before = pl.repeat("", len(flat), eager=True).scatter(row_positions(~opening), written)
    result = (before + flat).to_arrow()
    lists = pa.LargeListArray.from_arrays(pa.array(offsets.to_arrow()), result)
    texts = pl.Series(ELEMENT, lists).list.join("")
    return texts.str.replace_all(JOINER, "", literal=True)


def _written(
    candidates: pl.Series, valid: pl.Series, rule: PatternRule, places: CandidateForms
) -> pl.Series | None:
    """Per candidate (a whole match), what the rewrite writes for it: for a passing one
    its lead, the tag and its trail (`_value_places`, remembered in `places`); a failing
    one as it is. None if a value is not in its match (never expected)."""
    chosen = candidates.filter(valid)
    if chosen.is_empty():
        return candidates
    where = places.written(chosen)
    if where.null_count():
        return None
    done = where.str.replace(OPEN, tag(rule.label), literal=True)
    # `candidates` is the caller's: `scatter` writes into a copy.
    return candidates.clone().scatter(row_positions(valid), done)


def _value_places(distinct: pl.Series) -> pl.Series:
    """Per distinct passing candidate of rows holding no control character of ours: its
    lead, OPEN and its trail, found around its value (`phone_values`). The value's first
    place in the match is its own: a lead is one character, or one and up to three
    stars, and a value holds no star and is no run of one character, so none starts
    inside the lead. Null if the value is not in the match."""
    match = pl.col(ELEMENT)
    value = pl.col(_VALUE)
    # Byte offsets throughout (`find` gives bytes): a lead, and a space in a value
    # (`\s` before an extension), may be beyond ASCII.
    at = match.str.find(value, literal=True)
    raw = match.cast(pl.Binary)
    place = pl.concat_str(
        raw.bin.head(at).cast(pl.String),
        pl.lit(OPEN),
        raw.bin.slice(at + value.str.len_bytes()).cast(pl.String),
    )
    frame = pl.DataFrame({ELEMENT: distinct, _VALUE: phone_values(distinct)})
    return frame.select(place.alias(ELEMENT)).to_series()


_VALUE: Final = "value"


def _joined_and_unusual(values: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Three answers from the scans for any of them (few rows hold one; a scan per answer
    cost ~40% more, the control characters' as dear as any scan for what it reads):

    - `values` with joiners after the separators that start another value (`JOINED`),
      and after a digit before a line break, a tab or two spaces a digit follows
      (phone_bounds.with_line_bounds, placed as the fenced rewrite places them), so such
      rows are spliced as any other. Before a line starting with a digit a number is no
      candidate until parted: those rows took the fenced rewrite, or were missed when
      they held another candidate (100k address blocks 'John Doe\n555-123-4567\n12 Main
      Street': the rule's CPU 0.36 s then, 0.26 s now).
    - Which values hold a control character used here.
    - Which must take the fenced rewrite: numbers joined by "/" that only it parts
      (phone_bounds.holds_slashed_chain); among the rows with a line break or a "/"
      before a digit, an area code glued to a number (holds_glued_area_code,
      "2/1/1992(951) 558-7279"; elsewhere the one-pass rewrite leaves it in clear, as
      before); and lines parted by digits in a row with a character beyond ASCII
      (holds_lines_beyond_ascii).
    """
    markers = f"[{OPEN}{CLOSE}{JOINER}]"
    # LINE_OR_SLASH's alternatives in scans apart (phone_bounds.SLASH_BEFORE_NUMBER): one
    # scan for all cost 0.064 CPU s per 1M text-heavy messages, these three 0.042.
    either = (
        values.str.contains(f"{JOINED}|{markers}|{SLASH_BEFORE_NUMBER}")
        | values.str.contains(BREAK_OR_TAB)
        | values.str.contains(SPACES_BEFORE_DIGIT)
    ).fill_null(False)
    unusual = pl.repeat(False, len(values), eager=True)
    slashed = pl.repeat(False, len(values), eager=True)
    if not either.any():
        return values, unusual, slashed
    where = row_positions(either)
    few = values.filter(either)
    marked = few.str.contains(markers)
    if marked.any():
        unusual = unusual.scatter(where.filter(marked), True)
    needs = few.str.contains(JOINED).fill_null(False)
    joined = few
    if needs.any():
        with_joiner = few.filter(needs).str.replace_all(JOINED, f"$1{JOINER}$2")
        # `few` is this function's own: `scatter` may write into it.
        joined = few.scatter(needs.arg_true(), with_joiner)
    changed = bool(needs.any())
    # The precise scans (led by a digit) only on the rows holding a line break, a tab,
    # or two spaces or a "/" before a digit (phone_bounds.LINE_OR_SLASH): fewer still.
    odd = few.str.contains(LINE_OR_SLASH).fill_null(False)
    if odd.any():
        some = joined.filter(odd)
        chained = (
            holds_slashed_chain(some) | holds_glued_area_code(some) | holds_lines_beyond_ascii(some)
        )
        if chained.any():
            slashed = slashed.scatter(where.filter(odd).filter(chained), True)
        lined = with_line_bounds(some)
        if lined is not some:
            joined = joined.scatter(odd.arg_true(), lined)
            changed = True
    if not changed:
        return values, unusual, slashed
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where, joined), unusual, slashed


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
