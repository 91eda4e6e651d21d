"""The PHONE entity's rule in one pass: its candidates extracted and checked once, the
rows with a passing one spliced with the verdicts reached, and only the rest through
the fenced rewrite.

Where its CPU goes (session 24; the 264,608 rows the gate picks of the 1M text-heavy
messages, 42.7 MB, 8 batches, one thread, a new redactor; ~0.26 CPU s under load): the
extraction (`extract_all` of the pattern with the dotted bounds) ~0.09, the candidates'
facts ~0.07 (found for ~32.5k distinct candidates, ~0.04 with their memory's upkeep;
looked up for ~249k, ~0.03), the scans for joiners and rare bytes ~0.03, the tagging in
place ~0.025, the entity's layouts ~0.017, rows_at_bounds ~0.006; ~0.04 of it is a
fixed cost per batch (8 batches of 50 rows: 0.04). No row took `_spliced` or the
fenced rewrite. The extraction is near what the regex engine does: a pattern led by a
digit that never matches costs 0.047 over those rows, the value alone 0.064, any lead
before it ~0.085 (the engine can no longer skip to a digit). Cutting the rows to 8
characters before their first digit (ASCII rows; no match starts earlier) saved 0.03
of it but cost 0.022 (find, slice): not done. 70% of the rows the gate picks hold no
passing candidate (IBANs in blocks of four, `ORD-2024-123456` with no lead, SSN and
card layouts); on the passing rows alone the rule costs about half. Those rows are now
left out before the rule runs (phone_shapes.py, the rule's refine; its doc gives the
measured cost of refine and rule together)."""

from __future__ import annotations

from functools import partial
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.packed_text import packed
from sluice.server.pipeline.redaction.phone_bounds import (
    BREAK_OR_TAB,
    LINE_OR_SLASH,
    SLASH_BEFORE_NUMBER,
    SPACES_BEFORE_DIGIT,
    holds_glued_area_code,
    holds_lines_beyond_ascii,
    holds_slashed_chain,
    is_at_bound,
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
from sluice.server.pipeline.redaction.verdicts import CandidateFacts


def rewrites_in_one_pass(rule: PatternRule) -> bool:
    """Whether `rewrite_checked` stands in for `may_rewrite` and `rewrite_text`: the
    phone entity's own pattern, replaced by its tag (the values of its candidates can
    be read from whole matches, see `phone_values`)."""
    return is_phone_rule(rule) and rule.action == "redact" and "$" not in tag(rule.label)


def rewrite_checked(
    text: pl.Expr, rule: PatternRule, verdicts: CandidateFacts | None = None
) -> pl.Expr:
    """`rewrite_text` for a rule `rewrites_in_one_pass` accepts, meant for all rows its
    gate picked (no `may_rewrite` before it). The candidates are extracted and checked
    once, as `may_rewrite` does, and the rows with a passing candidate are spliced with
    the verdicts reached (`_tagged_in_place`, `_spliced`), which is what the fenced
    rewrite makes of them for a fraction of its cost; rows holding a control character,
    and rows whose pieces do not line up with their candidates (never expected), take
    the fenced rewrite.
    `verdicts` (from `phone_verdicts`) carries what is known of the candidates (whether
    they pass, where their values are, ...: `_phone_facts`) from batch to batch of an
    export; without it, each call starts a memory of its own, so nothing is carried from
    one call to the next.
    The entity's layouts run before it, as in `rewrite_text`."""
    checked = phone_verdicts() if verdicts is None else verdicts
    # The entity's layouts first (phone_other_forms.py), as `rewrite_text` runs them.
    return rewrite_layouts(text, rule).map_batches(
        partial(_rewritten_checked, rule=rule, verdicts=checked),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def phone_verdicts() -> CandidateFacts:
    """A memory of phone candidates' facts (`_phone_facts`) for `rewrite_checked`, one
    per export."""
    return CandidateFacts(_phone_facts)


#: A candidate's facts (`_phone_facts`): whether it passes the phone check; for a
#: passing one, its lead and its trail, the text before and after its value in it (null
#: if the value is not in it, never expected); whether it is at a boundary another
#: number may start after
#: (phone_bounds.is_at_bound); for a failing one of 16 digits or more, whether it holds
#: phone numbers once split (phone_runs.py: in Python, and the same runs recur).
#: The PHONE entity's value pattern, by which `phone_values` reads a glued letter.
_PHONE_VALUE: Final = ENTITY_BY_NAME["PHONE"].value
_PASSES: Final = "passes"
_LEAD: Final = "lead"
_TRAIL: Final = "trail"
_AT_BOUND: Final = "at_bound"
_HOLDS_RUNS: Final = "holds_runs"


def _phone_facts(distinct: pl.Series) -> pl.DataFrame:
    """Per distinct candidate (a whole match): what `_rewritten_checked` reads of it
    (the columns above)."""
    height = len(distinct)
    # The values once for all the facts read from them.
    values = phone_values(distinct, _PHONE_VALUE)
    passes = _phones_passing(values)
    places = _value_places(distinct.filter(passes), values.filter(passes))
    where = row_positions(passes)
    no_place = pl.repeat(None, height, dtype=pl.String, eager=True)
    # Lengths first (no scan, no copy): 16 digits and a space at least. Most failing
    # candidates are short (dates, amounts).
    long = (distinct.str.len_bytes() >= _RUN_BYTES_MIN) & ~passes
    holds = pl.repeat(False, height, eager=True)
    if long.any():
        runs = _holds_phones(distinct.filter(long), values.filter(long))
        holds = holds.scatter(row_positions(long), runs)
    return pl.DataFrame(
        {
            _PASSES: passes,
            _LEAD: no_place.scatter(where, places.get_column(_LEAD)),
            _TRAIL: no_place.clone().scatter(where, places.get_column(_TRAIL)),
            _AT_BOUND: is_at_bound(distinct),
            _HOLDS_RUNS: holds,
        }
    )


def _rewritten_checked(values: pl.Series, rule: PatternRule, verdicts: CandidateFacts) -> pl.Series:
    joined, with_joiners, unusual, slashed = _joined_and_unusual(values)
    matches = joined.str.extract_all(with_dotted_bounds(rule.regex)).to_arrow()
    if isinstance(matches, pa.ChunkedArray):
        matches = matches.combine_chunks()
    candidates = pl.Series(ELEMENT, pc.list_flatten(matches))
    rows = pl.Series(pc.list_parent_indices(matches))
    counts = pl.Series(pc.list_value_length(matches))
    facts = verdicts.of(candidates)
    valid = facts.get_column(_PASSES)
    some_valid = _rows_among(rows.filter(valid), len(values))
    # Rows with phone numbers inside a failing run take the fenced rewrite, which splits
    # the run (phone_runs.py): few rows, found among the failing candidates only.
    runs = _rows_among(rows.filter(facts.get_column(_HOLDS_RUNS)), len(values))
    # And so do rows with numbers side by side the pattern does not part (phone_runs.py),
    # and only those hold a candidate that is a dotted boundary.
    # (Numbers parted by a line break are not: their joiners are in `joined` already.)
    at_bound = facts.get_column(_AT_BOUND)
    runs = runs | _rows_among(rows_at_bounds(candidates, rows, values, at_bound), len(values))
    runs = runs | slashed
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
        # Most rows hold one passing candidate, found once in the row: tagged in place.
        chosen = spliced.gather(rows) & valid
        their_rows = rows.filter(chosen)
        alone = their_rows.is_unique()
        placed_rows = their_rows.filter(alone)
        # Copied together (packed_text.py): the split reads the rows where they lie.
        tagged = _tagged_in_place(
            packed(joined.gather(placed_rows)),
            candidates.filter(chosen).filter(alone),
            facts.filter(chosen).filter(alone),
            rule,
        )
        placed = tagged.is_not_null()
        if placed.any():
            done = placed_rows.filter(placed)
            tagged = tagged.filter(placed)
            # The joiners (few rows hold one) taken out.
            lined = with_joiners.gather(done)
            if lined.any():
                unjoined = tagged.filter(lined).str.replace_all(JOINER, "", literal=True)
                tagged = tagged.scatter(lined.arg_true(), unjoined)
            out = out.scatter(done, tagged)
            spliced = spliced.scatter(done, False)
    if spliced.any():
        own = spliced.gather(rows)
        texts = _spliced(
            joined.filter(spliced),
            candidates.filter(own),
            valid.filter(own),
            counts.filter(spliced),
            rule,
            verdicts,
        )
        if texts is None:  # never expected: the rows take the fenced rewrite
            fenced = fenced | spliced
        else:
            out = out.scatter(row_positions(spliced), texts)
    if fenced.any():
        chosen_rows = values.filter(fenced).to_frame(ELEMENT)
        rewritten = chosen_rows.select(rewrite_text(pl.col(ELEMENT), rule)).to_series()
        out = out.scatter(row_positions(fenced), rewritten)
    return out


def _tagged_in_place(
    texts: pl.Series, candidates: pl.Series, facts: pl.DataFrame, rule: PatternRule
) -> pl.Series:
    """Per row of `texts` (with joiners, no control character of ours) and its one
    passing candidate (a whole match, `facts` its facts): the row with the candidate's
    value replaced by the tag, as the fenced rewrite writes it (the joiners still in);
    null where the candidate is found more than once in the row, or its value's place
    is not known (never expected). A candidate found once in its row is found where it
    matched: a split at its first place, not a second pass of the pattern over the row
    (`_spliced`'s), places it. It is found once when the text after the first place's
    first character does not hold it (which also finds it overlapping itself there)."""
    frame = facts.select(_LEAD, _TRAIL).with_columns(
        texts.str.splitn(candidates, 2).struct.rename_fields([_BEFORE, _AFTER]).alias(_TEXT),
        candidates.alias(ELEMENT),
    )
    candidate = pl.col(ELEMENT)
    after = pl.col(_TEXT).struct.field(_AFTER)
    again = pl.concat_str(candidate.str.slice(1), after).str.contains(candidate, literal=True)
    written = pl.concat_str(
        pl.col(_TEXT).struct.field(_BEFORE),
        pl.col(_LEAD),
        pl.lit(tag(rule.label)),
        pl.col(_TRAIL),
        after,
    )
    return frame.select(pl.when(~again).then(written)).to_series()


def _spliced(
    joined: pl.Series,
    candidates: pl.Series,
    valid: pl.Series,
    counts: pl.Series,
    rule: PatternRule,
    facts: CandidateFacts | None = None,
) -> pl.Series | None:
    """Rows with passing candidates (with joiners, no control character of ours)
    rewritten as the fenced rewrite does, with the verdicts already reached: every
    passing candidate's value replaced by the tag, its lead and trail kept, the others
    left as they are. For the rows `_tagged_in_place` leaves (two passing candidates,
    or one found twice in its row). The text is split where the pattern matches (a
    replace by OPEN, which no such row holds), and piece i + 1 of a row follows its
    candidate i: the split finds the same matches in the same order as the extraction
    (the same pattern over the same text). A replacement without group references lets
    the regex engine find the matches without resolving their groups: the replace by
    lead, tag and trail this stands in for cost twice as much. `candidates` and `valid`
    are per candidate, in row order; `counts` is each row's number of candidates. None
    if the pieces and candidates do not line up in every row (a row with one piece too
    many and another with one too few would shift candidates from one row to the
    other). `facts` (from `phone_verdicts`) remembers where the passing candidates'
    values are; without it, each call starts a memory of its own."""
    pieces = joined.str.replace_all(rule.regex, OPEN, literal=False).str.split(OPEN).to_arrow()
    if isinstance(pieces, pa.ChunkedArray):
        pieces = pieces.combine_chunks()
    flat = pl.Series(ELEMENT, pc.list_flatten(pieces))
    lengths = pl.Series(pc.list_value_length(pieces)).cast(pl.Int64)
    # Row by row, not in total: the candidates are handed out in row order.
    lined_up = len(counts) == len(joined) and (lengths - 1 == counts.cast(pl.Int64)).all()
    if pieces.null_count or not lined_up or len(flat) - len(joined) != len(candidates):
        return None
    known = phone_verdicts() if facts is None else facts
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
    candidates: pl.Series, valid: pl.Series, rule: PatternRule, facts: CandidateFacts
) -> pl.Series | None:
    """Per candidate (a whole match), what the rewrite writes for it: for a passing one
    its lead, the tag and its trail (`_value_places`, remembered in `facts`); a failing
    one as it is. None if a value is not in its match (never expected)."""
    chosen = candidates.filter(valid)
    if chosen.is_empty():
        return candidates
    places = facts.of(chosen)
    done = places.select(pl.concat_str(pl.col(_LEAD), pl.lit(tag(rule.label)), pl.col(_TRAIL)))
    if done.to_series().null_count():
        return None
    # `candidates` is the caller's: `scatter` writes into a copy.
    return candidates.clone().scatter(row_positions(valid), done.to_series())


def _value_places(distinct: pl.Series, values: pl.Series) -> pl.DataFrame:
    """Per distinct passing candidate of rows holding no control character of ours (and
    its value, `phone_values`): its lead and its trail, the text before its value and
    after it, null if the value is not in it. The value's first place in the match is
    its own: a lead is one character, or one and up to three stars, and a value holds no
    star and is no run of one character, so none starts inside the lead."""
    match = pl.col(ELEMENT)
    value = pl.col(_VALUE)
    # Byte offsets throughout (`find` gives bytes): a lead, and a space in a value
    # (`\s` before an extension), may be beyond ASCII.
    at = match.str.find(value, literal=True)
    raw = match.cast(pl.Binary)
    frame = pl.DataFrame({ELEMENT: distinct, _VALUE: values})
    return frame.select(
        raw.bin.head(at).cast(pl.String).alias(_LEAD),
        raw.bin.slice(at + value.str.len_bytes()).cast(pl.String).alias(_TRAIL),
    )


_VALUE: Final = "value"
_TEXT: Final = "text"
_BEFORE: Final = "before"
_AFTER: Final = "after"


def _joined_and_unusual(
    values: pl.Series,
) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
    """Four answers from three scans (few rows hold a byte any of them looks for): the
    joiners' scan tells which rows need one; the markers and `LINE_OR_SLASH` are
    rescanned only among the rows the rare-byte scan picked, and the precise scans run
    only on the rows that then hold a line break, a tab, or two spaces or a "/" before
    a digit:

    - `values` with joiners after the separators that start another value (`JOINED`),
      and after a digit before a line break, a tab or two spaces a digit follows
      (phone_bounds.with_line_bounds, placed as the fenced rewrite places them), so such
      rows are spliced as any other. Before a line starting with a digit a number is no
      candidate until parted: those rows took the fenced rewrite, or were missed when
      they held another candidate (100k address blocks 'John Doe\n555-123-4567\n12 Main
      Street': the rule's CPU 0.36 s then, 0.26 s now).
    - Which values may hold such joiners (all those holding any of the bytes scanned
      for: a superset, so only those need the joiners taken out again).
    - Which values hold a control character used here.
    - Which must take the fenced rewrite: an area code glued to a number, in any row
      (holds_glued_area_code, "2/1/1992(951) 558-7279", "ref 12(555) 123-4567": only
      the fenced rewrite parts it; taken only among the rows with a line break or a "/"
      before a digit until session 25, the others were left in clear); and among the
      rows with a line break or a "/" before a digit, numbers joined by "/" that only it
      parts (phone_bounds.holds_slashed_chain) and lines parted by digits in a row with
      a character beyond ASCII (holds_lines_beyond_ascii).
    """
    markers = f"[{OPEN}{CLOSE}{JOINER}]"
    # Three scans, each for bytes of its own the regex engine looks for first (one scan
    # for all read every byte: 0.064 CPU s per 1M text-heavy messages; this function
    # takes 0.031 CPU s there, 0.036 with JOINED scanned with the markers and "/"): the
    # joiners' separators (a comma is common: ~7% of the rows the PHONE gate picks need a
    # joiner); the rare bytes of the markers, a "/" before a number and a line break or
    # tab together; and two spaces before a digit (led by a space, it reads every byte).
    needs_all = values.str.contains(JOINED).fill_null(False)
    rare = values.str.contains(f"{markers}|{SLASH_BEFORE_NUMBER}|{BREAK_OR_TAB}").fill_null(False)
    spaced = values.str.contains(SPACES_BEFORE_DIGIT).fill_null(False)
    either = needs_all | rare | spaced
    unusual = pl.repeat(False, len(values), eager=True)
    # A scan of its own: a digit, "(" and a digit (few rows hold "(" after a digit).
    # `slashed` is this function's own: `scatter` may write into it.
    slashed = holds_glued_area_code(values)
    if not either.any():
        return values, either, unusual, slashed
    where = row_positions(either)
    few = values.filter(either)
    # The markers, and below the "/" and the line breaks: among the rows `rare` picked.
    rare_few = rare.filter(either)
    rare_where = row_positions(rare_few)
    if rare_few.any():
        marked = few.filter(rare_few).str.contains(markers).fill_null(False)
        if marked.any():
            unusual = unusual.scatter(where.gather(rare_where).filter(marked), True)
    needs = needs_all.filter(either)
    joined = few
    if needs.any():
        with_joiner = few.filter(needs).str.replace_all(JOINED, f"$1{JOINER}$2")
        # `few` is this function's own: `scatter` may write into it.
        joined = few.scatter(needs.arg_true(), with_joiner)
    changed = bool(needs.any())
    # The precise scans (led by a digit) only on the rows holding a line break, a tab,
    # or two spaces or a "/" before a digit (phone_bounds.LINE_OR_SLASH): fewer still.
    # `odd` merges two answers: `LINE_OR_SLASH` rescanned on the rows the rare-byte scan
    # picked, and the two-spaces scan's own on the others (they hold none of its rare
    # bytes, so the spaces are all of `LINE_OR_SLASH` they may hold).
    odd = spaced.filter(either)
    if rare_few.any():
        lined_or_slashed = few.filter(rare_few).str.contains(LINE_OR_SLASH).fill_null(False)
        # `odd` is this function's own (a filter): `scatter` may write into it.
        odd = odd.scatter(rare_where, lined_or_slashed)
    if odd.any():
        some = joined.filter(odd)
        chained = holds_slashed_chain(some) | holds_lines_beyond_ascii(some)
        if chained.any():
            slashed = slashed.scatter(where.filter(odd).filter(chained), True)
        lined = with_line_bounds(some)
        if lined is not some:
            joined = joined.scatter(odd.arg_true(), lined)
            changed = True
    if not changed:
        return values, either, unusual, slashed
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where, joined), either, unusual, slashed


_RUN_BYTES_MIN: Final = 17
#: A space between digits, or after an area code's ")" (phone_runs.LONG_RUN lets ")"
#: and "(" part the groups: "(555) 123-45672024-05-06" is such a run, whose only space
#: follows the ")"; wanting a digit there, the one-pass rewrite left its number in clear).
_SPACED: Final = r"[0-9)]\s[0-9+(]"


def _holds_phones(distinct: pl.Series, values: pl.Series) -> pl.Series:
    """Per distinct failing candidate of 16 digits or more (and its value): whether it
    holds phone numbers once split at its whitespace. Those without a space between
    digits (or after a ")") are left out first: most are ids of one word."""
    spaced = distinct.str.contains(_SPACED).fill_null(False)
    held = pl.repeat(False, len(distinct), eager=True)
    if not spaced.any():
        return held
    holds = holds_phones(values.filter(spaced))
    # `held` is this function's own: `scatter` may write into it.
    return held.scatter(spaced.arg_true(), holds)


def _phones_passing(values: pl.Series) -> pl.Series:
    """Per value of a distinct candidate (`phone_values`): whether it passes the phone
    check."""
    frame = values.to_frame(_VALUE)
    return frame.select(VALIDATORS["phone"](pl.col(_VALUE)).fill_null(False)).to_series()


def _rows_among(rows: pl.Series, height: int) -> pl.Series:
    """A mask of `height` rows, set at the (repeated) row numbers `rows`."""
    mask = pl.repeat(False, height, eager=True)
    return mask.scatter(rows, True) if len(rows) else mask
