"""Sluice side by side with DuckDB, Polars, dlt and a seed-style pandas exporter.

    python -m benchmarks.peers_bench [--rows 1000000] [--scale 10] [--seed-rows 100000]
        [--dataset events|text-heavy] [--pii-share 0.5] [--memory-rounds SCALE]

One generated dataset, written once as Parquet, is the source of every case: the demo
events (default) or the text-heavy one (benchmarks.text_heavy_data: free text with
personal data, categorical text, lists and structs). Sluice runs
end to end through a fresh daemon per case over gRPC (benchmarks.export_bench); every
peer runs in a fresh process of its own (benchmarks.peers). Also measured: the daemon's
peak RSS at 1x (--memory-rounds runs) and SCALEx rows, sampled over the SCALEx run
(judged by benchmarks.rss_flatness), and an export's slowdown while WATCHERS other clients
hold WatchExport streams open. Writes benchmarks/results/peers.md and peers.png (for
the text-heavy dataset peers-text-heavy.md and peers-text-heavy.png);
benchmarks/README.md says how to read them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import polars as pl
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks import text_heavy_data
from benchmarks.export_bench import (
    DATA,
    REPO,
    SEED,
    Case,
    Result,
    RssSampler,
    dataset,
    log,
    run_case,
)
from benchmarks.peers_report import (
    CSV,
    JSONL,
    PARQUET,
    REDACTED,
    RESULTS,
    Missing,
    Outcome,
    Row,
    write_chart,
    write_report,
)
from sluice.format import bech32
from sluice.format.age import RECIPIENT_HRP


@dataclass(frozen=True)
class Peer:
    #: benchmarks.peers name.
    name: str
    tool: str
    group: str
    what: str
    #: Runs on the --seed-rows subset (too slow for the whole dataset); rates extrapolate.
    subset: bool = False
    #: Python package that must be importable, else the peer is reported as missing.
    needs: str = ""


PEERS = (
    Peer("duckdb-jsonl-zstd", "DuckDB", JSONL, "COPY … (FORMAT json, COMPRESSION zstd)"),
    Peer("duckdb-parquet", "DuckDB", PARQUET, "COPY … (FORMAT parquet, COMPRESSION zstd)"),
    Peer("duckdb-csv-gzip", "DuckDB", CSV, "COPY … (FORMAT csv, COMPRESSION gzip)"),
    Peer("polars-jsonl-zstd", "Polars", JSONL, "scan_parquet → sink_ndjson(zstd 3)"),
    Peer("polars-parquet", "Polars", PARQUET, "scan_parquet → sink_parquet(zstd 3)"),
    Peer("polars-csv-gzip", "Polars", CSV, "scan_parquet → sink_csv(gzip 6)"),
    Peer(
        "seed-jsonl-zstd", "seed-style", REDACTED,
        "pandas to_dict + json.dumps + re + sha256 + zstd", subset=True,
    ),
    Peer("dlt-jsonl-gzip", "dlt", JSONL, "filesystem destination, jsonl.gz", needs="dlt"),
)  # fmt: skip


def recipient() -> str:
    """A fresh X25519 age recipient; the private half is thrown away (nobody reads the
    benchmark's output)."""
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return bech32.encode(RECIPIENT_HRP, public)


def sluice_cases(to: str) -> dict[str, Case]:
    return {
        JSONL: Case("(a) jsonl+zstd", "parquet", "jsonl", "zstd", 3),
        REDACTED: Case(
            "(b) jsonl+zstd+age+moderate", "parquet", "jsonl", "zstd", 3,
            redaction="moderate", encrypt_to=(to,),
        ),
        PARQUET: Case("(c) parquet(zstd)", "parquet", "parquet", "zstd"),
        CSV: Case("(d) csv+gzip", "parquet", "csv", "gzip"),
    }  # fmt: skip


def sluice_row(group: str, result: Result) -> Row:
    return Row(
        "Sluice", group, result.case.name, result.rows, result.seconds,
        result.logical_bytes, result.stored_bytes, result.peak_rss,
    )  # fmt: skip


def head(source: Path, ndjson: Path, rows: int) -> tuple[Path, int]:
    """The first `rows` rows of the common source as Parquet (cached), and their NDJSON
    size, read off the NDJSON copy of the same rows."""
    path = DATA / f"{source.stem}.head{rows}.parquet"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        pl.scan_parquet(source).head(rows).sink_parquet(partial, compression="zstd")
        partial.rename(path)
    size = 0
    with ndjson.open("rb") as lines:
        for _, line in zip(range(rows), lines, strict=False):
            size += len(line)
    return path, size


def run_peer(peer: Peer, source: Path, logical_bytes: int, rows: int) -> Row:
    log(f"{peer.name}: {rows:,} rows from {source.name} ...")
    command = [sys.executable, "-m", "benchmarks.peers", peer.name, str(source)]
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as out:
        process = subprocess.Popen(
            [*command, out], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        with RssSampler(process.pid) as sampler:
            stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{peer.name} failed:\n{stderr.decode()[-4000:]}")
    measured = json.loads(stdout.decode().strip().splitlines()[-1])
    if measured["rows"] != rows:
        raise RuntimeError(f"{peer.name}: wrote {measured['rows']} of {rows} rows")
    row = Row(
        peer.tool, peer.group, peer.what, rows, measured["seconds"], logical_bytes,
        measured["stored_bytes"], max(measured["peak_rss"], sampler.peak), peer.subset,
    )  # fmt: skip
    log(f"{peer.name}: {row.seconds:.1f}s, peak RSS {row.peak_rss / 2**20:.0f} MiB")
    return row


DATASETS = ("events", "text-heavy")


def source_file(args: argparse.Namespace, rows: int, fmt: str) -> Path:
    """The cached copy of the chosen dataset, generated on first use."""
    if args.dataset == "events":
        return dataset(rows, fmt)
    path = DATA / f"text-heavy-{rows}-seed{SEED}-pii{args.pii_share:g}.{fmt}"
    if not path.exists():
        log(f"generating {path.name} ...")
        partial = path.with_name(path.name + ".partial")
        text_heavy_data.generate(partial, rows, seed=SEED, pii_share=args.pii_share, format=fmt)
        partial.rename(path)
    return path


def measure(args: argparse.Namespace) -> Outcome:
    source, ndjson = source_file(args, args.rows, "parquet"), source_file(args, args.rows, "ndjson")
    logical = ndjson.stat().st_size
    cases = sluice_cases(recipient())
    # `--rounds` alternating rounds of every Sluice case and every fast peer (DuckDB,
    # Polars); the slow ones (dlt, the seed-style exporter) run once. Each case's row in
    # the table is its median round (an actual run: an odd count is enforced), and every
    # round is listed under it.
    sluice_runs: dict[str, list[Result]] = {g: [] for g in cases}
    peer_runs: dict[str, list[Row]] = {}
    missing: list[Missing] = []
    peers = []
    for peer in PEERS:
        if peer.needs and importlib.util.find_spec(peer.needs) is None:
            missing.append(Missing(peer.tool, peer.what, f"`{peer.needs}` is not installed"))
        else:
            peers.append(peer)
            peer_runs[peer.name] = []
    for number in range(args.rounds):
        for group, case in cases.items():
            sluice_runs[group].append(run_case(case, args.rows, source, logical))
        ordered = peers if number % 2 == 0 else list(reversed(peers))
        for peer in ordered:
            if number > 0 and (peer.subset or peer.tool == "dlt"):
                continue
            if peer.subset:
                subset, subset_bytes = head(source, ndjson, args.seed_rows)
                peer_runs[peer.name].append(run_peer(peer, subset, subset_bytes, args.seed_rows))
            else:
                peer_runs[peer.name].append(run_peer(peer, source, logical, args.rows))
    sluice = {g: _median(runs, lambda r: r.seconds) for g, runs in sluice_runs.items()}
    rows = [sluice_row(g, r) for g, r in sluice.items()]
    rows += [_median(runs, lambda r: r.seconds) for runs in peer_runs.values()]
    rounds = {
        cases[g].name: [(r.seconds, r.peak_rss) for r in runs] for g, runs in sluice_runs.items()
    }
    rounds |= {
        f"{p.tool}: {p.what}": [(r.seconds, r.peak_rss) for r in peer_runs[p.name]] for p in peers
    }

    base = cases[JSONL]
    # The 1x peaks memory flatness is judged against: the rounds' (a) runs and more of
    # them up to --memory-rounds (a run's peak wanders ±8% by itself).
    small = list(sluice_runs[JSONL])
    for _ in range(args.memory_rounds - len(small)):
        small.append(run_case(base, args.rows, source, logical))
    big = Case(f"{base.name} x{args.scale}", "parquet", base.format, base.compression,
               base.level, scale=args.scale, keep_rss_samples=True)  # fmt: skip
    scaled = args.rows * args.scale
    # Same generator, same row distribution: the NDJSON size scales with the rows.
    large = run_case(big, scaled, source_file(args, scaled, "parquet"), logical * args.scale)

    quiet: list[Result] = []
    watched: list[Result] = []
    watched_case = Case(f"{base.name}, {args.watchers} watchers", "parquet", base.format,
                        base.compression, base.level, watchers=args.watchers,
                        attribute_threads=True)  # fmt: skip
    quiet_case = replace(base, attribute_threads=True)
    # Alternating, so drift (page cache, a neighbour's load) hits both sides alike.
    for _ in range(args.watch_rounds):
        quiet.append(run_case(quiet_case, args.rows, source, logical))
        watched.append(run_case(watched_case, args.rows, source, logical))
    return Outcome(rows, missing, sluice[JSONL], large, quiet, watched, rounds, small)


_T = TypeVar("_T")


def _median(runs: list[_T], key: Callable[[_T], float]) -> _T:
    """The median run itself (the middle of an odd count; the lower middle otherwise)."""
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument("--scale", type=int, default=10, help="rows*SCALE for memory flatness")
    parser.add_argument(
        "--seed-rows", type=int, default=100_000,
        help="rows the (slow) seed-style exporter runs on; its rates extrapolate",
    )  # fmt: skip
    parser.add_argument("--watchers", type=int, default=100, help="concurrent WatchExport streams")
    parser.add_argument(
        "--watch-rounds", type=int, default=3,
        help="alternating runs without and with watchers; the best of each is compared",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="alternating rounds of every Sluice case and fast peer (odd); the median is shown",
    )  # fmt: skip
    parser.add_argument(
        "--memory-rounds", type=int, default=None,
        help="1x runs of (a) whose peaks the SCALEx run is judged against, the --rounds' "
        "included, so never fewer than --rounds (default: SCALE, as many rows as the SCALEx "
        "run)",
    )  # fmt: skip
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="for peers.md, peers.png")
    parser.add_argument("--note", default="", help="a line for the report's machine notes")
    parser.add_argument(
        "--dataset", choices=DATASETS, default="events",
        help="the demo events, or text-heavy rows (free text, lists, structs)",
    )  # fmt: skip
    parser.add_argument(
        "--pii-share", type=float, default=0.5,
        help="text-heavy only: share of messages mentioning personal data",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.memory_rounds is None:
        args.memory_rounds = args.scale
    if args.rows < 1 or args.scale < 2 or args.watch_rounds < 1:
        parser.error("--rows must be positive, --scale at least 2, --watch-rounds at least 1")
    if args.rounds < 1 or args.rounds % 2 == 0:
        parser.error("--rounds must be odd (1, 3, 5 ...): the median is an actual run")
    if args.memory_rounds < 1:
        parser.error("--memory-rounds must be at least 1")
    if not 0 < args.seed_rows <= args.rows:
        parser.error("--seed-rows must be between 1 and --rows")
    if not 0.0 <= args.pii_share <= 1.0:
        parser.error("--pii-share must be within [0, 1]")
    args.report_name = "peers" if args.dataset == "events" else f"peers-{args.dataset}"

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    outcome = measure(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    chart = write_chart(outcome, args.out_dir / f"{args.report_name}.png")
    report = write_report(outcome, args, chart, time.perf_counter() - started, load_before)
    log(f"wrote {report} and {chart}")


if __name__ == "__main__":
    main()
