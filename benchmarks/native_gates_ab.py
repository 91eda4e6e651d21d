"""Would a native pass cut the CPU of redaction's gate scans? An A/B of the text pass's
gates as they are (Polars scans, compaction.py) against a Rust probe that computes all
gates of a free-text leaf in one call (benchmarks/native_gates), built offline from
Debian bookworm's packaged crates (regex 1.7.1, pyo3 0.17.3) with Debian's cargo:

    apt-get install cargo librust-regex-dev librust-pyo3-dev
    python -m benchmarks.native_gates_ab [--rows 1000000] [--levels moderate] [--rounds 2]

It first checks that both give the same rows for every gate and leaf on every batch,
then alternates the two, each run with a new redactor after a warm-up, and reports the
redaction CPU seconds (`time.process_time`, one Polars thread, as redaction_cpu does).
`--one-pass` scans each value once with a `RegexSet` instead of each gate's own regex.

Result (2026-12-05, text-heavy 1M rows, two alternating rounds): moderate (16 gates)
1.10-1.20 CPU s with Polars, 3.13-3.18 native with a regex per gate, 2.95-3.17 with one
`RegexSet` pass; strict 6.25-6.40 against 8.64-9.24: the native pass costs ~2 s more,
not 0.2 s less. The gates as they are cost ~0.5 s at moderate, of which ~0.37 s is work
a native pass could take over (the joined keyword scans and the per-gate scans of free
text; the rest is the categorical leaves' lookups). Polars bundles a newer regex engine
(regex-automata's meta engine); Debian's regex 1.7 finds no literal prefilter for the
gates led by `(?-u:\b)` (each 7-8x slower than in Polars), and its `RegexSet` uses none
(~0.7 µs per short value; at the default DFA cache of 2 MiB it falls back to the NFA,
~4x slower still). Debian's regex-syntax 0.6 also rejects escapes such as `\"` that
the gate patterns use (rewritten here by `_old_syntax`).
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import importlib.machinery
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pyarrow as pa

from benchmarks.redaction_cpu import BATCH_ROWS, source
from benchmarks.stage_budget import plan_for, source_batches
from sluice.server.pipeline.redaction import compaction
from sluice.server.pipeline.redaction.schema_walk import ELEMENT, Location

CRATE = Path(__file__).resolve().parent / "native_gates"
#: regex-syntax 0.6 escapes only its meta characters; newer ones any ASCII punctuation.
_META = set("\\.+*?()|[]{}^$#&-~")


def build() -> ModuleType:
    """The probe, built by Debian's cargo (never a rustup toolchain on PATH)."""
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYO3_PYTHON": sys.executable}
    started = time.monotonic()
    subprocess.run(
        ["/usr/bin/cargo", "build", "--release", "--quiet"], cwd=CRATE, env=env, check=True
    )
    print(f"cargo build: {time.monotonic() - started:.1f} s", flush=True)
    library = CRATE / "target" / "release" / "libnative_gates_probe.so"
    loader = importlib.machinery.ExtensionFileLoader("native_gates_probe", str(library))
    spec = importlib.util.spec_from_file_location("native_gates_probe", library, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _old_syntax(pattern: str) -> str:
    """`pattern` with the escapes regex-syntax 0.6 rejects (`\\"`, `\\'`, ...) unescaped:
    outside and inside a class, such a character stands for itself either way."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            after = pattern[i + 1]
            plain = after.isascii() and not after.isalnum() and not after.isspace()
            out.append(after if plain and after not in _META else char + after)
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


class NativeHits:
    """A stand-in for CompactedTextPass._hits: free-text leaves by the probe, the
    categorical ones (distinct-value lookups) as before."""

    def __init__(self, probe: ModuleType, one_pass: bool) -> None:
        self._probe = probe
        self._one_pass = one_pass
        self._gates: dict[tuple[str, ...], Any] = {}

    def __call__(self, text_pass: Any, batch: pl.DataFrame) -> compaction.Hits:
        hits: compaction.Hits = {}
        keys: list[tuple[int, Location]] = []
        exprs: list[pl.Expr] = []
        clean = text_pass._distinct.known_clean(batch, text_pass._leaves)
        for loc in (loc for loc in text_pass._leaves if loc not in clean):
            steps = [(n, s) for n, s in enumerate(text_pass._steps) if loc in s.counters]
            tests = text_pass._distinct.tests(batch, loc, [s.gate for _, s in steps])
            if all(t is True for t in tests):
                patterns = [s.gate.args[0] for _, s in steps]
                for (number, _), mask in zip(steps, self._leaf(batch, loc, patterns), strict=True):
                    if mask.any():
                        hits[(number, loc)] = mask
                continue
            for (number, step), test in zip(steps, tests, strict=True):
                if test is not False:
                    keys.append((number, loc))
                    pick = step.gate if test is True else test
                    value = compaction.any_where(pl.col(loc[0]), loc[1:], pick)
                    exprs.append(value.alias(str(len(exprs))))
        masks = batch.select(exprs) if exprs else pl.DataFrame()
        hits.update((k, m) for k, m in zip(keys, masks.iter_columns(), strict=True) if m.any())
        return hits

    def _leaf(self, batch: pl.DataFrame, loc: Location, patterns: list[str]) -> list[pl.Series]:
        key = tuple(patterns)
        if key not in self._gates:
            assert len(patterns) <= 64, "the probe keeps a row's gates in 64 bits"
            self._gates[key] = self._probe.Gates([_old_syntax(p) for p in patterns])
        row = pl.int_range(0, batch.height, dtype=pl.UInt32).alias("row")
        frame = batch.select(row, pl.col(loc[0]).alias("v"))
        for step in loc[1:]:
            if step == ELEMENT:
                frame = frame.explode("v")
            else:
                frame = frame.with_columns(pl.col("v").struct.field(step).alias("v"))
        values = frame["v"].to_arrow()
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if values.type != pa.large_string():
            values = values.cast(pa.large_string())
        validity, offsets, data = values.buffers()
        maps = self._gates[key].scan(
            validity, offsets, data, values.offset, len(values), self._one_pass
        )
        masks = pl.DataFrame(
            pl.from_arrow(
                pa.BooleanArray.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(m)])
            ).alias(str(n))
            for n, m in enumerate(maps)
        )
        if ELEMENT in loc:  # a row's gate holds where one of its elements' does
            masks = masks.with_columns(frame["row"]).group_by("row", maintain_order=True)
            masks = masks.agg(pl.all().any()).drop("row")
        return [masks[str(n)] for n in range(len(patterns))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.native_gates_ab", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--levels", nargs="+", default=["moderate"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-pass", action="store_true", help="a RegexSet per leaf")
    args = parser.parse_args(argv)
    pa.set_cpu_count(1)
    probe = build()
    path = source("text-heavy", args.rows, 0.5)
    batches = source_batches(plan_for(path, "none"), BATCH_ROWS)
    polars_hits = compaction.CompactedTextPass._hits
    native = NativeHits(probe, args.one_pass)

    def native_hits(text_pass: Any, batch: pl.DataFrame) -> compaction.Hits:
        return native(text_pass, batch)  # a function: a method once set on the class

    for level in args.levels:
        text_pass = plan_for(path, level).redactor._text_pass
        for batch in batches:
            columns = batch.select(list(text_pass._columns))
            expected, got = polars_hits(text_pass, columns), native_hits(text_pass, columns)
            assert expected.keys() == got.keys(), expected.keys() ^ got.keys()
            for key, mask in expected.items():
                assert mask.equals(got[key], check_names=False), key
        print(f"{level}: the same gate rows on all {len(batches)} batches", flush=True)

    def redact(level: str, hits: Callable[..., compaction.Hits]) -> float:
        compaction.CompactedTextPass._hits = hits  # type: ignore[method-assign]
        try:
            redactor = plan_for(path, level).redactor
            [redactor.apply(b.lazy()).collect() for b in batches]  # warm-up, as redaction_cpu
            redactor = plan_for(path, level).redactor
            started = time.process_time()
            [redactor.apply(b.lazy()).collect() for b in batches]
            return time.process_time() - started
        finally:
            compaction.CompactedTextPass._hits = polars_hits  # type: ignore[method-assign]

    for level in args.levels:
        for round_ in range(args.rounds):
            for name, hits in (("polars", polars_hits), ("native", native_hits)):
                print(f"{level} round {round_}: {name} {redact(level, hits):.2f} CPU s", flush=True)


if __name__ == "__main__":
    main()
