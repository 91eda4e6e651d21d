"""CPU seconds of the redaction stage per level, beside the stages an export always runs,
on the demo events or the text-heavy dataset.

    python -m benchmarks.redaction_cpu [--rows 1000000] [--dataset text-heavy|events]
        [--pii-share 0.5] [--levels basic moderate strict] [--profile]

Runs like benchmarks.stage_budget: the source read in the pipeline's batch size (for
redaction, in the rows the daemon redacts at once: REDACTION_ROWS), each stage alone
over all batches on one thread, timed with `time.process_time` (other load on a shared
machine disturbs CPU time far less than wall time). The share is redaction CPU over the
CPU of reading, redaction, NDJSON encoding and zstd together: the work of an export to
jsonl+zstd (digests and the sink add a little more). Each level runs twice, each time
with a new redactor (as each export builds one): the second run is the one measured,
and the first's extra CPU is reported apart as the one-off cost of a process's
first run. `--profile` also
prints the functions the moderate level spends its time in (cProfile; the Polars
kernels show up under the Python call that started them). Writes
benchmarks/results/redaction_cpu-DATASET.md.
"""

# The thread setting must be in place before Polars is imported.
from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa

from benchmarks import text_heavy_data
from benchmarks.export_bench import DATA, SEED, dataset, log, machine_info
from benchmarks.stage_budget import compressed, cpu_seconds, encoded, plan_for, source_batches
from sluice.server.pipeline.export import REDACTED_TOGETHER
from sluice.server.pipeline.redaction import compaction
from sluice.server.pipeline.redaction.compaction import CompactedTextPass
from sluice.server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
#: The daemon's default batch size.
BATCH_ROWS = Settings().batch_rows
#: The rows redaction runs on at once in the daemon (all but an export's first batch).
REDACTION_ROWS = BATCH_ROWS * REDACTED_TOGETHER


def source(kind: str, rows: int, pii_share: float) -> Path:
    if kind == "events":
        return dataset(rows, "parquet")
    path = DATA / f"text-heavy-{rows}-seed{SEED}-pii{pii_share:g}.parquet"
    if not path.exists():
        log(f"generating {path.name} ...")
        partial = path.with_name(path.name + ".partial")
        text_heavy_data.generate(partial, rows, seed=SEED, pii_share=pii_share)
        partial.rename(path)
    return path


def redact_all(level: str, path: Path, batches: Sequence[pl.DataFrame]) -> Callable[[], object]:
    redactor = plan_for(path, level).redactor
    return lambda: [redactor.apply(b.lazy()).collect() for b in batches]


def text_pass_phases(run: Callable[[], object]) -> list[tuple[str, float]]:
    """CPU seconds of the text pass's phases: the gate scans that pick rows, the rules
    run on those rows (refines, rewrites, merges back), and everything else (the column
    stage, the call into the pass, counters). The text pass runs inside a Polars UDF,
    which cProfile, profiling only the calling thread, does not see."""
    spent = {"_hits": 0.0, "_steps_on": 0.0}
    originals = {name: getattr(CompactedTextPass, name) for name in spent}

    def timed(name: str) -> Callable[..., object]:
        def wrapper(*args: object) -> object:
            start = time.process_time()
            try:
                return originals[name](*args)
            finally:
                spent[name] += time.process_time() - start

        return wrapper

    for name in spent:
        setattr(CompactedTextPass, name, timed(name))
    try:
        total = cpu_seconds(run)
    finally:
        for name, original in originals.items():
            setattr(CompactedTextPass, name, original)
    scans, rules = spent["_hits"], spent["_steps_on"]
    return [
        ("gate scans (rows worth each rule)", scans),
        ("rules on those rows (refine, rewrite, merge)", rules),
        ("rest (column stage, the call, counters)", total - scans - rules),
    ]


def text_pass_steps(path: Path, batches: Sequence[pl.DataFrame]) -> list[tuple[str, float]]:
    """CPU seconds of moderate's text pass by what it did: each text step's run on the
    rows its gate picked (named by its counters' rules and leaves), the refine before it
    where the step has one (the sharper test on those rows, which the "rest" line held
    until session 29), and the gate work
    before them (the lookups of remembered clean values, the per-distinct gates of
    categorical leaves, the keyword and joined-value tests of free text, the scans of
    the other gates and everything else in the gate phase). Like `text_pass_phases`,
    by wrapping the pass's functions, since cProfile does not see inside the UDF."""
    redactor = plan_for(path, "moderate").redactor
    text_pass = redactor._text_pass
    if text_pass is None:
        return []
    names = {}
    for step in text_pass._steps:
        rules = sorted({redactor.counters[c].split("/")[0] for c in step.counters.values()})
        names[id(step)] = "+".join(rules)
    spent: dict[str, float] = {}

    def timed(owner: object, name: str, label: Callable[..., str]) -> Callable[[], None]:
        original = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(*args, **kwargs)
                spent[key] = spent.get(key, 0.0) + time.process_time() - start

        setattr(owner, name, wrapper)
        return lambda: setattr(owner, name, original)

    def where(leaves: Iterable[tuple[str, ...]]) -> str:
        return ", ".join(sorted(".".join(p for p in loc if p != "[]") for loc in leaves))

    def run_label(step: object, _rows: object, leaves: frozenset[tuple[str, ...]]) -> str:
        return f"run {names.get(id(step), '?')} on {where(leaves)}"

    # A step's refine (the sharper test on the rows its gate picked, before its run) is
    # named by its step: the refine is the step's own object.
    refines = {id(step.refine): names[id(step)] for step in text_pass._steps if step.refine}

    def refine_label(
        _values: object, own: Mapping[tuple[str, ...], object], refine: object, **_: object
    ) -> str:
        return f"refine {refines.get(id(refine), '?')} on {where(own)}"

    distinct = type(text_pass._distinct)
    restores = [
        timed(compaction, "_run", run_label),
        timed(compaction, "_refined", refine_label),
        timed(CompactedTextPass, "_hits", lambda *_: "gates: all"),
        timed(distinct, "known_clean", lambda *_: "gates: remembered clean values"),
        timed(distinct, "tests", lambda *_: "gates: categorical leaves' distinct values"),
        timed(compaction, "_free_text_tests", lambda *_: "gates: free-text tests"),
    ]
    try:
        total = cpu_seconds(lambda: [redactor.apply(b.lazy()).collect() for b in batches])
    finally:
        for restore in restores:
            restore()
    rest = spent.pop("gates: all") - sum(v for k, v in spent.items() if k.startswith("gates:"))
    spent["gates: other scans (per-row gates), masks"] = rest
    spent["rest (merges, packing, counters, column stage)"] = total - sum(spent.values())
    return sorted(spent.items(), key=lambda item: -item[1])


def profiled(run: Callable[[], object], top: int) -> str:
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redaction_cpu", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument("--dataset", choices=("events", "text-heavy"), default="text-heavy")
    parser.add_argument("--pii-share", type=float, default=0.5, help="text-heavy only")
    parser.add_argument("--levels", nargs="+", default=["basic", "moderate", "strict"])
    parser.add_argument("--profile", action="store_true", help="cProfile the moderate level")
    parser.add_argument("--out", type=Path, default=None, help="report file")
    parser.add_argument("--note", default="", help="a line for the report (what changed)")
    args = parser.parse_args(argv)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    path = source(args.dataset, args.rows, args.pii_share)
    plan = plan_for(path, "none")
    read = cpu_seconds(lambda: source_batches(plan, BATCH_ROWS))
    batches = source_batches(plan, BATCH_ROWS)
    plain = [b.drop(b.columns[0]) for b in batches]  # the row-index column
    ndjson = encoded("jsonl", plain)
    redacted = source_batches(plan, REDACTION_ROWS)
    encode = cpu_seconds(lambda: encoded("jsonl", plain))
    piece = max(1, len(ndjson) // len(plain))
    zstd = cpu_seconds(lambda: compressed("zstd", 3, ndjson, 1, piece))
    base = read + encode + zstd
    rows = [("read Parquet", read), ("encode NDJSON", encode), ("zstd-3", zstd)]
    lines = []
    for level in args.levels:
        # The first run of a level in the process also pays one-off costs (the regex
        # engines' first use of each pattern): reported apart; the share is of a warm
        # run with a new redactor, as each export of a running daemon builds its own.
        cold = cpu_seconds(redact_all(level, path, redacted))
        seconds = cpu_seconds(redact_all(level, path, redacted))
        rows.append((f"redaction {level}", seconds))
        lines.append(
            f"| {level} | {seconds:.2f} | {cold - seconds:+.2f} | {seconds / args.rows * 1e6:.2f} "
            f"| {seconds / (base + seconds):.0%} |"
        )
        log(f"redaction {level}: {seconds:.2f} CPU s warm, {cold:.2f} cold")
    report = [
        f"# Redaction CPU: {args.dataset} dataset",
        "",
        f"- {args.rows:,} rows"
        + (
            f", personal data in {args.pii_share:.0%} of messages"
            if args.dataset != "events"
            else ""
        )
        + f", {len(ndjson) / 1e6:,.0f} MB as NDJSON, batches of {BATCH_ROWS:,} rows "
        + f"(redacted in {REDACTION_ROWS:,}), one thread",
        *machine_info(),
        *([f"- note: {args.note}"] if args.note else []),
        "",
        "| stage | CPU s |",
        "|---|---:|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in rows),
        "",
        "| level | redaction CPU s | first run in the process (one-off) | µs per row "
        "| share of read+redact+encode+zstd |",
        "|---|---:|---:|---:|---:|",
        *lines,
    ]
    if args.profile:
        phases = text_pass_phases(redact_all("moderate", path, redacted))
        report += ["", "## Moderate by phase (CPU s)", "", "| phase | CPU s |", "|---|---:|"]
        report += [f"| {name} | {seconds:.2f} |" for name, seconds in phases]
        steps = text_pass_steps(path, redacted)
        report += ["", "## Moderate by text step (CPU s, first run of a new redactor)", ""]
        report += ["| what | CPU s |", "|---|---:|"]
        report += [f"| {name} | {seconds:.3f} |" for name, seconds in steps]
        report += ["", "## Where moderate spends it (cProfile, by own time)", "", "```"]
        report.append(profiled(redact_all("moderate", path, redacted), 25).strip())
        report.append("```")
    out = args.out or RESULTS / f"redaction_cpu-{args.dataset}.md"
    out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
