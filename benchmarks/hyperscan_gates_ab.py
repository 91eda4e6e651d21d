"""Would a multi-pattern engine (Hyperscan) cut the CPU of redaction's gate scans? An
A/B of the text pass's gates as they are (Polars scans, compaction.py) against one
Hyperscan pass per free-text leaf and batch: the leaf's values joined by newlines into one
buffer (Polars' `str.join`, read zero-copy through Arrow's string view), every gate of
the leaf compiled into one database (ids = steps), the match ends collected by a Python
callback and mapped to rows with `numpy.searchsorted` on the values' start offsets.
Evaluated and rejected (issue 21): it is no cheaper at moderate and dearer at strict.

    pip install hyperscan==0.9.1   # manylinux wheel, bundles the library
    python -m benchmarks.hyperscan_gates_ab [--rows 1000000] [--levels moderate strict]
        [--rounds 3] [--variants polars hs hs-phone-apart hs-long-only] [--leaf-costs]

A gate must stay a superset of its rows. The patterns are translated from the Rust regex
syntax the gates use: `(?-u:\\b)` dropped (Hyperscan has no ASCII boundary in UCP mode,
and no Unicode one at all; dropping an assertion only adds matches), `\\uXXXX` written
`\\x{XXXX}`, an atom repeated `{0}` dropped (Hyperscan rejects the empty repeat; it
matches the empty string). No gate holds an anchor or a Unicode `\\b` (checked), so a
newline between values loses no match inside one: with no assertion, a match in a value
is a match in the joined text, ending at the same place; a match across values only adds
a row. Compiled UTF8|UCP: Unicode classes and case folding as in Rust (the long s for
`s`, the Kelvin sign for `k`, `\\s` matching U+00A0 and U+2028: checked by hand). Every
moderate and strict gate compiles that way, none needs HS_FLAG_PREFILTER.

It first checks, on every batch, per step and leaf, that Hyperscan's rows hold every row
Polars' gates pick (a missed row would be a leak: must be none) and counts the rows it
adds, and that the redacted batches are the same either way; then it alternates the
variants, each run with a new redactor after a warm-up, and reports the redaction CPU
seconds (`time.process_time`, one Polars thread, as redaction_cpu does) and the gate
phase's (`_hits`). Variants: `polars` (as it is), `hs` (every gate of a free-text leaf in
Hyperscan), `hs-phone-apart` (the PHONE gate kept as a Polars scan on leaves of long
values), `hs-long-only` (that, and leaves of short values as compaction scans them).
Databases are cached per set of patterns for the process, as a daemon would have to:
compiling them costs more than the scans (below). `--leaf-costs` times the gate phase per
free-text leaf and the Hyperscan scan alone per group of gates.

Result (2026-12-07, text-heavy 1M rows, batches of 131,072 rows, load 8-11 on 2 cores
from other sessions; CPU s, three alternating rounds, every run):

    check: rows Polars picks that Hyperscan misses: 0 (moderate and strict, every
    variant); rows Hyperscan adds: 0; redacted batches identical.

    | level    | polars            | hs                | hs-phone-apart    | hs-long-only      |
    | moderate | 1.099 0.984 0.966 | 1.537 1.547 1.531 | 1.080 1.041 1.043 | 1.006 0.965 0.984 |
    |  (gates) | 0.612 0.559 0.553 | 1.096 1.118 1.095 | 0.624 0.617 0.614 | 0.577 0.557 0.566 |
    | strict   | 6.537 6.777 6.864 | 6.883 7.114 7.144 | 6.564 6.891 6.612 | 6.923 7.079 6.975 |
    |  (gates) | 2.866 2.906 2.948 | 3.252 3.230 3.294 | 2.872 2.951 2.843 | 3.228 3.253 3.187 |

    compile, once per set of patterns: moderate 1.19-1.24 CPU s (the three JSON-key
    gates 1.17 of it), strict 4.5-4.6 (the eleven JSON-key gates ~4.4).

    Gate phase per free-text leaf (--leaf-costs, the warm round):
    | leaf             | moderate: polars  hs  hs-phone-apart | strict: polars  hs  apart |
    | message          |           0.272 0.754 0.248          |         1.812 2.501 2.111 |
    | cc.[]            |           0.034 0.086 0.087          |         0.116 0.117 0.143 |
    | request.referrer |           0.060 0.083 0.081          |         0.257 0.140 0.140 |

    Hyperscan's scan alone (no row mapping), message (132.7 MB joined; the join 0.07):
    moderate JSON keys (3) 0.058, other keywords (11) 0.044, EMAIL 0.032 (118,942 match
    ends), PHONE 0.49 (1,678,570 match ends; 0.24 with no callback at all), all 16 0.58;
    strict's 13 gates without a keyword 1.78 (7.1M match ends). Polars scans PHONE's gate
    over the same messages in 0.09.

Why it does not pay: the keyword gates were already cheap in Polars (joined, on the rows
holding a separator: compaction._keyword_rows), so Hyperscan's one pass (0.10 with the
join) saves ~0.03 of them on `message`; the gates without a literal (PHONE's digit runs,
strict's cards, IBANs, names) report every end of every match, each a Python callback
(~0.12 us), and even without callbacks Hyperscan scans PHONE's gate 2.7x slower than
Polars' regex engine. The short leaves' values are few bytes each, and their
`@` (EMAIL on `cc`) one callback per address. At best (Hyperscan only where it wins:
PHONE apart on `message`, strict's `request.referrer`) ~0.02 CPU s of moderate's 0.96
and ~0.12 of strict's 6.6: far from the 25% that would justify a native dependency, and
every export would need the compiled databases cached across redactors (1.2-4.6 CPU s
each). Nothing goes to results/.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from benchmarks.redaction_cpu import REDACTION_ROWS, source
from benchmarks.stage_budget import plan_for, source_batches
from sluice.server.pipeline.redaction import compaction
from sluice.server.pipeline.redaction.schema_walk import ELEMENT, Location


@functools.lru_cache(maxsize=256)
def translate(pattern: str) -> str:
    """A gate's Rust regex as a Hyperscan pattern matching at least what it matches."""
    pattern = pattern.replace("(?-u:\\b)", "")
    pattern = re.sub(r"\\u([0-9A-Fa-f]{4})", r"\\x{\1}", pattern)
    return _without_empty_repeats(pattern)


def _without_empty_repeats(pattern: str) -> str:
    """`pattern` without the atoms repeated `{0}` (a group, a class or one character)."""
    while (at := pattern.find("{0}")) >= 0:
        end = at - 1
        if pattern[end] == ")":
            depth, start = 0, end
            while start >= 0:
                escaped = start > 0 and pattern[start - 1] == "\\"
                if pattern[start] == ")" and not escaped:
                    depth += 1
                elif pattern[start] == "(" and not escaped:
                    depth -= 1
                    if depth == 0:
                        break
                start -= 1
        elif pattern[end] == "]":
            start = pattern.rfind("[", 0, end)
        else:
            start = end - 1 if end > 0 and pattern[end - 1] == "\\" else end
        pattern = pattern[:start] + pattern[at + 3 :]
    return pattern


def _gate_patterns(step: compaction.TextStep) -> list[str]:
    """The regexes whose union is the step's gate (`redactor._contains`: the pattern and
    the entity's label gate, when it has one)."""
    regex, label_gate = step.gate.args  # type: ignore[attr-defined]
    assert regex == step.pattern
    return [regex, label_gate] if label_gate else [regex]


def _check_patterns(patterns: Sequence[str]) -> None:
    for pattern in patterns:
        assert not compaction._anchored(pattern), pattern
        assert "\\b" not in pattern.replace("(?-u:\\b)", ""), pattern
        assert "\\B" not in pattern, pattern
        assert not pl.Series([""]).str.contains(pattern).item(), pattern


class HyperscanHits:
    """A stand-in for CompactedTextPass._hits: free-text leaves by one Hyperscan pass
    each (but the steps `apart` on leaves of long values), categorical leaves as before."""

    def __init__(
        self, hs: Any, apart: Callable[[compaction.TextStep], bool], long_only: bool = False
    ) -> None:
        self._hs = hs
        self._apart = apart
        #: Only leaves of long values by Hyperscan; the others as compaction does.
        self._long_only = long_only
        self._databases: dict[tuple[int, ...], Any] = {}
        self.callbacks = 0
        self.compile_cpu = 0.0

    def database(self, text_pass: Any, numbers: Sequence[int]) -> Any:
        # Per set of patterns, for the process (as a daemon would cache them): a new
        # redactor's compile costs ~1.2 CPU s at moderate, ~4.5 at strict.
        expressions, ids = [], []
        for number in numbers:
            patterns = _gate_patterns(text_pass._steps[number])
            expressions += [translate(p).encode() for p in patterns]
            ids += [number] * len(patterns)
        key = (*expressions, *ids)
        if key not in self._databases:
            hs = self._hs
            for number in numbers:
                _check_patterns(_gate_patterns(text_pass._steps[number]))
            started = time.process_time()
            database = hs.Database()
            flags = hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP
            database.compile(expressions=expressions, ids=ids, flags=[flags] * len(ids))
            self.compile_cpu += time.process_time() - started
            self._databases[key] = database
        return self._databases[key]

    def __call__(self, text_pass: Any, batch: pl.DataFrame) -> compaction.Hits:
        keys: list[tuple[int, Location]] = []
        masks: dict[tuple[int, Location], pl.Series] = {}
        scanned: list[tuple[int, Location]] = []
        exprs: list[pl.Expr] = []
        clean = text_pass._distinct.known_clean(batch, text_pass._leaves)
        for loc in (loc for loc in text_pass._leaves if loc not in clean):
            steps = [(n, s) for n, s in enumerate(text_pass._steps) if loc in s.counters]
            tests = text_pass._distinct.tests(batch, loc, [s.gate for _, s in steps])
            if all(t is True for t in tests):
                values, rows = _leaf(batch, loc)
                long = not compaction._short(values.drop_nulls().to_frame("v"))
                if self._long_only and not long:
                    tests = compaction._free_text_tests(batch, loc, [s for _, s in steps])
                    for (number, step), test in zip(steps, tests, strict=True):
                        if test is False:
                            continue
                        keys.append((number, loc))
                        if isinstance(test, pl.Series):
                            column = batch[loc[0]]
                            [mask] = compaction._gates_on_rows(column, test, [step.gate])
                            masks[(number, loc)] = mask
                            continue
                        scanned.append((number, loc))
                        value = compaction.any_where(pl.col(loc[0]), loc[1:], step.gate)
                        exprs.append(value.alias(str(len(exprs))))
                    continue
                mine = [n for n, s in steps if not (long and self._apart(s))]
                found = self._scan(text_pass, mine, values, rows, batch.height)
                for number, _ in steps:
                    keys.append((number, loc))
                    if number in found:
                        masks[(number, loc)] = found[number]
                    else:
                        scanned.append((number, loc))
                        gate = text_pass._steps[number].gate
                        value = compaction.any_where(pl.col(loc[0]), loc[1:], gate)
                        exprs.append(value.alias(str(len(exprs))))
                continue
            for (number, step), test in zip(steps, tests, strict=True):
                if test is False:
                    continue
                keys.append((number, loc))
                scanned.append((number, loc))
                pick = step.gate if test is True else test
                value = compaction.any_where(pl.col(loc[0]), loc[1:], pick)
                exprs.append(value.alias(str(len(exprs))))
        if exprs:
            masks.update(zip(scanned, batch.select(exprs).iter_columns(), strict=True))
        return {key: masks[key] for key in keys if masks[key].any()}

    def _scan(
        self,
        text_pass: Any,
        numbers: list[int],
        values: pl.Series,
        rows: np.ndarray | None,
        height: int,
    ) -> dict[int, pl.Series]:
        """Per step of `numbers`, the rows where its gate holds on one of `values` (row
        `rows[i]` for value i, or value i's own row when `rows` is None)."""
        never = np.zeros(height, dtype=bool)
        if not numbers:
            return {}
        present = values.drop_nulls()
        if present.is_empty():
            return {n: pl.Series(never) for n in numbers}
        lengths = present.str.len_bytes().to_numpy().astype(np.int64)
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        text = _joined_bytes(present)
        ids: list[int] = []
        ends: list[int] = []

        def found(number: int, _start: int, end: int, _flags: int, _context: object) -> None:
            ids.append(number)
            ends.append(end)

        self.database(text_pass, numbers).scan(text, match_event_handler=found)
        self.callbacks += len(ids)
        where = np.flatnonzero(values.is_not_null().to_numpy())
        if rows is not None:
            where = rows[where]
        out = {}
        id_array = np.asarray(ids, dtype=np.int64)
        end_array = np.asarray(ends, dtype=np.int64)
        for number in numbers:
            at = end_array[id_array == number]
            mask = never.copy()
            if len(at):
                value = np.searchsorted(starts, at - 1, side="right") - 1
                mask[where[value]] = True
            out[number] = pl.Series(mask)
        return out


def _leaf(batch: pl.DataFrame, loc: Location) -> tuple[pl.Series, np.ndarray | None]:
    """The values at `loc` (list elements one by one) and, unless they are a top-level
    column's, the row of each."""
    if len(loc) == 1:
        return batch[loc[0]], None
    frame = batch.select(
        pl.int_range(0, batch.height, dtype=pl.UInt32).alias("row"), pl.col(loc[0]).alias("v")
    )
    for step in loc[1:]:
        if step == ELEMENT:
            frame = frame.explode("v")
        else:
            frame = frame.with_columns(pl.col("v").struct.field(step).alias("v"))
    return frame["v"], frame["row"].to_numpy()


def _joined_bytes(values: pl.Series) -> memoryview | bytes:
    """`values` (no nulls) joined by newlines, as bytes: read in place from the joined
    value's Arrow string view when it is not inlined."""
    joined = values.str.join("\n")
    array = joined.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    view = np.frombuffer(array.buffers()[1], dtype=np.int32, count=4, offset=16 * array.offset)
    length = int(view[0])
    if length <= 12:
        return joined.item().encode()
    buffer = array.buffers()[2 + int(view[2])]
    return memoryview(buffer)[int(view[3]) : int(view[3]) + length]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hyperscan_gates_ab", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--levels", nargs="+", default=["moderate"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="*", default=["polars", "hs", "hs-phone-apart", "hs-long-only"]
    )
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument(
        "--leaf-costs", action="store_true", help="the gates' CPU per free-text leaf"
    )
    args = parser.parse_args(argv)
    import hyperscan  # the engine under test: an optional install

    pa.set_cpu_count(1)
    path = source("text-heavy", args.rows, 0.5)
    batches = source_batches(plan_for(path, "none"), REDACTION_ROWS)
    polars_hits = compaction.CompactedTextPass._hits
    engines = {
        "hs": HyperscanHits(hyperscan, lambda step: False),
        "hs-phone-apart": HyperscanHits(hyperscan, lambda step: step.refine_by_column),
        "hs-long-only": HyperscanHits(hyperscan, lambda step: step.refine_by_column, True),
    }

    def stand_in(engine: HyperscanHits) -> Callable[..., compaction.Hits]:
        return lambda text_pass, batch: engine(text_pass, batch)

    hits_of = {"polars": polars_hits, **{k: stand_in(v) for k, v in engines.items()}}
    if not args.no_check:
        for level in args.levels:
            check(level, path, batches, hits_of, polars_hits)
    if args.leaf_costs:
        for level in args.levels:
            leaf_costs(level, path, batches, hits_of, engines["hs"], args.rounds)

    gate_cpu = [0.0]

    def timed(hits: Callable[..., compaction.Hits]) -> Callable[..., compaction.Hits]:
        def wrapper(text_pass: Any, batch: pl.DataFrame) -> compaction.Hits:
            started = time.process_time()
            try:
                return hits(text_pass, batch)
            finally:
                gate_cpu[0] += time.process_time() - started

        return wrapper

    def redact(level: str, hits: Callable[..., compaction.Hits]) -> tuple[float, float]:
        compaction.CompactedTextPass._hits = timed(hits)  # type: ignore[method-assign]
        try:
            redactor = plan_for(path, level).redactor
            [redactor.apply(b.lazy()).collect() for b in batches]  # warm-up, as redaction_cpu
            redactor = plan_for(path, level).redactor
            gate_cpu[0] = 0.0
            started = time.process_time()
            [redactor.apply(b.lazy()).collect() for b in batches]
            return time.process_time() - started, gate_cpu[0]
        finally:
            compaction.CompactedTextPass._hits = polars_hits  # type: ignore[method-assign]

    for level in args.levels:
        for round_ in range(args.rounds):
            for name in args.variants:
                total, gates = redact(level, hits_of[name])
                load = os.getloadavg()[0]
                engine = engines.get(name)
                if engine is not None:
                    print(
                        f"  {name}: compiles {engine.compile_cpu:.2f} CPU s and"
                        f" {engine.callbacks} callbacks so far"
                    )
                print(
                    f"{level} round {round_}: {name:15} redaction {total:.3f} CPU s,"
                    f" gates {gates:.3f} (load {load:.2f})",
                    flush=True,
                )


def leaf_costs(
    level: str,
    path: Any,
    batches: Sequence[pl.DataFrame],
    hits_of: dict[str, Callable[..., compaction.Hits]],
    engine: HyperscanHits,
    rounds: int,
) -> None:
    """Per free-text leaf, the gate phase's CPU with each variant (the pass's leaves set
    to that one alone), then, for Hyperscan, its parts: the join of the values and the
    scan alone (no row mapping), per group of gates, with the callbacks it made."""
    text_pass = plan_for(path, level).redactor._text_pass
    columns = [b.select(list(text_pass._columns)) for b in batches]
    leaves = list(text_pass._leaves)
    free = []
    for loc in leaves:
        steps = [s for s in text_pass._steps if loc in s.counters]
        tests = text_pass._distinct.tests(columns[0], loc, [s.gate for s in steps])
        if all(t is True for t in tests):
            free.append(loc)
    print(f"{level}: free-text leaves {['.'.join(loc) for loc in free]}")
    try:
        for round_ in range(rounds):
            for loc in free:
                text_pass._leaves = [loc]
                spent = {}
                for name, hits in hits_of.items():
                    started = time.process_time()
                    for batch in columns:
                        hits(text_pass, batch)
                    spent[name] = time.process_time() - started
                cells = ", ".join(f"{n} {c:.3f}" for n, c in spent.items())
                print(f"  round {round_} {'.'.join(loc)}: gate CPU s {cells}", flush=True)
    finally:
        text_pass._leaves = leaves
    hs = engine._hs
    flags = hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP
    steps = text_pass._steps
    groups = {
        "JSON keys": [n for n, s in enumerate(steps) if s.keyword and s.pattern.startswith("(?P")],
        "other keywords": [
            n for n, s in enumerate(steps) if s.keyword and not s.pattern.startswith("(?P")
        ],
        "not keywords": [n for n, s in enumerate(steps) if not s.keyword],
        "PHONE": [n for n, s in enumerate(steps) if s.refine_by_column],
        "all": list(range(len(steps))),
    }
    groups["not keywords but PHONE"] = [
        n for n in groups["not keywords"] if n not in groups["PHONE"]
    ]
    for loc in free:
        values = [_leaf(b, loc)[0].drop_nulls() for b in columns]
        started = time.process_time()
        texts = [_joined_bytes(v) for v in values]
        joined = time.process_time() - started
        size = sum(len(t) for t in texts) / 1e6
        print(f"  {'.'.join(loc)}: {size:.1f} MB joined, join {joined:.3f} CPU s")
        for name, numbers in groups.items():
            if not numbers:
                continue
            expressions = [
                (n, translate(p).encode()) for n in numbers for p in _gate_patterns(steps[n])
            ]
            database = hs.Database()
            database.compile(
                expressions=[e for _, e in expressions],
                ids=[n for n, _ in expressions],
                flags=[flags] * len(expressions),
            )
            calls = [0]

            def count(*_: object) -> None:
                calls[0] += 1  # noqa: B023 - used before the loop moves on

            started = time.process_time()
            for text in texts:
                database.scan(text, match_event_handler=count)
            scan = time.process_time() - started
            print(f"    {name} ({len(numbers)} gates): scan {scan:.3f} CPU s, {calls[0]} matches")


def check(
    level: str,
    path: Any,
    batches: Sequence[pl.DataFrame],
    hits_of: dict[str, Callable[..., compaction.Hits]],
    polars_hits: Callable[..., compaction.Hits],
) -> None:
    """Per step and leaf, over all batches: rows Polars picks that each engine misses
    (must be none), rows it adds; and whether the redacted output is the same."""
    text_pass = plan_for(path, level).redactor._text_pass
    names = [n for n in hits_of if n != "polars"]
    missed = dict.fromkeys(names, 0)
    extra: dict[str, dict[tuple[int, Location], int]] = {n: {} for n in names}
    picked: dict[tuple[int, Location], int] = {}
    for batch in batches:
        columns = batch.select(list(text_pass._columns))
        expected = polars_hits(text_pass, columns)
        for key, mask in expected.items():
            picked[key] = picked.get(key, 0) + int(mask.sum())
        for name in names:
            got = hits_of[name](text_pass, columns)
            for key in expected.keys() | got.keys():
                want = expected.get(key, pl.Series([False] * batch.height))
                have = got.get(key, pl.Series([False] * batch.height))
                missed[name] += int((want & ~have).sum())
                more = int((have & ~want).sum())
                if more:
                    extra[name][key] = extra[name].get(key, 0) + more
    steps = text_pass._steps
    print(f"{level}: {len(steps)} steps, {len(text_pass._leaves)} leaves, {len(batches)} batches")
    for key, count in sorted(picked.items()):
        print(f"  polars picks step {key[0]} at {'.'.join(key[1])}: {count} rows")
    for name in names:
        print(f"  {name}: rows Polars picks and it misses: {missed[name]}")
        for key, count in sorted(extra[name].items()):
            print(f"  {name}: adds {count} rows for step {key[0]} at {'.'.join(key[1])}")
    digests = {}
    for name, hits in hits_of.items():
        compaction.CompactedTextPass._hits = hits  # type: ignore[method-assign]
        try:
            redactor = plan_for(path, level).redactor
            out = [redactor.apply(b.lazy()).collect() for b in batches]
        finally:
            compaction.CompactedTextPass._hits = polars_hits  # type: ignore[method-assign]
        digests[name] = out
    same = all(
        all(a.equals(b) for a, b in zip(d, digests["polars"], strict=True))
        for d in digests.values()
    )
    print(f"  redacted output the same for every variant: {same}", flush=True)
    assert same and not any(missed.values())


if __name__ == "__main__":
    main()
