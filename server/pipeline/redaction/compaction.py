"""Run the text stages only on the rows and values that may need them.

Polars' string kernels do work for every row, nulls included (their bytes stay behind
the validity mask), so masking rows out saves nothing: twenty patterns over every
message would cost twenty full passes. Instead, each stage's cheap necessary condition
(its gate: a keyword, `@`, a digit run) is scanned once per text leaf, all in one
parallel select. Each stage runs only on the rows and text values holding one of its own
candidates, narrowed further, for validated entities, to rows where some candidate
passes its validator (most digit runs in text are order ids, dates and tracking
numbers), and the results are put back in place; a custom pattern also runs where an
earlier stage wrote (it may match tags and pseudonyms, see `_steps_on`). Gates were once
one scan with every pattern joined, then scanned again per stage on the rows it picked:
the joined pattern loses each pattern's literal prefilter and cost as much as the
separate scans together; only gates that start with a literal (keywords and token
prefixes: the secrets, JSON keys) are still joined, and looked at one by one only on
leaves where the joined scan found something (in a text column of long values, only on
the rows where it did). A step's rows are copied together before it runs: its scans read
them several times, and filtered text lies spread over the batch (packed_text.py).

A leaf with few distinct values in a batch (categorical text: a status, a region, list
elements such as tags) is scanned by its distinct values, and its rows are picked by
looking the values holding a candidate up; values found clean are remembered for later
batches (distinct_values.py).

This runs as one `LazyFrame.map_batches` call per pipeline batch (the pipeline collects
each batch with the in-memory engine; a streaming collect would call it per morsel, half
a batch each, for ~20% more CPU): Python only orchestrates a few vectorised Polars calls
per batch, never anything per row, and memory stays bounded by the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from sluice.server.errors import SluiceError
from sluice.server.pipeline.redaction.collect_engine import IN_MEMORY
from sluice.server.pipeline.redaction.distinct_values import (
    DistinctValueGates,
    GateTest,
    ValueTest,
    leaf_values,
)
from sluice.server.pipeline.redaction.entity import without_names
from sluice.server.pipeline.redaction.gate_groups import holding, led_by_class
from sluice.server.pipeline.redaction.packed_text import packed, packed_frame
from sluice.server.pipeline.redaction.schema_walk import Location, any_where


@dataclass(frozen=True)
class TextStep:
    """One text stage. `run(frame, leaves)` rewrites those text leaves and adds their
    counters (one per leaf it covers); `gate(value)` is a cheap necessary condition for
    a change to the source text (a `reads_written` step may also change what earlier
    steps wrote, where its gate was not taken); `refine(value)`, when given, a costlier
    but sharper one, evaluated only where the gate holds.

    `gate` must hold exactly where `pattern` or `label` does (when `pattern` is given):
    a leaf of short values is tested by those patterns over its joined values, not by
    `gate`, so a gate that holds elsewhere would be skipped there. The redactor builds
    all three from one rule (`_contains` of its regex and label gate)."""

    run: Callable[[pl.LazyFrame, frozenset[Location]], pl.LazyFrame]
    gate: ValueTest
    counters: Mapping[Location, str]
    refine: ValueTest | None = None
    #: The gate as a pattern, when it starts with a literal (a keyword, a token prefix):
    #: such gates are joined into one scan per leaf, which keeps the literal prefilter.
    keyword: str = ""
    #: The keyword gate never matches text without a separator (`password=`, `"key":`, see
    #: SEPARATORS).
    assigns: bool = False
    #: The gate as a pattern: whether it may hold an anchor decides whether it can be
    #: scanned over values joined into one text (see `_free_text_tests`).
    pattern: str = ""
    #: The step may match text an earlier step wrote (a custom pattern reads tags,
    #: masks and pseudonyms like any text): it also runs where earlier steps changed
    #: its leaves, whose source text its gate was taken on (see `_steps_on`).
    reads_written: bool = False
    #: `refine` holds wherever the step changes a value, gate or not (the PHONE rule's
    #: layouts rewrite values its gate misses, phone_shapes.py), and it narrows a
    #: column's rows, not each leaf's: the step rewrites every leaf of a column it runs
    #: on, on each row where any of them hit, so a leaf the gate missed is rewritten
    #: beside a sibling's hit; narrowed per leaf, dropping that hit would leave it as it
    #: was (see `_refined`).
    refine_by_column: bool = False
    #: A second pattern the gate also holds on (an entity's label gate, scanned apart:
    #: Entity.label_gate): the gate is `pattern` or `label` (see `_gate_pattern`).
    label: str = ""


Hits = dict[tuple[int, Location], pl.Series]


class CompactedTextPass:
    def __init__(self, columns: pl.Schema, steps: Sequence[TextStep]) -> None:
        self._columns = columns
        self._steps = list(steps)
        self._distinct = DistinctValueGates()
        self._leaves = list(dict.fromkeys(loc for step in self._steps for loc in step.counters))
        # Two steps may share a counter (a second pass of one rule).
        self._counters = list(
            dict.fromkeys(n for step in self._steps for n in step.counters.values())
        )
        #: Per step reading what earlier ones wrote, per leaf, the earlier steps'
        #: counters there: set on the rows where one of them changed the leaf.
        self._written_by_earlier = {
            number: {
                loc: list(
                    dict.fromkeys(s.counters[loc] for s in steps[:number] if loc in s.counters)
                )
                for loc in step.counters
            }
            for number, step in enumerate(self._steps)
            if step.reads_written
        }

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        # The whole batch goes to one Python call and comes back with the rewritten
        # columns swapped in and the counters added (zero-copy `with_columns`). Packing
        # the text columns into a struct for an expression-level `map_batches` and
        # unpacking its ~200 fields again cost a fifth of moderate redaction's CPU.
        # No optimisation may move a projection, filter or slice across the call.
        schema = frame.collect_schema()
        out = pl.Schema({**schema, **dict.fromkeys(self._counters, pl.Boolean())})
        return frame.map_batches(
            self._batch,
            schema=out,
            predicate_pushdown=False,
            projection_pushdown=False,
            slice_pushdown=False,
        )

    def _batch(self, frame: pl.DataFrame) -> pl.DataFrame:
        batch = frame.select(list(self._columns))
        hits = self._hits(batch)
        if not hits:
            never = pl.repeat(False, frame.height, eager=True)
            return frame.with_columns(never.alias(name) for name in self._counters)
        # Only the columns holding a leaf some gate fired on are looked at (each step
        # filters its own columns to its own rows).
        used = list(dict.fromkeys(loc[0] for _, loc in hits))
        done, rewritten = self._steps_on(batch.select(used), hits)
        columns = [done[name] for name in rewritten]
        return frame.with_columns(*columns, *(done[name] for name in self._counters))

    def _hits(self, batch: pl.DataFrame) -> Hits:
        """Per step and leaf, the rows where the step's gate holds (only those with any)."""
        keys: list[tuple[int, Location]] = []
        exprs: list[pl.Expr] = []
        scanned: list[tuple[int, Location]] = []
        #: Per text column whose keyword gates may hold only on some rows: those rows,
        #: and those gates with their keys.
        narrowed: list[tuple[str, pl.Series, list[tuple[int, Location]], list[ValueTest]]] = []
        clean = self._distinct.known_clean(batch, self._leaves)
        for loc in (loc for loc in self._leaves if loc not in clean):
            steps = [(n, s) for n, s in enumerate(self._steps) if loc in s.counters]
            tests: Sequence[GateTest | pl.Series] = self._distinct.tests(
                batch, loc, [s.gate for _, s in steps]
            )
            if all(t is True for t in tests):
                tests = _free_text_tests(batch, loc, [s for _, s in steps])
            for (number, step), test in zip(steps, tests, strict=True):
                if test is False:
                    continue
                keys.append((number, loc))
                if isinstance(test, pl.Series):
                    if not narrowed or narrowed[-1][1] is not test:
                        narrowed.append((loc[0], test, [], []))
                    narrowed[-1][2].append((number, loc))
                    narrowed[-1][3].append(step.gate)
                    continue
                scanned.append((number, loc))
                pick = step.gate if test is True else test
                exprs.append(any_where(pl.col(loc[0]), loc[1:], pick).alias(str(len(exprs))))
        masks = dict(zip(scanned, batch.select(exprs).iter_columns(), strict=True)) if exprs else {}
        for column, rows, its_keys, gates in narrowed:
            masks.update(zip(its_keys, _gates_on_rows(batch[column], rows, gates), strict=True))
        # In the order of the leaves, and of the steps at each: as the steps read them.
        return {key: masks[key] for key in keys if masks[key].any()}

    def _steps_on(self, batch: pl.DataFrame, hits: Hits) -> tuple[dict[str, pl.Series], set[str]]:
        """Run every step on the rows of `batch` (every row of the columns holding a
        leaf some gate fired on) where its gate fired, looking only at those leaves;
        returns those columns and the counters, all of the batch's height, and which
        columns changed. The gates were taken on the source text, before any step ran;
        a built-in entity's rewrite writes tags, masks and pseudonyms sealed
        (pseudonyms.py) in which no later built-in entity finds a candidate, so for
        those steps they still hold. A custom pattern reads the text the steps before
        it wrote, as the rules apply in order (an e-mail's pseudonym holds the hex
        digits a pattern `[0-9a-f]{6,}` matches): it runs on its gate's rows and on
        those where an earlier step changed its leaves (`reads_written`), or the same
        value would come out one way in a row where its gate fired on other text and
        another elsewhere. Each step takes its rows from the batch's columns and puts
        them back there: taking first the rows any gate fired on, and putting those
        back after the last step, was a filter and a weave more of each column a step
        changed (~0.04 CPU s per 1M text-heavy rows, for ~0.02 more in the steps' own
        filters and writes)."""
        values = {name: batch[name] for name in batch.columns}
        rewritten: set[str] = set()
        never = pl.repeat(False, batch.height, eager=True)
        for number, step in enumerate(self._steps):
            for counter in step.counters.values():
                values.setdefault(counter, never.alias(counter))
            own = {loc: hit for (n, loc), hit in hits.items() if n == number}
            if step.refine is not None and own:
                own = _refined(values, own, step.refine, by_column=step.refine_by_column)
            if step.reads_written:
                own = _with_written(own, values, self._written_by_earlier[number])
            # Column by column, each on the rows where one of its own leaves' gates
            # fired: a stage's rewrite of one column never reads another, and on the
            # rows of another column's hits its gate did not fire, so it changes nothing
            # there (a message without "@" scanned for e-mails because the row's `cc`
            # holds one: on the text-heavy set, half the rows the e-mail step ran on).
            for column in sorted({loc[0] for loc in own}):
                mine = {loc: hit for loc, hit in own.items() if loc[0] == column}
                mask = pl.select(pl.any_horizontal(mine.values())).to_series()
                # Its rows copied together: the rule scans them several times (packed_text).
                picked = packed(values[column].filter(mask)).to_frame()
                done = _run(step, picked, frozenset(mine))
                rewritten.add(column)
                names = [step.counters[loc] for loc in mine]
                if (column,) in mine:
                    # A text column (its own only leaf): its counter tells the values
                    # that changed, and only those are written back.
                    where = row_positions(mask)
                    changed = done[step.counters[(column,)]]
                    values[column] = _changed_in_place(values[column], where, done[column], changed)
                    for name in names:
                        values[name] = values[name] | _set_at(never, where, done[name])
                    continue
                order = _weave(mask)
                values[column] = _merge(done[column], values[column].filter(~mask), order)
                for name in names:
                    values[name] = values[name] | _merge_counter(done[name], never, order)
        return values, rewritten


def _with_written(
    own: dict[Location, pl.Series],
    values: Mapping[str, pl.Series],
    earlier: Mapping[Location, Sequence[str]],
) -> dict[Location, pl.Series]:
    """A step's rows per leaf (`own`, where its gate fired) and those where an earlier
    step changed the leaf (`earlier`: their counters there). A leaf of a column no gate
    fired on (not in `values`) is unchanged."""
    rows = dict(own)
    for loc, counters in earlier.items():
        if loc[0] not in values or not counters:
            continue
        written = pl.select(pl.any_horizontal(values[c] for c in counters)).to_series()
        if written.any():
            rows[loc] = rows[loc] | written if loc in rows else written
    return rows


def _free_text_tests(
    batch: pl.DataFrame, loc: Location, steps: Sequence[TextStep]
) -> list[bool | pl.Series]:
    """Per step, whether its gate may hold at a free-text leaf (False: no row needs its
    scan), or the rows where it may (a text column's keyword gates). The keyword gates
    (the secrets, JSON keys) are scanned one by one only where their joined scan finds
    something (`_any_keyword`), and in a text column of long values only on the rows
    where it does. A leaf of short values (`_short`) is joined by newlines into one
    text, and the other gates that hold nowhere in it need no scan per value either: a
    match inside a value is one in the joined text (see `_any_keyword`). On the
    text-heavy set the URLs of `request.referrer` hold no e-mail or phone number, and
    `cc`'s addresses no phone number: per 1M rows ~0.04 CPU s of scans per value, for
    ~0.01 over the joined text the keyword scan made anyway."""
    values = leaf_values(batch, loc).drop_nulls().to_frame("v")
    whole = values.select(pl.col("v").str.join("\n")) if _short(values) else None
    keyworded = [s for s in steps if s.keyword]
    column = batch[loc[0]] if len(loc) == 1 else None
    keywords = len(keyworded) <= 1 or _any_keyword(values, whole, keyworded, column)
    tests: list[bool | pl.Series] = [keywords if s.keyword else True for s in steps]
    gates = [_gate_pattern(s) for s in steps]
    joinable = [
        n for n, s in enumerate(steps) if not s.keyword and s.pattern and not _anchored(gates[n])
    ]
    if whole is None or not joinable:
        return tests
    found = holding(whole, [gates[n] for n in joinable])
    for n, holds in zip(joinable, found, strict=True):
        tests[n] = holds
    return tests


def _gate_pattern(step: TextStep) -> str:
    """The step's gate as one pattern: its `pattern`, or its label as well."""
    if not step.label:
        return step.pattern
    return f"(?:{step.pattern})|(?:{step.label})"


def _any_keyword(
    values: pl.DataFrame,
    whole: pl.DataFrame | None,
    steps: Sequence[TextStep],
    column: pl.Series | None = None,
) -> bool | pl.Series:
    """Whether any keyword gate of `steps` holds among a leaf's `values` (`whole`: them
    joined by newlines, when they are short), or, for a text `column` (the leaf, when
    it is a top-level column) scanned by rows, the rows where one may (see
    `_keyword_rows`). Joined, the gates lose their literal prefilters: the regex engine
    reads every byte (a message column cost as much joined as its e-mail and phone
    scans together). The gates that need a separator
    (SEPARATORS: ':' or '=', or a rarer one) are joined apart and scanned only on the
    rows holding one (one cheap scan), which gives the same answer for a fraction of the
    cost. Where most rows hold one (URLs, logs of key=value), two joined scans cost more
    than one: there all gates are joined into one scan as before, as they are for short
    values."""
    plain = [s.keyword for s in steps if not s.assigns]
    assigning = [s.keyword for s in steps if s.assigns]
    # Short values (addresses in a list, ids) cost a scan more per value than per byte:
    # joined by newlines they are one value. A match inside a value is one in the joined
    # text (a newline, like the text's edge, is no word character, and plain gates use
    # no anchor); one across values is a false alarm, which the per-gate scans after it
    # settle. Without a separator anywhere, no assigning gate can hold.
    if (
        whole is not None
        and not any(_anchored(p) for p in plain)
        and not whole.select(_has_separator(pl.col("v")).any()).item()
    ):
        return bool(plain) and _found(whole, plain)
    # Either way the answer is the same (an assigning gate holds only where a separator
    # is): which way only decides the work done. Short values are scanned joined when no
    # gate may hold an anchor, whether few of them hold a separator or all (the URLs of
    # `request.referrer`): scans per value (the plain gates, the separators) cost more
    # than one of every gate over the joined text (the IPs of the events set, a tenth of
    # them IPv6 with ':': 0.20-0.25 CPU s per 1M rows apart, 0.044-0.050 joined).
    everything = [s.keyword for s in steps]
    if whole is not None and not any(_anchored(p) for p in everything):
        return _found(whole, everything)
    if plain and assigning and _few_separators(values.head(_SEPARATOR_SAMPLE)):
        if column is not None:
            text = column.to_frame("v")
            separated = text.select(_has_separator(pl.col("v")).fill_null(False)).to_series()
            if separated.sum() <= _FEW_SEPARATORS * values.height:
                return _keyword_rows(text, separated, plain, assigning)
        else:
            rows = values.filter(_has_separator(pl.col("v")))
            if rows.height <= _FEW_SEPARATORS * values.height:
                return _found(values, plain) or _found_apart(packed_frame(rows), assigning)
    return _found(values, everything)


def _keyword_rows(
    text: pl.DataFrame, separated: pl.Series, plain: Sequence[str], assigning: Sequence[str]
) -> bool | pl.Series:
    """The rows of a text column (`text`, its column "v") where a keyword gate may
    hold, False where none does: the plain gates' joined scan of every row, and the
    assigning gates' on the rows holding a separator (`separated`). A row where a rule
    can change something is one of these: its keyword gate holds there, and an
    assigning entity matches only where a separator is (Entity.gate_assigns, checked by
    tests/unit/test_redaction_assigning_gates.py; two such gates also hold without one,
    on rows their rules never change). So each keyword gate needs scanning only on these
    rows (`_hits`): on the
    events set, whose messages hold secrets, ~2% of them, and the 14 keyword gates'
    scans of every message cost 0.87 CPU s per 1M rows, on those rows 0.05. Both scans
    run even when the first finds something, a separator scan more than the answer
    alone needed (~0.05)."""
    rows = _matching(text, plain).fill_null(False)
    picked = _matching_apart(packed_frame(text.filter(separated)), assigning)
    if picked.any():
        rows = rows.clone().scatter(row_positions(separated).filter(picked), True)
    return rows if rows.any() else False


def _gates_on_rows(
    column: pl.Series, rows: pl.Series, gates: Sequence[ValueTest]
) -> list[pl.Series]:
    """Per gate, the rows of the text `column` where it holds, scanned only on `rows`,
    the only rows where it may (`_keyword_rows`): False elsewhere."""
    picked = packed(column.filter(rows)).to_frame("v")
    found = picked.select(
        gate(pl.col("v")).fill_null(False).alias(str(n)) for n, gate in enumerate(gates)
    )
    where = row_positions(rows)
    never = pl.repeat(False, len(column), eager=True)
    return [_set_at(never, where, hit) for hit in found.iter_columns()]


#: Values sampled to tell a leaf where most values hold a separator (URLs, logs of
#: key=value), where the scan for them and the copy of those rows buy nothing.
_SEPARATOR_SAMPLE: Final = 2048


def _few_separators(sample: pl.DataFrame) -> bool:
    share = sample.select(_has_separator(pl.col("v")).mean()).item()
    return share is None or bool(share <= _FEW_SEPARATORS)


#: Mean bytes per value up to which values are scanned joined (see _any_keyword).
_SHORT_VALUE: Final = 48


def _short(values: pl.DataFrame) -> bool:
    if values.is_empty():
        return False
    mean = values.select(pl.col("v").str.len_bytes().mean()).item()
    return bool(mean <= _SHORT_VALUE)


@functools.lru_cache(maxsize=1024)
def _anchored(pattern: str) -> bool:
    """Whether a pattern may hold an anchor (a "^" other than a class's negation, a "$",
    `\\A`, `\\z`, `\\Z`), which would not hold at a value's edge inside joined text.
    An escaped character is a literal ("\\$"), and an escaped "[" opens no class, so the
    "^" after it is an anchor ("\\[^"). When unsure, it says anchored: that only forgoes
    the joined scan. Cached: asked of the same few gates for every batch, and read
    character by character in Python (the JSON keys' gates run to thousands of them)."""
    escaped = False
    previous = ""
    for char in pattern:
        if escaped:
            if char in "AzZ":
                return True
            escaped, previous = False, ""
        elif char == "\\":
            escaped = True
        elif char == "$" or (char == "^" and previous != "["):
            return True
        else:
            previous = char
    return False


def _found(values: pl.DataFrame, patterns: Sequence[str]) -> bool:
    return bool(_matching(values, patterns).any())


def _matching(values: pl.DataFrame, patterns: Sequence[str]) -> pl.Series:
    """Per value of `values` (its column "v"), whether one of `patterns` holds (one
    scan of them joined)."""
    return values.select(_joined(patterns)(pl.col("v"))).to_series()


def _found_apart(values: pl.DataFrame, patterns: Sequence[str]) -> bool:
    """`_found`, with the gates led by a character class (`led_by_class`) scanned one
    by one after the others' joined scan: joined, one such gate takes the literal
    prefilter from all of them. Alone, the regex engine looks for its inner literal
    instead (the `://` of a URL's credentials): on the text-heavy messages holding a
    separator, 0.004 CPU s per 1M rows, and the other assigning gates joined 0.032,
    against 0.070 for all of them joined. Where most values hold its inner literal (the
    URLs of `request.referrer`) it costs more alone, but there all gates are joined
    anyway (see `_any_keyword`)."""
    apart = [p for p in patterns if led_by_class(p)]
    joined = [p for p in patterns if p not in apart]
    return (bool(joined) and _found(values, joined)) or any(_found(values, [p]) for p in apart)


def _matching_apart(values: pl.DataFrame, patterns: Sequence[str]) -> pl.Series:
    """`_matching`, scanned as `_found_apart` does (per value, so every scan runs);
    `patterns` is not empty."""
    apart = [p for p in patterns if led_by_class(p)]
    joined = [p for p in patterns if p not in apart]
    groups = ([joined] if joined else []) + [[p] for p in apart]
    scans = [_matching(values, group).fill_null(False) for group in groups]
    return pl.select(pl.any_horizontal(scans)).to_series()


#: Rows holding a separator (share of the batch) up to which the gates needing one are
#: scanned apart, on those rows only.
_FEW_SEPARATORS: Final = 0.25


#: What every match of an assigning gate's entity holds (see Entity.gate_assigns): a
#: ':' or '=', a full-width colon (CJK text), the '<' of an XML element, or the "--" of
#: a command-line flag. One regex scan for any of them: `contains_any` takes a slower
#: path beyond three needles (0.16 CPU s per 1M text-heavy messages, against 0.018 for
#: two; the class alone costs 0.019, with "--" 0.029).
SEPARATORS: Final = "[:=\uff1a<]|--"


def _has_separator(value: pl.Expr) -> pl.Expr:
    return value.str.contains(SEPARATORS)


def _joined(patterns: Sequence[str]) -> ValueTest:
    joined = _alternation(tuple(patterns))
    return lambda value: value.str.contains(joined)


@functools.lru_cache(maxsize=256)
def _alternation(patterns: tuple[str, ...]) -> str:
    """`patterns` as one alternation. Cached: the same few sets are joined every batch."""
    return "|".join(f"(?:{without_names(p)})" for p in patterns)


def _refined(
    values: Mapping[str, pl.Series],
    own: dict[Location, pl.Series],
    refine: ValueTest,
    *,
    by_column: bool,
) -> dict[Location, pl.Series]:
    """The gate's rows narrowed by `refine`, evaluated on those rows only: leaf by leaf,
    or `by_column` (TextStep.refine_by_column) a row of a column kept where `refine`
    holds on any of the column's leaves in `own` (all the leaves the step rewrites there,
    whichever of them hit on the row), a leaf left out only with its whole column."""
    mask = pl.select(pl.any_horizontal(own.values())).to_series()
    subset = pl.DataFrame([values[c] for c in sorted({loc[0] for loc in own})]).filter(mask)

    def group(loc: Location) -> Location:
        return loc[:1] if by_column else loc

    groups = list(dict.fromkeys(map(group, own)))
    sharper = subset.select(
        pl.any_horizontal(
            any_where(pl.col(loc[0]), loc[1:], refine) for loc in own if group(loc) == each
        ).alias(str(n))
        for n, each in enumerate(groups)
    )
    keeps = dict(zip(groups, sharper.iter_columns(), strict=True))
    where = row_positions(mask)
    narrowed = {}
    for loc, hit in own.items():
        keep = keeps[group(loc)]
        if keep.any():
            narrowed[loc] = hit if keep.all() else hit.clone().scatter(where.filter(~keep), False)
    return narrowed


def _run(step: TextStep, rows: pl.DataFrame, leaves: frozenset[Location]) -> pl.DataFrame:
    try:
        return step.run(rows.lazy(), leaves).collect(engine=IN_MEMORY)
    except pl.exceptions.PolarsError as exc:
        # Polars quotes the failing expression, and a hash rule's expression holds its
        # padded key: say which kind of failure it was, never the expression.
        raise SluiceError(f"a redaction text rule failed ({type(exc).__name__})") from None


def _weave(mask: pl.Series) -> pl.Series:
    """The gather order that puts the rows where `mask` holds followed by the others
    back into their original order: the inverse of the order that took them apart,
    written by position (a sort of it cost twice as much)."""
    mask = mask.fill_null(False)  # a null would scatter nothing to its row: gather row 0
    rows = _row_numbers(len(mask))
    taken = pl.concat([rows.filter(mask), rows.filter(~mask)])
    return pl.zeros(len(mask), dtype=rows.dtype, eager=True).scatter(taken, rows)


def row_positions(mask: pl.Series) -> pl.Series:
    """The row numbers where `mask` holds (the shared alternative to `arg_true`, which
    took ~15x longer)."""
    return _row_numbers(len(mask)).filter(mask)


def _row_numbers(height: int) -> pl.Series:
    return pl.int_range(0, height, eager=True, dtype=pl.get_index_type())


def _merge(chosen: pl.Series, others: pl.Series, order: pl.Series) -> pl.Series:
    """`chosen` (the rows a mask selected) and `others` (the rest) back in row order.
    The two are joined into one chunk before the gather: a gather across two chunks
    looks every index up chunk by chunk, which cost ~8x more for a 65k-row text column
    (~4.2 -> ~0.5 ms) and ~4x more for a list column than copying them into one first."""
    return pl.concat([chosen, others], rechunk=True).gather(order).alias(chosen.name)


def _changed_in_place(
    values: pl.Series, where: pl.Series, chosen: pl.Series, changed: pl.Series
) -> pl.Series:
    """`values` with the rows at `where` (row numbers, in order) replaced by `chosen`
    where `changed` (one per row of `chosen`) holds: a text step's counter compares its
    leaf's old and new values, so where no counter is set the value is the same. On the
    text-heavy set a step changes ~1 in 6 of the values it is run on (the phone gate
    picks most digit runs): writing back those few costs a fraction of the gather that
    wove every chosen row back (`_merge`)."""
    if not changed.any():
        return values
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where.filter(changed), chosen.filter(changed))


def _set_at(never: pl.Series, where: pl.Series, chosen: pl.Series) -> pl.Series:
    """A counter set on the rows at `where` where `chosen` holds (False elsewhere);
    `never` is all False."""
    if not chosen.any():
        return never.alias(chosen.name)
    return never.clone().scatter(where.filter(chosen), True).alias(chosen.name)


def _merge_counter(chosen: pl.Series, never: pl.Series, order: pl.Series) -> pl.Series:
    """A counter set on the chosen rows only (False elsewhere); `never` is all False."""
    if not chosen.any():
        return never.alias(chosen.name)
    rest = never.slice(0, len(order) - len(chosen))
    return pl.concat([chosen, rest], rechunk=True).gather(order).alias(chosen.name)
