"""Issue 21, case (c): where a warm daemon's CPU goes per Parquet export of a Parquet
file, beside Polars' own `scan_parquet -> sink_parquet(zstd 3)` of the same file.

    python -m benchmarks.parquet_daemon_cpu [--dataset events|text-heavy] [--rows 1000000]
        [--exports 4] [--perf DIR] [--launcher MODULE] [--env K=V ...]

One daemon (benchmarks.export_bench.running_daemon) runs `--exports` exports of case (c)
one after the other; each export's daemon CPU seconds (user+system, /proc), minor page
faults and CPU seconds per thread kind (postgres_daemon_cpu.ThreadSampler) are printed.
The first export pays first-use imports; the table gives the median of the later ones.
Then Polars' peer runs as many times in one process, its CPU by thread kind read from
/proc/self/task around each sink. With --perf DIR, `perf record` samples both (exports
2 onward, or all with --perf-first, and Polars' runs 2 onward) and a table per side
gives CPU seconds per run by thread kind and library (benchmarks/perf_profile.py).
`--launcher`/`--env` run the daemon through a wrapper or with extra environment (an A/B
of a setting).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import perf_profile
from benchmarks._proc import process_cpu_seconds
from benchmarks.ceiling_bench import source_file
from benchmarks.export_bench import REPO, running_daemon
from benchmarks.postgres_daemon_cpu import ThreadSampler, _minor_faults
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb

#: Polars' peer, several sinks in one process, CPU by thread kind printed as JSON lines.
_POLARS_RUNS = r"""
import json, os, re, sys, tempfile, time
from pathlib import Path
import polars as pl

def threads():
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").iterdir():
        stat = (task / "stat").read_text()
        name = re.sub(r"([-_ ]?\d+)$", "", stat[stat.index("(") + 1 : stat.rindex(")")])
        fields = stat.rsplit(")", 1)[1].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return out

source, runs = sys.argv[1], int(sys.argv[2])
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.readline()  # perf is attached (or not wanted)
for run in range(runs):
    with tempfile.TemporaryDirectory() as out:
        before, started, cpu = threads(), time.perf_counter(), time.process_time()
        pl.scan_parquet(source).sink_parquet(
            Path(out) / "x.parquet", compression="zstd", compression_level=3
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        kinds = {}
        for tid, (name, spent) in threads().items():
            kinds[name] = kinds.get(name, 0.0) + spent - before.get(tid, (name, 0.0))[1]
    print(json.dumps({"wall": wall, "cpu": cpu, "threads": kinds}), flush=True)
    sys.stdin.readline()
"""


def sluice_runs(
    source: Path, exports: int, perf: Path | None, launcher: str, env: dict[str, str],
    first_recorded: int = 1,
) -> None:  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="parquet-cpu-") as tmp,
        running_daemon(Path(tmp), source.parent, launcher, None, env) as daemon,
    ):
        pid = daemon.process.pid
        spec = ExportClient.build_spec(
            source=source, to=daemon.exports, dataset="events", format="parquet",
            compression="zstd",
        )  # fmt: skip
        recording = None
        kinds: dict[int, str] = {}
        totals: list[float] = []
        per_kind: dict[str, list[float]] = defaultdict(list)
        try:
            for run in range(exports):
                if perf is not None and run == first_recorded:
                    recording = perf_profile.record(pid, perf / "sluice.data")
                    time.sleep(1.0)
                before = process_cpu_seconds(pid) or 0.0
                faults = _minor_faults(pid)
                with ThreadSampler(pid) as sampler, ExportClient(daemon.address) as client:
                    started = time.perf_counter()
                    done = client.wait(client.create(spec).id, timeout=600)
                    seconds = time.perf_counter() - started
                    time.sleep(0.3)  # the last samples
                total = (process_cpu_seconds(pid) or 0.0) - before
                faults = _minor_faults(pid) - faults
                assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
                spent = sampler.by_kind()
                # What no kind holds: kinds under 5 ms, and what threads spent after
                # their last reading before they ended (ThreadSampler).
                unplaced = total - sum(spent.values())
                print(
                    f"sluice export {run + 1}: wall {seconds:.2f} s, CPU {total:.2f} s, "
                    f"{faults / 1000:.0f}k minor faults: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
                    + f"; not placed {unplaced:.2f}",
                    flush=True,
                )
                kinds.update({tid: sampler.kind(tid) for tid in sampler.last})
                if run:
                    totals.append(total)
                    for kind, value in spent.items():
                        per_kind[kind].append(value)
                for child in daemon.exports.iterdir():
                    subprocess.run(["rm", "-rf", str(child)], check=True)
        finally:
            if recording is not None:  # stopped also when an export fails
                perf_profile.stop(recording)
        _medians("sluice", totals, per_kind, exports - 1)
        if recording is not None and perf is not None:
            data = perf / "sluice.data"
            spent_by = perf_profile.cpu_by_library(data, lambda t: kinds.get(t, "?"))
            print("\nsluice perf: CPU s per export, by thread and library\n")
            print(perf_profile.table(spent_by, divide=exports - first_recorded))


def polars_runs(source: Path, runs: int, perf: Path | None) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _POLARS_RUNS, str(source), str(runs)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    pid = json.loads(process.stdout.readline())["pid"]
    recording = None
    process.stdin.write("\n")
    process.stdin.flush()
    totals: list[float] = []
    per_kind: dict[str, list[float]] = defaultdict(list)
    for run in range(runs):
        measured = json.loads(process.stdout.readline())
        threads = {k: v for k, v in measured["threads"].items() if v >= 0.005}
        print(
            f"polars run {run + 1}: wall {measured['wall']:.2f} s, CPU {measured['cpu']:.2f} s: "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(threads.items())),
            flush=True,
        )
        if run:
            totals.append(measured["cpu"])
            for kind, value in threads.items():
                per_kind[kind].append(value)
        if perf is not None and run == 0:
            recording = perf_profile.record(pid, perf / "polars.data")
            time.sleep(1.0)
        process.stdin.write("\n")
        process.stdin.flush()
    process.wait()
    _medians("polars", totals, per_kind, runs - 1)
    if recording is not None and perf is not None:
        perf_profile.stop(recording)
        spent_by = perf_profile.cpu_by_library(perf / "polars.data", lambda _tid: "polars")
        print("\npolars perf: CPU s per run, by library\n")
        print(perf_profile.table(spent_by, divide=runs - 1))


def _medians(side: str, totals: list[float], per_kind: dict[str, list[float]], n: int) -> None:
    if not totals:
        return
    # A kind missing from a run spent nothing in it.
    padded = {k: v + [0.0] * (n - len(v)) for k, v in sorted(per_kind.items())}
    cells = ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in padded.items())
    print(f"{side} median of runs 2-{n + 1}: CPU {statistics.median(totals):.2f} s: {cells}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="events")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--exports", type=int, default=4)
    parser.add_argument("--perf", type=Path, default=None)
    parser.add_argument("--launcher", default="sluice.client.cli.main")
    parser.add_argument("--env", action="append", default=[], help="K=V for the daemon")
    parser.add_argument("--no-polars", action="store_true")
    parser.add_argument(
        "--perf-first", action="store_true", help="perf records the first export too"
    )
    args = parser.parse_args()
    if args.perf is not None:
        args.perf.mkdir(parents=True, exist_ok=True)
    source = source_file(args.dataset, args.rows)
    env = dict(item.split("=", 1) for item in args.env)
    sluice_runs(source, args.exports, args.perf, args.launcher, env, 0 if args.perf_first else 1)
    if not args.no_polars:
        polars_runs(source, args.exports, args.perf)


if __name__ == "__main__":
    main()
