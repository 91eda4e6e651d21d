"""Gates on text leaves with few distinct values (categorical text: a status, a region,
list elements such as tags), decided per distinct value instead of per row.

A leaf is sampled to tell categorical text from free text. For categorical text, every
gate runs on the batch's distinct values, and a row's gate becomes a lookup of the
values that passed it. A leaf a sample found to be free text stays free text for the
rest of the export: its sample (for a list leaf, its explode too) is not paid again per
batch, and either way a gate picks the same rows, so this only decides the work done.
Values on which no gate fires are remembered (up to a bound) for the leaf: a gate is a
pure function of the value, so in later batches those values are known to be clean and
only the values not seen before are looked at. Most batches of a
categorical leaf then cost one hash lookup per row, not a `unique` and a scan per gate;
those lookups, for every leaf with remembered values, are one select per batch
(`known_clean`): apart, the calls' own overhead cost as much as the lookups.

The pipeline redacts two batches at once (server.pipeline.ordered_workers), both with
this memory. It never changes an output: a remembered value passes no gate, so a row's
gate results are the same whether its value was remembered, looked up or scanned; only
the work done differs (a batch may miss values a concurrent one is adding). Adding is
under a lock, against the memory as it is then, so neither batch's values are lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.schema_walk import ELEMENT, Location

ValueTest = Callable[[pl.Expr], pl.Expr]
#: Rows sampled to tell a leaf with few distinct values (categorical text) from free text.
_SAMPLE: Final = 2048
#: A leaf counts as categorical when its distinct values are at most this share of them.
_FEW: Final = 0.25
#: Clean values remembered per leaf: bounds memory whatever the source holds.
_REMEMBERED: Final = 8192

#: Per gate: False (no value passes it), True (free text: test every row), or a test
#: that looks the values passing it up.
GateTest = bool | ValueTest
GateTests = list[GateTest]


class DistinctValueGates:
    """Per-leaf memory of clean values; one instance per text pass (one export)."""

    def __init__(self) -> None:
        #: Each leaf's Series is replaced whole, never changed in place, and no leaf is
        #: ever removed, so a reader needs no lock (a dict's get and set are atomic; a
        #: reader may see a newer Series, which only saves it work).
        self._clean: dict[Location, pl.Series] = {}
        #: Per leaf, the test of `known_clean` for its values in `_clean` (or for fewer,
        #: remembered before): built once per change, not per batch, as the batches of
        #: a categorical leaf seldom bring a new value (~0.5 ms of Python per batch).
        self._clean_test: dict[Location, pl.Expr] = {}
        self._adding = threading.Lock()
        #: Leaves a sample found to be free text (only ever added to, so read unlocked).
        self._free_text: set[Location] = set()

    def known_clean(self, batch: pl.DataFrame, locs: Sequence[Location]) -> set[Location]:
        """The leaves of `locs` whose every value in the batch is a remembered clean
        one (or that hold no value): no gate can fire there."""
        tests = self._clean_test
        remembered = [loc for loc in locs if loc in tests]
        if not remembered:
            return set()
        found = batch.select(tests[loc].alias(str(n)) for n, loc in enumerate(remembered))
        return {loc for loc, clean in zip(remembered, found.row(0), strict=True) if clean}

    def tests(self, batch: pl.DataFrame, loc: Location, gates: Sequence[ValueTest]) -> GateTests:
        """For a categorical leaf: per gate, False or a lookup; for free text: True."""
        if loc in self._free_text:
            return [True for _ in gates]
        values = leaf_values(batch, loc).drop_nulls()
        if values.is_empty():
            return [False for _ in gates]
        sample = values.head(_SAMPLE)
        if sample.n_unique() > _FEW * sample.len():
            self._free_text.add(loc)
            return [True for _ in gates]
        clean = self._clean.get(loc)
        fresh = values if clean is None else values.filter(~values.is_in(clean.implode()))
        if fresh.is_empty():
            return [False for _ in gates]
        distinct = fresh.unique()
        if distinct.len() > _FEW * values.len():
            return [True for _ in gates]
        found = distinct.to_frame("v").select(
            gate(pl.col("v")).fill_null(False).alias(str(n)) for n, gate in enumerate(gates)
        )
        passed = found.select(pl.any_horizontal(pl.all())).to_series()
        self._remember(loc, clean, distinct.filter(~passed))
        hits = found.iter_columns()
        return [_lookup(distinct.filter(hit)) if hit.any() else False for hit in hits]

    def _remember(self, loc: Location, seen: pl.Series | None, more: pl.Series) -> None:
        """Add `more` (none of them in `seen`, the memory this batch looked at)."""
        with self._adding:
            clean = self._clean.get(loc)
            if clean is not None and clean is not seen:
                # A concurrent batch added values since this one looked: maybe these.
                more = more.filter(~more.is_in(clean.implode()))
            known = more if clean is None else pl.concat([clean, more])
            if known.len() <= _REMEMBERED:
                # The values first, then their test: an unlocked reader may see a test
                # for fewer values than `_clean` holds (it looks again at values it
                # could have skipped), never one for values `_clean` does not hold yet.
                self._clean[loc] = known
                # Nulls are no values: `all` skips the nulls `is_in` gives them.
                self._clean_test[loc] = _one_of(leaf_expr(loc), known).all()


def leaf_values(batch: pl.DataFrame, loc: Location) -> pl.Series:
    """The text values at `loc` in the batch, flat (list elements one by one)."""
    return batch.select(leaf_expr(loc)).to_series()


def leaf_expr(loc: Location) -> pl.Expr:
    """The values at `loc` as an expression (several leaves can share one select); a null
    list gives no value (every use skips nulls): its explode row cost a copy of the list
    values beside it (~0.011 -> ~0.007 CPU s per 1M text-heavy rows for `request.headers`)."""
    value = pl.col(loc[0])
    for step in loc[1:]:
        value = (
            value.explode(empty_as_null=False, keep_nulls=False)
            if step == ELEMENT
            else value.struct.field(step)
        )
    return value


#: Up to this many remembered values, a value is compared with each of them: for a few
#: short values (a level, a region) that cost half of `is_in`'s hash lookup.
_COMPARED: Final = 8


def _one_of(value: pl.Expr, known: pl.Series) -> pl.Expr:
    """Per value: whether it is one of `known` (null for a null value). None remembered
    (every distinct value so far tripped a gate) is a lookup too: an empty
    any_horizontal has nothing to fold and fails."""
    if known.is_empty() or known.len() > _COMPARED:
        return value.is_in(known.implode())
    return pl.any_horizontal(value == pl.lit(v, dtype=known.dtype) for v in known)


def _lookup(chosen: pl.Series) -> ValueTest:
    return lambda value: value.is_in(chosen.implode())


#: Distinct values at most this share of the values a list leaf's rewrite gets for it to
#: run on the distinct values alone.
_REPEATED: Final = 0.5


def rewritten_per_distinct(value: pl.Expr, rewrite: ValueTest) -> pl.Expr:
    """`rewrite(value)`, run once per distinct value when the values repeat, for the
    values of a list leaf: lists of short values (the addresses in `cc`, tags) repeat
    theirs where whole rows do not (on the text-heavy set a batch's `cc` holds ~40k
    addresses, ~3.5k distinct: the e-mail rewrite on them cost ~0.046 CPU s per 1M rows,
    ~0.019 so). A text rewrite is a function of the value alone (tags, masks and keyed
    pseudonyms), so each value gets what it got before."""
    rewritten = rewrite(pl.col("v"))  # built once, not per batch
    return value.map_batches(
        partial(_per_distinct, rewritten=rewritten),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def _per_distinct(values: pl.Series, rewritten: pl.Expr) -> pl.Series:
    distinct = values.drop_nulls().unique()
    if distinct.len() > _REPEATED * values.len():
        return values.to_frame("v").select(rewritten).to_series().alias(values.name)
    done = distinct.to_frame("v").select(rewritten).to_series()
    # Every value is among `distinct`; a null (none is) stays null.
    return values.replace_strict(distinct, done, default=None, return_dtype=pl.String)
