"""Verdicts on validated entities' candidates, remembered across an export's batches.

A validator is a pure function of the candidate, and in text the same look-alikes recur
batch after batch (dates, amounts, a pool of order ids): on the text-heavy set, 1M rows
hold ~400k phone candidates, ~250k distinct within their batches but only ~34k distinct
in all. Each candidate is checked once per export, then looked up: up to a bound on the
candidates and bytes remembered, and a candidate longer than any phone is checked every
time (the pattern has no length limit). This never changes an output, only the work
done: a batch may check again what a concurrent one (the pipeline redacts two at once,
server.pipeline.ordered_workers) is adding. Adding is under a lock, against the memory
as it is then, so neither batch's verdicts are lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import polars as pl

#: Candidates remembered (checked ones; the passing ones are among them): bounds the
#: hash table each lookup builds, whatever the source holds.
_REMEMBERED: Final = 65_536
#: Bytes of candidates remembered (checked and passing ones): bounds the memory itself,
#: which lives as long as its export.
_REMEMBERED_BYTES: Final = 4 << 20
#: Longer candidates are checked every time, never remembered: no phone is that long
#: (a run of digits and spaces the pattern swallowed whole), and such runs rarely recur.
_LONGEST_REMEMBERED: Final = 64

#: From distinct candidates to whether each passes.
Check = Callable[[pl.Series], pl.Series]


class _Remembered:
    """Two series remembered per export: candidates, and what is known of them. Replaced
    whole under the lock, never changed in place, so a reader takes both with one
    attribute read and needs no lock. Bounded in candidates and bytes: past either
    bound, nothing more is added."""

    def __init__(self, *, aligned: bool) -> None:
        #: True when the second series holds one value per candidate (forms); False when
        #: it holds some of the candidates themselves (the passing ones).
        self._aligned = aligned
        empty = pl.Series(dtype=pl.String)
        self.known: tuple[pl.Series, pl.Series] = (empty, empty)
        self._adding = threading.Lock()
        #: Bytes of the series in `known`; read and written under the lock.
        self._bytes = 0

    def add(
        self, seen: tuple[pl.Series, pl.Series], fresh: pl.Series, fresh_known: pl.Series
    ) -> None:
        """Add `fresh` (none of them in `seen`, the memory the batch looked at) and
        what is known of them; a concurrent batch may have added some since."""
        with self._adding:
            candidates, known = self.known
            if self.known is not seen:
                new = ~fresh.is_in(candidates.implode())
                if self._aligned:
                    fresh_known = fresh_known.filter(new)
                else:
                    fresh_known = fresh_known.filter(~fresh_known.is_in(candidates.implode()))
                fresh = fresh.filter(new)
            added = pl.concat([fresh, fresh_known]).str.len_bytes().sum()
            size = self._bytes + int(added)
            if candidates.len() + fresh.len() <= _REMEMBERED and size <= _REMEMBERED_BYTES:
                self._bytes = size
                self.known = (pl.concat([candidates, fresh]), pl.concat([known, fresh_known]))


class CandidateVerdicts:
    """Per rule and export (one for all the text leaves of a redactor): the candidates
    checked so far, and which of them passed."""

    def __init__(self, check: Check) -> None:
        self._check = check
        #: (checked, passing).
        self._memory = _Remembered(aligned=False)

    def passing(self, candidates: pl.Series) -> pl.Series:
        """Per candidate: whether it passes the check."""
        known = self._memory.known
        checked, passed = known
        fresh = candidates.filter(~candidates.is_in(checked.implode())).unique()
        if fresh.is_empty():
            return candidates.is_in(passed.implode())
        fresh_passed = fresh.filter(self._check(fresh))
        short = fresh.str.len_bytes() <= _LONGEST_REMEMBERED
        if short.any():
            short_passed = fresh_passed.str.len_bytes() <= _LONGEST_REMEMBERED
            self._memory.add(known, fresh.filter(short), fresh_passed.filter(short_passed))
        return candidates.is_in(pl.concat([passed, fresh_passed]).implode())


#: From distinct candidates to what a rewrite writes for each (null: nothing to write).
Write = Callable[[pl.Series], pl.Series]


class CandidateForms:
    """Per rule and export, like CandidateVerdicts: what a rewrite writes for each
    candidate it wrote, a pure function of the candidate, so a recurring one is looked
    up rather than written again (on the text-heavy set, 1M rows hold ~80k passing
    phone candidates, ~8k distinct in all). Bounded as the verdicts are; a form that is
    null is never remembered."""

    def __init__(self, write: Write) -> None:
        self._write = write
        #: (candidates, their forms).
        self._memory = _Remembered(aligned=True)

    def written(self, candidates: pl.Series) -> pl.Series:
        """Per candidate: what the rewrite writes for it."""
        known = self._memory.known
        keys, forms = known
        found = candidates.replace_strict(keys, forms, default=None, return_dtype=pl.String)
        missing = found.is_null()
        if not missing.any():
            return found
        fresh = candidates.filter(missing).unique()
        fresh_forms = self._write(fresh)
        kept = fresh_forms.is_not_null() & (fresh.str.len_bytes() <= _LONGEST_REMEMBERED)
        if kept.any():
            self._memory.add(known, fresh.filter(kept), fresh_forms.filter(kept))
        filled = candidates.filter(missing).replace_strict(
            fresh, fresh_forms, default=None, return_dtype=pl.String
        )
        # `found` is this call's own: `scatter` may write into it.
        return found.scatter(missing.arg_true(), filled)
