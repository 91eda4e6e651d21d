"""The daemon's resident memory over time during one jsonl+zstd export, at 1x and
several multiples of the rows: does memory grow with the rows (something unbounded) or
only wander (fragmentation, allocator caches)?

    .venv/bin/python -m benchmarks.rss_curve [--rows 200000] [--scales 1 3 10]
        [--dataset text-heavy|events] [--variant NAME=ENV=VALUE[;ENV=VALUE] ...] [--rounds 1]

Each run is a fresh daemon (benchmarks/_rss_probe_serve.py) whose probe thread samples,
every 0.2 s: VmRSS, anonymous resident memory (smaps_rollup), the bytes Arrow's memory
pool holds (pa.total_allocated_bytes) and Python's allocated blocks. A variant passes
environment variables to the daemon (e.g. `trim=BENCH_MALLOC_TRIM_SECONDS=1`,
`sys=BENCH_ARROW_POOL=system`, `arena16=MALLOC_ARENA_MAX=16`); `base` (no change) always
runs. Variants alternate within each round. Per run the table lists the peak (VmHWM),
RSS at each quarter of the export, the Arrow pool's and Python's peaks, and daemon CPU;
the curve (RSS per second, MiB) is printed below. Results go to results/rss_curve.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.export_bench import Case, MiB, Result, log, markdown_table, run_case
from benchmarks.peers_bench import RESULTS, source_file

LAUNCHER = "benchmarks._rss_probe_serve"


@dataclass(frozen=True)
class Run:
    variant: str
    round: int
    result: Result
    samples: list[dict[str, object]]

    def during_export(self) -> list[dict[str, object]]:
        """The samples from the first one where RSS rose above the idle baseline on."""
        above = self.result.baseline_rss * 1.1
        start = next((i for i, s in enumerate(self.samples) if _int(s, "VmRSS") > above), 0)
        return self.samples[start:]


def _int(sample: dict[str, object], key: str) -> int:
    value = sample.get(key, 0)
    return value if isinstance(value, int) else 0


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition("=")
    pairs = [pair.partition("=") for pair in assignments.split(";") if pair]
    if not name or not pairs or any(not key or not eq for key, eq, _ in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME=ENV=VALUE[;ENV=VALUE], not {text!r}")
    env = {key: value for key, _, value in pairs}
    return name, env


def run_variant(
    name: str, env: dict[str, str], rows: int, source: Path
) -> tuple[Result, list[dict[str, object]]]:
    case = Case(f"jsonl+zstd(3) {name}", "parquet", "jsonl", "zstd", 3)
    saved = {k: os.environ.get(k) for k in env}
    with tempfile.TemporaryDirectory(prefix="rss-curve-") as tmp:
        probe = Path(tmp) / "probe.jsonl"
        os.environ.update(env | {"BENCH_RSS_PROBE": str(probe)})
        try:
            result = run_case(case, rows, source, 0, LAUNCHER)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            os.environ.pop("BENCH_RSS_PROBE", None)
        samples = [json.loads(line) for line in probe.read_text().splitlines() if line]
    return result, samples


def quarters(run: Run) -> list[str]:
    during = run.during_export()
    if not during:
        return ["-"] * 4
    picks = [during[min(len(during) - 1, (len(during) * q) // 4)] for q in (1, 2, 3, 4)]
    return [f"{_int(s, 'VmRSS') / MiB:.0f}" for s in picks]


def curve(run: Run, points: int = 24) -> str:
    during = run.during_export()
    step = max(1, len(during) // points)
    return " ".join(f"{_int(s, 'VmRSS') / MiB:.0f}" for s in during[::step])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--dataset", choices=("events", "text-heavy"), default="text-heavy")
    parser.add_argument("--pii-share", type=float, default=0.5, help="text-heavy only")
    parser.add_argument("--variant", type=parse_variant, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "rss_curve.md")
    args = parser.parse_args(argv)
    variants: list[tuple[str, dict[str, str]]] = [("base", {}), *args.variant]
    runs: list[Run] = []
    for number in range(1, args.rounds + 1):
        for scale in args.scales:
            rows = args.rows * scale
            source = source_file(args, rows, "parquet")
            for name, env in variants:
                result, samples = run_variant(name, env, rows, source)
                runs.append(Run(name, number, result, samples))
                log(f"{name} {rows:,} rows: peak {result.peak_rss / MiB:.0f} MiB")
    header = ["variant", "round", "rows", "daemon CPU s", "peak RSS MiB",
              "RSS at 1/4 2/4 3/4 end", "peak anon MiB", "peak file MiB",
              "Arrow pool peak MiB", "Python blocks peak"]  # fmt: skip
    table = []
    for run in runs:
        during = run.during_export() or run.samples
        table.append((
            run.variant, str(run.round), f"{run.result.rows:,}",
            f"{run.result.daemon_cpu_seconds:.1f}",
            f"{run.result.peak_rss / MiB:.0f}", " / ".join(quarters(run)),
            f"{max(_int(s, 'Anonymous') for s in during) / MiB:.0f}",
            f"{max(_int(s, 'RssFile') for s in during) / MiB:.0f}",
            f"{max(_int(s, 'arrow_bytes') for s in during) / MiB:.0f}",
            f"{max(_int(s, 'py_blocks') for s in during):,}",
        ))  # fmt: skip
    backend = next((str(s.get("arrow_backend")) for r in runs for s in r.samples), "?")
    lines = [
        f"# Daemon RSS over one export — {args.dataset}, {args.rows:,} rows x "
        f"{', '.join(map(str, args.scales))}",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; Arrow pool backend: {backend}",
        "- variants: " + "; ".join(f"{n}: {e or 'defaults'}" for n, e in variants),
        "",
        markdown_table(header, table),
        "",
        "RSS curves (MiB, evenly spaced samples over the export):",
        "",
    ]
    lines += [f"- {r.variant} r{r.round} {r.result.rows:,}: {curve(r)}" for r in runs]
    report = "\n".join([*lines, ""])
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
