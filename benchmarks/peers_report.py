"""The peers benchmark's results and how they are shown: a Markdown report with issue 7's
goals next to the figures, and a PNG chart (MB/s and peak RSS per output, per tool)."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from benchmarks.export_bench import (
    MB,
    REPO,
    SEED,
    MiB,
    Result,
    machine_info,
    markdown_table,
)
from benchmarks.rss_flatness import FLAT_LIMIT, THIRDS_LIMIT, Flatness

RESULTS = REPO / "benchmarks" / "results"
#: Output groups: one Sluice case each, the peers writing the same thing beside it.
JSONL, REDACTED, PARQUET, CSV = "jsonl+zstd", "jsonl+zstd, redacted", "parquet(zstd)", "csv+gzip"
GROUPS = (JSONL, REDACTED, PARQUET, CSV)
TOOLS = ("Sluice", "DuckDB", "Polars", "dlt", "seed-style")
COLOURS = dict(zip(TOOLS, ("#1f6feb", "#d29922", "#8250df", "#2da44e", "#cf222e"), strict=True))

# Issue 7's goals: benchmark figures, not test assertions.
VS_DUCKDB = 1.0
VS_SEED = 25.0
RSS_LIMIT = 1024 * MiB
WATCH_LIMIT = 0.05


@dataclass(frozen=True)
class Row:
    """One measured case, Sluice or peer, in the report's terms."""

    tool: str
    group: str
    what: str
    rows: int
    seconds: float
    #: NDJSON size of the rows: the one yardstick for MB/s across output formats.
    logical_bytes: int
    stored_bytes: int
    peak_rss: int
    #: Measured on a subset of the rows; its rates stand for the whole dataset.
    subset: bool = False

    @property
    def mb_per_second(self) -> float:
        return self.logical_bytes / MB / self.seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class Missing:
    tool: str
    what: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    missing: list[Missing]
    flat_small: Result
    flat_large: Result
    #: The same export, alternately without and with the watchers, round by round.
    quiet: list[Result]
    watched: list[Result]
    #: (seconds, peak RSS bytes) of every round, per case ("Sluice" cases by name, peers
    #: as "tool: how").
    rounds: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    #: Every 1x run of the export `flat_large` scales up (Sluice (a)): the rounds' and
    #: the extra ones' (`--memory-rounds`). `flat_large` is judged against all their
    #: peaks, not against one run (peaks wander ±8% run to run).
    flat_rounds: list[Result] = field(default_factory=list)

    def sluice(self, group: str) -> Row:
        return next(r for r in self.rows if r.tool == "Sluice" and r.group == group)

    def peer(self, tool: str, group: str) -> Row | None:
        return next((r for r in self.rows if r.tool == tool and r.group == group), None)

    def slowdown(self) -> tuple[float, float]:
        """(best-of, mean) relative slowdown with watchers."""
        best = min(r.seconds for r in self.watched) / min(r.seconds for r in self.quiet) - 1
        mean = statistics.mean(r.seconds for r in self.watched) / statistics.mean(
            r.seconds for r in self.quiet
        )
        return best, mean - 1

    def daemon_cpu_overhead(self) -> float:
        """Extra daemon CPU seconds with watchers (mean over rounds), relative: what
        serving the streams costs the daemon, apart from the watcher clients' own CPU."""
        quiet = statistics.mean(r.daemon_cpu_seconds for r in self.quiet)
        watched = statistics.mean(r.daemon_cpu_seconds for r in self.watched)
        return watched / quiet - 1

    def grpc_share(self) -> float | None:
        """The daemon's gRPC threads' CPU with watchers (mean over rounds) as a share of
        the daemon's CPU without them: serving the streams, measured by thread."""
        serving = [r.grpc_cpu_seconds for r in self.watched]
        if not self.quiet or any(s is None for s in serving):
            return None
        quiet = statistics.mean(r.daemon_cpu_seconds for r in self.quiet)
        return statistics.mean(s for s in serving if s is not None) / quiet

    def sluice_peak(self) -> int:
        runs = [self.flat_large, *self.flat_rounds, *self.quiet, *self.watched]
        return max([r.peak_rss for r in self.rows if r.tool == "Sluice"] +
                   [r.peak_rss for r in runs])  # fmt: skip

    def small_runs(self) -> list[Result]:
        """The 1x runs memory flatness is judged against (the one 1x run if none kept)."""
        return self.flat_rounds or [self.flat_small]

    def flatness(self) -> Flatness:
        large = self.flat_large
        return Flatness.judge(
            [r.peak_rss for r in self.small_runs()],
            large.peak_rss,
            large.rows,
            large.rss_samples,
            large.seconds,
            large.case.scale,
        )

    def repeats(self) -> list[float]:
        """Seconds of every run of the identical export, Sluice (a) at 1x without
        watchers: how much this run's timings wander by themselves."""
        return [r.seconds for r in (self.flat_small, *self.quiet)]

    def noise(self) -> float:
        """The slowest repeat over the fastest, minus 1."""
        return max(self.repeats()) / min(self.repeats()) - 1


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _goal_cells(outcome: Outcome) -> dict[tuple[str, str], str]:
    """The goal beside each row it concerns, keyed by (tool, group)."""
    cells: dict[tuple[str, str], str] = {}
    for tool, group, sluice_group in (("DuckDB", JSONL, REDACTED), ("DuckDB", PARQUET, PARQUET)):
        peer = outcome.peer(tool, group)
        if peer is not None:
            ratio = outcome.sluice(sluice_group).mb_per_second / peer.mb_per_second
            label = outcome.sluice(sluice_group).what.split()[0]
            ok = ratio >= VS_DUCKDB
            cells[tool, group] = f"{label} ≥ {VS_DUCKDB:.1f}x this: **{ratio:.2f}x** {_mark(ok)}"
    seed = outcome.peer("seed-style", REDACTED)
    for group in GROUPS:
        row = outcome.sluice(group)
        parts = [f"RSS < 1 GiB {_mark(row.peak_rss < RSS_LIMIT)}"]
        if seed is not None:
            ratio = row.mb_per_second / seed.mb_per_second
            parts.insert(0, f"≥ {VS_SEED:.0f}x seed: **{ratio:.0f}x** {_mark(ratio >= VS_SEED)}")
        cells["Sluice", group] = "; ".join(parts)
    if seed is not None:
        worst = min(GROUPS, key=lambda g: outcome.sluice(g).mb_per_second)
        ratio = outcome.sluice(worst).mb_per_second / seed.mb_per_second
        label = outcome.sluice(worst).what.split()[0]
        ok = ratio >= VS_SEED
        cells["seed-style", REDACTED] = (
            f"every Sluice mode ≥ {VS_SEED:.0f}x this: slowest {label} **{ratio:.0f}x** {_mark(ok)}"
        )
    return cells


HEADER = (
    "output", "tool", "how", "rows", "seconds", "rows/s", "MB/s", "stored MB",
    "peak RSS MiB", "MB/s ÷ Sluice", "RSS ÷ Sluice", "goal (issue 7)",
)  # fmt: skip


def results_table(outcome: Outcome) -> str:
    goals = _goal_cells(outcome)
    ordered = sorted(outcome.rows, key=lambda r: (GROUPS.index(r.group), TOOLS.index(r.tool)))
    lines = []
    for r in ordered:
        sluice = outcome.sluice(r.group)
        star = "*" if r.subset else ""
        lines.append(
            (
                r.group if r.tool == "Sluice" else "",
                f"**{r.tool}**" if r.tool == "Sluice" else r.tool,
                r.what,
                f"{r.rows:,}{star}",
                f"{r.seconds:.1f}{star}",
                f"{r.rows_per_second:,.0f}",
                f"{r.mb_per_second:.1f}",
                f"{r.stored_bytes / MB:,.1f}",
                f"{r.peak_rss / MiB:,.0f}{star}",
                f"{r.mb_per_second / sluice.mb_per_second:.2f}x",
                f"{r.peak_rss / sluice.peak_rss:.2f}x",
                goals.get((r.tool, r.group), ""),
            )
        )
    return markdown_table(HEADER, lines)


def goals_table(outcome: Outcome, watchers: int) -> str:
    rows: list[tuple[str, str, str]] = []
    for tool, group, sluice_group in (("DuckDB", JSONL, REDACTED), ("DuckDB", PARQUET, PARQUET)):
        peer, sluice = outcome.peer(tool, group), outcome.sluice(sluice_group)
        if peer is not None:
            ratio = sluice.mb_per_second / peer.mb_per_second
            rows.append((
                f"{sluice.what} ≥ {VS_DUCKDB:.1f}x DuckDB COPY {group}",
                f"{ratio:.2f}x ({sluice.mb_per_second:.0f} vs {peer.mb_per_second:.0f} MB/s)",
                _mark(ratio >= VS_DUCKDB),
            ))  # fmt: skip
    seed = outcome.peer("seed-style", REDACTED)
    if seed is not None:
        ratios = {outcome.sluice(g).what.split()[0]: outcome.sluice(g).mb_per_second
                  / seed.mb_per_second for g in GROUPS}  # fmt: skip
        rows.append((
            f"every Sluice mode ≥ {VS_SEED:.0f}x the seed-style exporter",
            ", ".join(f"{k} {v:.0f}x" for k, v in ratios.items()),
            _mark(min(ratios.values()) >= VS_SEED),
        ))  # fmt: skip
    peak, flatness = outcome.sluice_peak(), outcome.flatness()
    best, mean = outcome.slowdown()
    rows += [
        ("daemon peak RSS < 1 GiB (every Sluice run)", f"max {peak / MiB:,.0f} MiB",
         _mark(peak < RSS_LIMIT)),
        (f"{outcome.flat_large.case.scale}x rows raise daemon peak RSS ≤ 15%: no climb "
         f"over the {outcome.flat_large.case.scale}x run, its peak ≤ +15% over the highest "
         f"of {len(flatness.small_peaks)} 1x runs, its windows' median ≤ +15% over theirs "
         "(see Memory flatness)",
         _flatness_measured(flatness), _mark(flatness.flat)),
        (f"{watchers} concurrent WatchExport streams slow the export < 5%",
         _grpc_measure(outcome) + f"daemon CPU {outcome.daemon_cpu_overhead() * 100:+.1f}%; "
         f"wall {best * 100:+.1f}% best-of ({mean * 100:+.1f}% mean), watcher clients on "
         "the same cores included",
         _grpc_mark(outcome) + _mark(outcome.daemon_cpu_overhead() < WATCH_LIMIT)
         + " (daemon CPU); wall " + _watch_mark(outcome, best)),
    ]  # fmt: skip
    return markdown_table(("goal", "measured", "met"), rows)


def _grpc_measure(outcome: Outcome) -> str:
    share = outcome.grpc_share()
    return "" if share is None else f"daemon's gRPC threads {share * 100:.1f}% of its CPU; "


def _grpc_mark(outcome: Outcome) -> str:
    share = outcome.grpc_share()
    return "" if share is None else _mark(share < WATCH_LIMIT) + " (gRPC threads); "


def _watch_mark(outcome: Outcome, slowdown: float) -> str:
    mark = _mark(slowdown < WATCH_LIMIT)
    if outcome.noise() <= WATCH_LIMIT:
        return mark
    return f"{mark} inconclusive: the same export alone varied {outcome.noise() * 100:.0f}%"


def noise_note(outcome: Outcome) -> str:
    runs = outcome.repeats()
    return (
        f"Noise gauge: the identical export, Sluice (a) without watchers, ran {len(runs)} "
        f"times in this run, taking {min(runs):.1f} to {max(runs):.1f} s (the slowest "
        f"+{outcome.noise() * 100:.0f}% over the fastest). Ratios within that margin are "
        "not differences."
    )


def rounds_table(outcome: Outcome) -> list[str]:
    """Every round's seconds per case: the table above shows each case's median round."""
    if not outcome.rounds or max(len(v) for v in outcome.rounds.values()) < 2:
        return []
    count = max(len(v) for v in outcome.rounds.values())
    lines = [
        (
            case,
            *(f"{s:.2f} s, {rss / MiB:,.0f} MiB" for s, rss in runs),
            *([""] * (count - len(runs))),
        )
        for case, runs in outcome.rounds.items()
    ]
    header = ("case", *(f"round {n + 1}: seconds, peak RSS" for n in range(count)))
    return [
        f"Every round ({count} alternating; the table above shows each case's median round):",
        "",
        markdown_table(header, lines),
        "",
    ]


def watch_table(outcome: Outcome) -> str:
    lines = [
        (str(n + 1), str(r.case.watchers), f"{r.seconds:.2f}", f"{r.daemon_cpu_seconds:.2f}",
         "?" if r.grpc_cpu_seconds is None else f"{r.grpc_cpu_seconds:.2f}",
         f"{r.client_cpu_seconds:.2f}", f"{r.watch_events:,}", f"{r.peak_rss / MiB:,.0f}")
        for n, pair in enumerate(zip(outcome.quiet, outcome.watched, strict=True))
        for r in pair
    ]  # fmt: skip
    return markdown_table(
        (
            "round",
            "watchers",
            "seconds",
            "daemon CPU s",
            "of which gRPC threads",
            "client + watchers CPU s",
            "events the watchers received",
            "daemon peak RSS MiB",
        ),
        lines,
    )


def _versions(names: Sequence[str]) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


METHOD = """\
## Method

- **Source**: one generated dataset (`sluice.client.demo_data`, seed {seed}: the demo's
  columns — names, emails, phones, free-text messages with contacts and secrets, IPs, a
  nested device struct), written once as Parquet. Every case reads that file. MB/s is the
  NDJSON size of the rows per second (MB = 10^6 bytes), whatever the output format, so
  rows of one table compare.
- **Sluice**: a fresh `sluice serve` per case (default settings, local folder sink), one
  export over gRPC with the Python client; seconds from CreateExport to the finished
  event; peak RSS is the daemon's VmHWM (start-up included). (b) is age-encrypted to one
  X25519 recipient generated for the run, with the `moderate` redaction level.
- **Peers**: each in a fresh Python process of its own (`benchmarks/peers.py`), timed
  inside it from after its imports to the last byte written; peak RSS is that process's
  VmHWM (start-up included, as for the daemon), cross-checked by a 20 ms psutil poll.
  Same compression levels as Sluice's defaults (zstd 3, gzip 6; DuckDB's text zstd takes
  no level and uses 3).
  - DuckDB: `COPY (SELECT * FROM read_parquet(...)) TO ... (FORMAT json|parquet|csv,
    COMPRESSION zstd|gzip)`, its default threads (one per core).
  - Polars (the floor for a Polars pipeline): `scan_parquet` → `sink_ndjson` /
    `sink_parquet` / `sink_csv` with built-in compression, streaming engine.
  - seed-style: pandas `read_parquet` → `to_dict("records")` per 50,000-row part →
    per record `re` redaction of emails, card and phone numbers in every text value and
    `json.dumps` → zstd → sha256 of each part → a manifest. It does no encryption.
    Marked `*`: it ran on the first {seed_rows:,} rows of the same file (it is slow); its
    rows/s and MB/s stand for the whole dataset, and its RSS is for the subset only
    (pandas holds the whole frame, so it grows with the rows).
  - dlt: a resource yielding the Parquet file's Arrow record batches, `pipeline.run(...,
    loader_file_format="jsonl")` into the filesystem destination on a local folder
    (extract, normalize, load; dlt gzips jsonl and offers no zstd).
- **Ratios**: "MB/s ÷ Sluice" and "RSS ÷ Sluice" divide by the Sluice case of the same
  output; the goal column states issue 7's target as Sluice ÷ peer.
- **WatchExport overhead**: the (a) export alternately without and with {watchers}
  other clients (each its own channel, connected beforehand, all on one asyncio loop in
  the benchmark process) consuming a WatchExport stream to its finished event. The
  watchers share the machine's 2 cores with the daemon, so wall time counts their own
  CPU too. The daemon's CPU seconds (all threads, from /proc) also move with the
  scheduling noise of a saturated machine, so the daemon's own cost of serving the
  streams is also measured by thread: `py-spy dump` names the daemon's threads half a
  second into the export, and the CPU (from /proc) of its gRPC handler threads, its
  completion-queue thread and gRPC core's own threads (`event_engine`, timer,
  `lifeguard`) is that cost.
"""


def write_report(
    outcome: Outcome, args: argparse.Namespace, chart: Path, elapsed: float, load_before: float
) -> Path:
    """`load_before`: the 1-minute load average before the run, i.e. other work's."""
    source_rows = outcome.sluice(JSONL).rows
    seed = outcome.peer("seed-style", REDACTED)
    parts = [
        "# Sluice vs peers",
        "",
        *machine_info(),
        "- peers: " + _versions(("duckdb", "pandas", "dlt", "matplotlib")),
        f"- load average (1 min) before the run {load_before:.2f}, at its end "
        f"{os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs; whole run {elapsed / 60:.1f} min",
        *([f"- note: {args.note}"] if args.note else []),
        f"- dataset: {_dataset_line(args, source_rows)}, "
        f"{outcome.sluice(JSONL).logical_bytes / MB:,.0f} MB as NDJSON",
        "",
        f"![MB/s and peak RSS per output]({chart.name})",
        "",
        "## Results",
        "",
        results_table(outcome),
        "",
        "`*` measured on a subset"
        + (f" ({seed.rows:,} rows): rates extrapolate, RSS does not" if seed else ""),
        "",
        noise_note(outcome),
        "",
        *rounds_table(outcome),
        "## Goals",
        "",
        goals_table(outcome, args.watchers),
        "",
    ]
    if outcome.missing:
        parts += ["## Peers not measured", ""]
        parts += [f"- {m.tool} ({m.what}): {m.reason}" for m in outcome.missing]
        parts.append("")
    parts += [
        memory_flatness(outcome),
        f"### WatchExport overhead: {args.watchers} watchers",
        "",
        watch_table(outcome),
        "",
        "Slowdown: {:+.1f}% best-of, {:+.1f}% mean.".format(*(100 * s for s in outcome.slowdown())),
        "",
        METHOD.format(seed=SEED, seed_rows=args.seed_rows, watchers=args.watchers),
    ]
    out: Path = args.out_dir / f"{args.report_name}.md"
    out.write_text("\n".join(parts).rstrip() + "\n")
    return out


def _dataset_line(args: argparse.Namespace, rows: int) -> str:
    if args.dataset == "text-heavy":
        return (
            f"{rows:,} rows of the text-heavy dataset (`benchmarks.text_heavy_data`, seed "
            f"{SEED}, personal data in {args.pii_share:.0%} of messages)"
        )
    return f"{rows:,} events (seed {SEED})"


def _bars(ax: Axes, outcome: Outcome, value: Callable[[Row], float]) -> None:
    """Bars grouped by output, each group centred on its tick with only the tools that
    wrote that output, in TOOLS order."""
    present = [[r for t in TOOLS if (r := outcome.peer(t, g)) is not None] for g in GROUPS]
    width = 0.8 / max(len(rows) for rows in present)
    for g, rows in enumerate(present):
        for n, row in enumerate(rows):
            x = g + width * (n - (len(rows) - 1) / 2)
            bar = ax.bar(x, value(row), width, color=COLOURS[row.tool],
                         hatch="//" if row.subset else None, edgecolor="white")  # fmt: skip
            ax.bar_label(bar, [f"{value(row):.0f}"], fontsize=7, padding=1)
    ax.set_xticks(range(len(GROUPS)), [outcome.sluice(g).what for g in GROUPS])
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def write_chart(outcome: Outcome, path: Path) -> Path:
    tools = [t for t in TOOLS if any(r.tool == t for r in outcome.rows)]
    fig, (speed, memory) = plt.subplots(2, 1, figsize=(11, 8.5))
    _bars(speed, outcome, lambda r: r.mb_per_second)
    speed.set_ylabel("MB/s (NDJSON size of the rows)")
    speed.set_title(f"Throughput, {outcome.sluice(JSONL).rows:,} rows — higher is better")
    duckdb = outcome.peer("DuckDB", JSONL)
    if duckdb is not None:
        # Issue 7: the redacted, encrypted export should keep up with DuckDB's plain one.
        g = GROUPS.index(REDACTED)
        goal = "goal for Sluice (b): DuckDB jsonl+zstd"
        speed.hlines(duckdb.mb_per_second, g - 0.45, g + 0.45, colors=COLOURS["DuckDB"],
                     linestyles="dashed", label=goal)  # fmt: skip
    _bars(memory, outcome, lambda r: r.peak_rss / MiB)
    memory.axhline(RSS_LIMIT / MiB, color=COLOURS["Sluice"], linestyle="dashed", linewidth=1,
                   label="goal: daemon < 1 GiB")  # fmt: skip
    memory.set_ylabel("peak RSS MiB")
    memory.set_title("Peak resident memory (Sluice: the daemon) — lower is better")
    handles = [Rectangle((0, 0), 1, 1, color=COLOURS[t]) for t in tools]
    labels = [f"{t} (subset; rate holds, RSS does not)" if t == "seed-style" else t
              for t in tools]  # fmt: skip
    speed.legend([*handles, *speed.get_legend_handles_labels()[0]],
                 [*labels, *speed.get_legend_handles_labels()[1]], fontsize=8)  # fmt: skip
    memory.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:+.1f}%"


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value / MiB:,.0f}"


def _flatness_measured(flatness: Flatness) -> str:
    return (
        f"last third vs first {_percent(flatness.thirds_growth)}, fitted rise "
        f"{_percent(flatness.fitted_rise)}; peak vs the 1x runs' highest "
        f"{_percent(flatness.level_growth)}, windows' median vs their median "
        f"{_percent(flatness.windows_level_growth)} (the old measure, the peak vs their "
        f"median: {_percent(flatness.old_growth)})"
    )


def _per_million_rows(slope: float | None) -> str:
    return "?" if slope is None else f"{slope * 1_000_000 / MiB:+.1f} MiB per 1M rows"


def memory_flatness(outcome: Outcome) -> str:
    """Peak RSS of every 1x run and of the SCALEx run, the SCALEx run's RSS over time cut
    into 1x-long windows and thirds, and the verdict with its rule (benchmarks.rss_flatness)."""
    large, small = outcome.flat_large, outcome.small_runs()
    rows = [
        (f"1x run {n}", f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.peak_rss / MiB:,.0f}",
         f"{(r.peak_rss - r.baseline_rss) / MiB:,.0f}")
        for n, r in enumerate(small, 1)
    ]  # fmt: skip
    rows.append((f"{large.case.scale}x", f"{large.rows:,}", f"{large.seconds:.2f}",
                 f"{large.peak_rss / MiB:,.0f}",
                 f"{(large.peak_rss - large.baseline_rss) / MiB:,.0f}"))  # fmt: skip
    header = ("run", "rows", "seconds", "daemon peak RSS MiB", "above baseline MiB")
    return "\n".join([
        f"### Memory flatness: {small[0].case.name}, 1x vs {large.case.scale}x rows",
        "",
        markdown_table(header, rows),
        "",
        *_flatness_lines(outcome.flatness(), large, small),
        "",
    ])  # fmt: skip


def _flatness_lines(flatness: Flatness, large: Result, small: list[Result]) -> list[str]:
    scale, limit, thirds_limit = large.case.scale, f"+{FLAT_LIMIT:.0%}", f"+{THIRDS_LIMIT:.0%}"
    sampled = [rss for at, rss in large.rss_samples if 0.0 <= at <= large.seconds]
    median = flatness.windows_median
    windows_level = flatness.windows_level_growth
    climb = {None: "not judged (too few samples)", True: "it climbs", False: "no climb"}
    return [
        f"- 1x runs ({len(small)}): peaks median {_mib(flatness.small_median)} MiB, range "
        f"{_mib(min(flatness.small_peaks))} to {_mib(flatness.small_max)} MiB; they took "
        f"{statistics.median(r.seconds for r in small):.2f} s (median).",
        f"- {scale}x run: peak {_mib(large.peak_rss)} MiB (VmHWM; the highest of its "
        f"{len(sampled):,} RSS samples {_mib(max(sampled, default=None))} MiB), cut into "
        f"{scale} windows of {large.seconds / scale:.2f} s (equal time, each about one 1x "
        "run's rows). Window peaks MiB: "
        + ", ".join(_mib(p) for p in flatness.window_peaks)
        + f"; median {_mib(median)}, max {_mib(max(flatness.sampled_windows, default=None))}.",
        "- Trend over the run: the highest sample of each third "
        + " / ".join(_mib(p) for p in flatness.third_peaks)
        + f" MiB, last vs first {_percent(flatness.thirds_growth)} (limit {thirds_limit}); "
        f"the window peaks' slope {_per_million_rows(flatness.slope)}, the fitted line "
        f"rising {_percent(flatness.fitted_rise)} of their median from the first window to "
        f"the last (limit {limit}): **{climb[flatness.grows]}**.",
        f"- Level: the {scale}x peak vs the 1x runs' highest {_percent(flatness.level_growth)}"
        f" (limit {limit}); the windows' median vs the 1x runs' median "
        f"{_percent(windows_level)} (limit {limit}).",
        f"- The old measure, for the history: the {scale}x peak vs the 1x runs' median "
        f"{_percent(flatness.old_growth)} (vs their lowest "
        f"{_percent(large.peak_rss / min(flatness.small_peaks) - 1)}).",
        "",
        f"Verdict: **{'flat' if flatness.flat else 'NOT flat'}**. Rule: no climb over the "
        f"{scale}x run (the last third's highest sample at most {thirds_limit} over the "
        f"first third's, the line fitted through the window peaks rising at most {limit}) "
        f"and its peak at most {limit} over the highest of the 1x runs' peaks, its windows' "
        f"median peak at most {limit} over the 1x runs' median. Why: a run's "
        f"peak is the highest of the swings its chunks make, so a {scale}x run's peak tops "
        "one 1x run's by chance alone. The trend compares the run with itself; the level compares "
        "highest with highest over as many rows when there are as many 1x runs as the scale "
        f"({len(small)} here), and typical with typical, so one high 1x run cannot loosen "
        "the limit alone. The trend's limits are the goal's 15% over the whole run "
        "(two thirds of it between the thirds' middles).",
    ]
