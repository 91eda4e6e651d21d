"""What the keyword gates' scans of free text cost at a level, gate by gate: the bound
on what any prefilter of one gate could save.

    python -m benchmarks.keyword_gate_costs [--rows 1000000] [--dataset text-heavy|events]
        [--level moderate] [--rounds 3]

The keyword gates (the secrets and JSON keys, compaction.py) are scanned joined, per
free-text leaf, the way `compaction._any_keyword` scans them: a text column of long
values by rows (the gates that need no separator over every row, the separator scan,
the assigning gates over the rows holding a separator), a leaf of short values joined
into one text. For each such scan this prints its CPU seconds over all batches, and for
each gate in it the scan's CPU without that gate (what it would save if a prefilter,
or anything else, made the gate free) and the gate scanned alone on the same text.
Beside SECRET_VALUE's gate, a case-insensitive literal search (`contains_any`) for the
words of its names, what a prefilter in front of it would cost at least.

CPU is `time.process_time` on one Polars thread, as in benchmarks.redaction_cpu; each
figure is the median of `--rounds` runs. The leaves are those a first run of the level
found to be free text (distinct_values.py).

Result (2026-12-06, text-heavy 1M rows, moderate): on `message` the 8 gates needing no
separator cost 0.069 CPU s joined over every row, the separator scan 0.030, the 6
assigning gates 0.022-0.027 on the 8% of rows holding a separator; on
`request.referrer` the 14 gates joined over the URLs 0.025. SECRET_VALUE's gate adds
nothing to either joined scan (0.0218 with it, 0.0217 without; 0.0250 against 0.0252):
the other gates there already make the regex engine read every byte. Alone it costs
0.018 on the separated messages and 0.024 on the referrers, and a `contains_any` of its
names 0.016 and 0.024: no prefilter of it pays. End to end, moderate redaction with the
gate dropped from the joined scans (unsafe: measurement only) took 0.835-0.874 CPU s
against 0.847-0.962 for main (three alternating rounds each).
"""

# The thread setting must be in place before Polars is imported.
from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import polars as pl
import pyarrow as pa

from benchmarks.redaction_cpu import REDACTION_ROWS, source
from benchmarks.stage_budget import plan_for, source_batches
from sluice.server.pipeline.redaction import compaction
from sluice.server.pipeline.redaction.compaction import TextStep
from sluice.server.pipeline.redaction.distinct_values import leaf_values
from sluice.server.pipeline.redaction.packed_text import packed_frame
from sluice.server.pipeline.redaction.schema_walk import Location

#: The words of SECRET_VALUE's names (secret_names.py), for the cost of a literal search
#: for them: not a complete necessary condition (names beyond ASCII are left out), only
#: what such a prefilter would cost at least.
SECRET_NAME_WORDS = (
    "pass", "pwd", "secret", "key", "token", "authorization", "hooks.slack.com",
    "contrase", "senha",
)  # fmt: skip

Scan = Callable[[Sequence[str]], object]


def median_cpu(run: Callable[[], object], rounds: int) -> float:
    spent = []
    for _ in range(rounds):
        started = time.process_time()
        run()
        spent.append(time.process_time() - started)
    return statistics.median(spent)


def scans_of(
    batches: Sequence[pl.DataFrame], loc: Location, steps: Sequence[TextStep]
) -> tuple[list[pl.DataFrame], list[tuple[str, list[TextStep], Scan, list[pl.DataFrame]]]]:
    """The text compaction scans a leaf's separators in (per batch), and the leaf's
    joined keyword scans as compaction makes them when no gate is anchored and
    separators are few: per scan its name, its gates, the scan and the text it reads
    (per batch)."""
    values = [leaf_values(b, loc).drop_nulls().to_frame("v") for b in batches]
    keyworded = [s for s in steps if s.keyword]
    plain = [s for s in keyworded if not s.assigns]
    assigning = [s for s in keyworded if s.assigns]
    if all(compaction._short(v) for v in values):
        whole = [v.select(pl.col("v").str.join("\n")) for v in values]
        if any(w.select(compaction._has_separator(pl.col("v")).any()).item() for w in whole):
            return whole, [("all gates, values joined", keyworded, _scan(whole, False), whole)]
        return whole, [
            ("gates needing no separator, values joined", plain, _scan(whole, False), whole)
        ]
    separated = [
        packed_frame(v.filter(compaction._has_separator(pl.col("v")).fill_null(False)))
        for v in values
    ]
    return values, [
        ("gates needing no separator, every row", plain, _scan(values, False), values),
        ("assigning gates, rows holding a separator", assigning, _scan(separated, True), separated),
    ]


def _scan(texts: Sequence[pl.DataFrame], apart: bool) -> Scan:
    match = compaction._matching_apart if apart else compaction._matching

    def scan(patterns: Sequence[str]) -> object:
        return [match(t, patterns) for t in texts if patterns]

    return scan


def _separators(texts: Sequence[pl.DataFrame]) -> Callable[[], object]:
    return lambda: [t.select(compaction._has_separator(pl.col("v"))) for t in texts]


def _words(texts: Sequence[pl.DataFrame]) -> Callable[[], object]:
    words = list(SECRET_NAME_WORDS)
    return lambda: [
        t.select(pl.col("v").str.contains_any(words, ascii_case_insensitive=True)) for t in texts
    ]


def _report(
    name: str,
    gates: Sequence[TextStep],
    scan: Scan,
    texts: Sequence[pl.DataFrame],
    rules: dict[int, str],
    rounds: int,
) -> None:
    patterns = [g.keyword for g in gates]
    print(f"{median_cpu(lambda: scan(patterns), rounds):8.4f}  {name} ({len(gates)} gates)")
    for gate in gates:
        rest = [p for p in patterns if p != gate.keyword]
        without = median_cpu(lambda r=rest: scan(r), rounds)  # type: ignore[misc]
        alone = median_cpu(lambda g=gate: scan([g.keyword]), rounds)  # type: ignore[misc]
        print(f"{'':10}{rules[id(gate)]:<16} without {without:.4f}  alone {alone:.4f}")
        if rules[id(gate)] == "SECRET_VALUE":
            words = median_cpu(_words(texts), rounds)
            print(f"{'':26} its names' words (contains_any) {words:.4f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.keyword_gate_costs")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dataset", choices=("events", "text-heavy"), default="text-heavy")
    parser.add_argument("--level", default="moderate")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    path = source(args.dataset, args.rows, 0.5)
    batches = source_batches(plan_for(path, "none"), REDACTION_ROWS)
    redactor = plan_for(path, args.level).redactor
    for batch in batches:
        redactor.apply(batch.lazy()).collect()
    text_pass = redactor._text_pass
    if text_pass is None:
        return
    rules = {
        id(step): "+".join(
            sorted({redactor.counters[c].split("/")[0] for c in step.counters.values()})
        )
        for step in text_pass._steps
    }
    for loc in sorted(text_pass._distinct._free_text):
        steps = [s for s in text_pass._steps if loc in s.counters]
        if compaction._anchored("|".join(s.keyword for s in steps if s.keyword)):
            continue  # scanned as one joined pattern: not what this models
        print(f"\n## {'.'.join(p for p in loc if p != '[]')}")
        separated_in, scans = scans_of(batches, loc, steps)
        print(f"{median_cpu(_separators(separated_in), args.rounds):8.4f}  separator scan")
        for name, gates, scan, texts in scans:
            _report(name, gates, scan, texts, rules, args.rounds)


if __name__ == "__main__":
    main()
