"""The critical path of Parquet exports, from per-stage timestamps in the daemon.

    .venv/bin/python -m benchmarks.stage_trace [--dataset events|text-heavy]
        [--rows 1000000] [--exports 4] [--env K=V ...]

One daemon (benchmarks._stage_trace_serve, which timestamps the stages) runs `--exports`
exports of case (c) one after the other. For each: when the first source batch and the
first row group came, each encoder worker's busy time and its idle gaps over 5 ms, and
the tail after the last row group (the writer done, the commit, the manifest, the end of
the run), in milliseconds from the run's start; then the medians of exports 2 onward.
The client's clock is the daemon's (both are CLOCK_MONOTONIC), so the time between the
client's call and the run's start is given too. On a busy machine read the gaps with
the load: a worker waiting for a core looks busy, a worker waiting for a batch idle.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.ceiling_bench import source_file
from benchmarks.export_bench import running_daemon
from sluice.client import ExportClient

Event = tuple[float, str, str]


def traced_exports(
    source: Path, exports: int, env: dict[str, str]
) -> list[tuple[float, list[Event]]]:
    """(client call time, the run's events) per export."""
    calls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stage-trace-") as tmp:
        trace = Path(tmp) / "trace.txt"
        settings = {**env, "BENCH_STAGE_TRACE": str(trace)}
        root = Path(tmp) / "daemon"
        root.mkdir()
        launcher = "benchmarks._stage_trace_serve"
        with running_daemon(root, source.parent, launcher, None, settings) as daemon:
            spec = ExportClient.build_spec(
                source=source, to=daemon.exports, dataset="events", format="parquet",
                compression="zstd",
            )  # fmt: skip
            for _ in range(exports):
                with ExportClient(daemon.address) as client:
                    calls.append(time.perf_counter())
                    client.wait(client.create(spec).id, timeout=600)
                time.sleep(0.3)  # the trace is written as the run ends
                for output in daemon.exports.iterdir():
                    shutil.rmtree(output)
        runs: list[list[Event]] = []
        for line in trace.read_text().splitlines():
            stamp, thread, what = line.split(None, 2)
            if what == "execute>":
                runs.append([])
            if runs:
                runs[-1].append((float(stamp), thread, what))
    return list(zip(calls, runs, strict=True))


def summary(call: float, run: list[Event]) -> dict[str, float]:
    start = run[0][0]
    opened: dict[tuple[str, str], float] = {}
    busy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for stamp, thread, what in run:
        if what.endswith(">"):
            opened[(thread, what[:-1])] = stamp
        elif what.endswith("<") and what[:-1] in ("row-group", "setup"):
            busy[thread].append((opened.pop((thread, what[:-1])), stamp))
    ends = [stamp for stamp, _, what in run if what == "row-group<"]
    last_group = max(ends)
    first_group = min(s for spans in busy.values() for s, _ in spans)
    idle = 0.0
    for spans in busy.values():
        spans.sort()
        idle += sum(b - a for (_, a), (b, _) in itertools.pairwise(spans) if b - a > 0.005)
    writer_done = max(stamp for stamp, _, what in run if what == "writer-finish<")
    first_batch = min(stamp for stamp, _, what in run if what.startswith("read-batch"))
    return {
        "call -> run start": start - call,
        "first batch": first_batch - start,
        "first row group": first_group - start,
        "workers' idle gaps": idle,
        "last row group end": last_group - start,
        "tail: writer done": writer_done - last_group,
        "tail: run end": run[-1][0] - last_group,
        "run": run[-1][0] - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="events")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--exports", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="K=V for the daemon")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print(f"load: {os.getloadavg()[0]:.2f}")
    source = source_file(args.dataset, args.rows)
    summaries = [summary(call, run) for call, run in traced_exports(source, args.exports, env)]
    for number, measured in enumerate(summaries, 1):
        print(
            f"export {number}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in measured.items())
        )
    later = summaries[1:] or summaries
    print("median of exports 2 on: " + ", ".join(
        f"{k} {statistics.median(m[k] for m in later) * 1000:.0f} ms" for k in later[0]
    ))  # fmt: skip
    print(f"load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
